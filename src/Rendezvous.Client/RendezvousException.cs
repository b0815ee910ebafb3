namespace Rendezvous.Client;

/// <summary>What went wrong, for callers that decide whether and when to retry.</summary>
public enum RendezvousError
{
    /// <summary>The UUID has no current registration, or the cookie is no longer current. Retry later (the hidden server may come back).</summary>
    NotRegistered,

    /// <summary>The hidden server is registered but had no connection parked in time. Retry soon.</summary>
    NotReady,

    /// <summary>The registrar refused the registration (unknown UUID, wrong or replayed code).</summary>
    InvalidRequest,

    /// <summary>Too many failed attempts; wait <see cref="RendezvousException.RetryAfter"/>.</summary>
    Throttled,

    /// <summary>The registrar said retrying cannot help (<c>permanent: true</c>).</summary>
    Permanent,

    /// <summary>The relay refused the connection for another reason (<c>-ERR ...</c>).</summary>
    Refused,

    /// <summary>No answer in time.</summary>
    Timeout,

    /// <summary>
    /// The registrar's or hidden server's certificate is not the pinned one (<see cref="CertificatePinMismatchException"/>),
    /// or, with no pin, the system trust store does not trust it (<see cref="CertificateNotTrustedException"/>).
    /// </summary>
    CertificateMismatch,

    /// <summary>The network failed: connection refused or reset, DNS, or an answer that is not the protocol's.</summary>
    Transport,

    /// <summary>Another hidden server registered the same UUID, and this one stepped back.</summary>
    Superseded,

    /// <summary>The session was rejected by authentication after <c>+OK</c>.</summary>
    AuthenticationFailed,

    /// <summary>
    /// The registrar answered 5xx with an error that is not permanent (e.g. 503 "service unavailable, retry later", when
    /// a cluster's shared store cannot be reached): the request was not decided. Retry, at another registrar when
    /// several are configured, after <see cref="RendezvousException.RetryAfter"/> when given.
    /// </summary>
    Unavailable,
}

/// <summary>A failure to register, look up or rendezvous, with what went wrong and whether to retry.</summary>
public class RendezvousException : Exception
{
    /// <summary>Creates an exception.</summary>
    public RendezvousException()
        : this(RendezvousError.Transport, "The rendezvous failed.")
    {
    }

    /// <summary>Creates an exception.</summary>
    /// <param name="message">The message.</param>
    public RendezvousException(string message)
        : this(RendezvousError.Transport, message)
    {
    }

    /// <summary>Creates an exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public RendezvousException(string message, Exception innerException)
        : this(RendezvousError.Transport, message, innerException)
    {
    }

    /// <summary>Creates an exception.</summary>
    /// <param name="error">What went wrong.</param>
    /// <param name="message">A one-line message for people.</param>
    /// <param name="innerException">The cause, if any.</param>
    /// <param name="permanent">Whether retrying cannot help.</param>
    /// <param name="retryAfter">How long to wait before retrying, when the server said.</param>
    public RendezvousException(RendezvousError error, string message, Exception? innerException = null, bool permanent = false, TimeSpan? retryAfter = null)
        : base(message, innerException)
    {
        Error = error;
        Permanent = permanent || error is RendezvousError.Permanent or RendezvousError.CertificateMismatch or RendezvousError.Superseded;
        RetryAfter = retryAfter;
    }

    /// <summary>What went wrong.</summary>
    public RendezvousError Error { get; }

    /// <summary>Whether retrying cannot help; agents do not retry these.</summary>
    public bool Permanent { get; }

    /// <summary>How long the server asked to wait before retrying, when it did.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>
    /// The registrar's clock when it answered (its HTTP <c>Date</c> header, to the second), when this is
    /// the registrar's answer and it sent the header; <see langword="null"/> otherwise. Compared with the
    /// local clock it shows a skew that makes TOTP codes fail.
    /// </summary>
    public DateTimeOffset? RegistrarDate { get; init; }
}

/// <summary>A certificate was presented that is not the pinned one.</summary>
public sealed class CertificatePinMismatchException : RendezvousException
{
    /// <summary>Creates an exception naming both fingerprints.</summary>
    /// <param name="what">Whose certificate: "registrar" or "hidden server".</param>
    /// <param name="expected">The pinned fingerprint.</param>
    /// <param name="presented">The fingerprint of the certificate presented.</param>
    /// <param name="innerException">The TLS failure.</param>
    public CertificatePinMismatchException(string what, string expected, string presented, Exception? innerException = null)
        : base(RendezvousError.CertificateMismatch, $"The {what} presented a certificate with SHA-256 fingerprint {presented}, but {expected} is pinned.", innerException, permanent: true)
    {
        Expected = expected;
        Presented = presented;
    }

    /// <summary>The pinned fingerprint.</summary>
    public string Expected { get; }

    /// <summary>The fingerprint of the certificate that was presented.</summary>
    public string Presented { get; }
}

/// <summary>
/// No pin was configured, and the system trust store does not trust the certificate presented: it is
/// self-signed (as <c>rendezvous serve</c> generates), issued by a CA this machine does not know, or issued
/// for another name. The fix, when it is the right certificate, is to pin it by <see cref="Presented"/> or by
/// a PEM file with it or its CA.
/// </summary>
public sealed class CertificateNotTrustedException : RendezvousException
{
    /// <summary>Creates an exception naming the certificate's fingerprint and why it is not trusted.</summary>
    /// <param name="what">Whose certificate, e.g. "registrar at https://rendezvous.example.com:8898/".</param>
    /// <param name="presented">The SHA-256 fingerprint of the certificate presented.</param>
    /// <param name="reason">Why the system does not trust it, e.g. "it is self-signed or its issuer is not a trusted CA".</param>
    /// <param name="innerException">The TLS failure.</param>
    public CertificateNotTrustedException(string what, string presented, string reason, Exception? innerException = null)
        : base(RendezvousError.CertificateMismatch, $"The {what} presented a certificate that the system trust store does not trust ({reason}); its SHA-256 fingerprint is {presented}.", innerException, permanent: true)
    {
        Presented = presented;
    }

    /// <summary>The SHA-256 fingerprint of the certificate that was presented, to pin if it is the right one.</summary>
    public string Presented { get; }
}
