namespace Rendezvous.Server.Certificates;

/// <summary>
/// <see cref="RegistrarCertificates.CreatePemFiles"/> was asked not to overwrite, and a file (or directory) is at one
/// of the paths; nothing was written.
/// </summary>
public sealed class CertificateFileExistsException : IOException
{
    /// <summary>Creates the exception for the path that exists.</summary>
    /// <param name="path">The full path that exists.</param>
    public CertificateFileExistsException(string path)
        : base($"'{path}' already exists; pass overwrite to replace it.") => Path = path;

    /// <summary>The full path that exists.</summary>
    public string Path { get; }
}
