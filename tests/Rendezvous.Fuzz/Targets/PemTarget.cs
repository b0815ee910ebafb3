using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Fuzz.Targets;

/// <summary>
/// The PEM loader of <c>serve --cert/--key</c>, <see cref="RegistrarCertificates.LoadPemWithChain"/>: the input up to
/// its first NUL byte is the certificate file and the rest the key file; without a NUL both files are the input
/// (one file holding the certificate and its key). The documented outcomes are a loaded certificate with its
/// private key, or <see cref="InvalidDataException"/> naming the file; nothing else.
/// </summary>
internal sealed class PemTarget : FuzzTarget
{
    private readonly TemporaryDirectory _folder = new();
    private readonly string _certificatePath;
    private readonly string _keyPath;

    public PemTarget()
    {
        _certificatePath = _folder.Combine("cert.pem");
        _keyPath = _folder.Combine("key.pem");
    }

    public override string Name => "pem";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Rendezvous.Security.dll"];

    public override void Run(ReadOnlySpan<byte> input)
    {
        int split = input.IndexOf((byte)0);
        File.WriteAllBytes(_certificatePath, (split < 0 ? input : input[..split]).ToArray());
        File.WriteAllBytes(_keyPath, (split < 0 ? input : input[(split + 1)..]).ToArray());

        System.Net.Security.SslStreamCertificateContext context;
        try
        {
            context = RegistrarCertificates.LoadPemWithChain(_certificatePath, _keyPath);
        }
        catch (InvalidDataException ex)
        {
            if (!ex.Message.Contains(_certificatePath, StringComparison.Ordinal) && !ex.Message.Contains(_keyPath, StringComparison.Ordinal))
            {
                throw new FuzzContractException($"the error names neither file: {ex.Message}", ex);
            }

            return;
        }

        using X509Certificate2 certificate = context.TargetCertificate;
        if (!certificate.HasPrivateKey)
        {
            throw new FuzzContractException("the loaded certificate has no private key.");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _folder.Dispose();
        }
    }
}
