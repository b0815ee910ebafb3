using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Protocol.Tls;

namespace Rendezvous.Client.Registrar;

/// <summary>
/// How a client decides to trust the registrar's certificate (security model point 1): a pinned
/// SHA-256 fingerprint, a pinned certificate or CA from a PEM file, the system's trust store, or a
/// combination — any one that accepts is enough.
/// </summary>
public sealed class RegistrarTrust
{
    /// <summary>
    /// The SHA-256 fingerprint to pin (<c>AB:CD:…</c> or 64 hex digits), as <c>rendezvous serve</c> logs it.
    /// A certificate with this fingerprint is trusted whatever its chain or name. Defaults to none.
    /// </summary>
    public string? PinnedFingerprint { get; set; }

    /// <summary>
    /// A PEM file with the registrar's own certificate or the CA that issued it. The registrar's
    /// certificate is trusted when it is that certificate, or chains to it. Defaults to none.
    /// </summary>
    public string? CertificateAuthorityPath { get; set; }

    /// <summary>
    /// Whether the system's trust store also counts. Defaults to <see langword="null"/>: used only when
    /// neither a fingerprint nor a file is given.
    /// </summary>
    public bool? TrustSystemStore { get; set; }

    /// <summary>Whether a pin (fingerprint or file) is configured.</summary>
    public bool HasPin => !string.IsNullOrWhiteSpace(PinnedFingerprint) || !string.IsNullOrWhiteSpace(CertificateAuthorityPath);

    /// <summary>Checks the settings; the message names the bad value.</summary>
    /// <exception cref="ArgumentException">The fingerprint is malformed or the file does not exist.</exception>
    public void Validate()
    {
        if (!string.IsNullOrWhiteSpace(PinnedFingerprint))
        {
            CertificateFingerprint.Normalize(PinnedFingerprint);
        }

        if (!string.IsNullOrWhiteSpace(CertificateAuthorityPath) && !File.Exists(CertificateAuthorityPath))
        {
            throw new ArgumentException($"The registrar certificate file '{CertificateAuthorityPath}' does not exist; give a PEM file with the registrar's certificate or its CA.");
        }
    }

    /// <summary>Builds a validator that records the fingerprint it was shown, for error messages.</summary>
    internal CertificateValidator CreateValidator() => new(this);

    /// <summary>A refused certificate: its SHA-256 fingerprint and the system's verdict on its chain and name.</summary>
    internal sealed record Refusal(string Fingerprint, SslPolicyErrors Errors);

    /// <summary>A certificate validation callback bound to a <see cref="RegistrarTrust"/>.</summary>
    internal sealed class CertificateValidator
    {
        private readonly string? _pin;
        private readonly X509Certificate2Collection? _anchors;
        private readonly bool _system;
        private Refusal? _lastRefusal;
        private int _refusals;

        public CertificateValidator(RegistrarTrust trust)
        {
            trust.Validate();
            _pin = string.IsNullOrWhiteSpace(trust.PinnedFingerprint) ? null : CertificateFingerprint.Normalize(trust.PinnedFingerprint);
            if (!string.IsNullOrWhiteSpace(trust.CertificateAuthorityPath))
            {
                _anchors = [];
                _anchors.ImportFromPemFile(trust.CertificateAuthorityPath);
                if (_anchors.Count == 0)
                {
                    throw new ArgumentException($"The registrar certificate file '{trust.CertificateAuthorityPath}' holds no PEM certificate.");
                }
            }

            _system = trust.TrustSystemStore ?? !trust.HasPin;
            SystemStoreOnly = _system && !trust.HasPin;
        }

        /// <summary>Whether only the system trust store decides (no fingerprint, no file): a refusal is then "not trusted", not "not the pinned one".</summary>
        public bool SystemStoreOnly { get; }

        /// <summary>The pinned fingerprint, or a description of the pinned file, for messages.</summary>
        public string Expected => _pin ?? (_anchors is { Count: > 0 } ? string.Join(" or ", _anchors.Select(CertificateFingerprint.Compute)) : "the system trust store");

        /// <summary>The last certificate refused, if any: its fingerprint and what the system found wrong with it.</summary>
        public Refusal? LastRefused => Volatile.Read(ref _lastRefusal);

        /// <summary>How many certificates were refused so far; a request compares it before and after to know whether its own handshake refused one.</summary>
        public int Refusals => Volatile.Read(ref _refusals);

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (certificate is null)
            {
                return false;
            }

            if (_system && errors == SslPolicyErrors.None)
            {
                return true;
            }

            var presented = CertificateFingerprint.Compute(certificate);
            if (_pin is not null && string.Equals(presented, _pin, StringComparison.Ordinal))
            {
                return true;
            }

            if (_anchors is not null && ChainsToAnchors(certificate, chain, errors))
            {
                return true;
            }

            Volatile.Write(ref _lastRefusal, new Refusal(presented, errors));
            Interlocked.Increment(ref _refusals);
            return false;
        }

        private bool ChainsToAnchors(X509Certificate certificate, X509Chain? sent, SslPolicyErrors errors)
        {
            using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            foreach (var anchor in _anchors!)
            {
                if (anchor.RawDataMemory.Span.SequenceEqual(presented.RawDataMemory.Span))
                {
                    // The very certificate was pinned by file: trusted whatever its name.
                    return true;
                }
            }

            if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.CustomTrustStore.AddRange(_anchors);

            // The intermediates the registrar sent after its certificate (a fullchain.pem): without them a
            // certificate issued by an intermediate of the pinned CA would not chain to it.
            if (sent is not null)
            {
                chain.ChainPolicy.ExtraStore.AddRange(sent.ChainPolicy.ExtraStore);
            }

            return chain.Build(presented);
        }
    }
}
