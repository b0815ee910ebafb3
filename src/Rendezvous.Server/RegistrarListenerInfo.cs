namespace Rendezvous.Server;

/// <summary>What the built-in registrar listener is bound to, filled in when it starts.</summary>
public sealed class RegistrarListenerInfo
{
    /// <summary>The bound URL (with the real port when port 0 was configured), or <see langword="null"/> while not listening.</summary>
    public Uri? Url { get; internal set; }

    /// <summary>The SHA-256 fingerprint of the registrar's certificate (<c>AB:CD:...</c>), for clients to pin; <see langword="null"/> over plain HTTP.</summary>
    public string? CertificateFingerprint { get; internal set; }

    /// <summary>The path of the registrar's certificate PEM file, when it came from a file.</summary>
    public string? CertificatePath { get; internal set; }
}
