namespace Rendezvous.Security;

/// <summary>Thrown when a secret is added for a UUID that already has one.</summary>
public sealed class DuplicateSecretException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="uuid"/>.</summary>
    /// <param name="uuid">The UUID that already has a secret.</param>
    public DuplicateSecretException(string uuid)
        : base($"A secret for UUID {uuid} already exists; remove it first to replace it.")
    {
        Uuid = uuid;
    }

    /// <summary>Creates the exception with a message.</summary>
    public DuplicateSecretException()
        : base("A secret for this UUID already exists.")
    {
        Uuid = string.Empty;
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DuplicateSecretException(string message, Exception? innerException)
        : base(message, innerException)
    {
        Uuid = string.Empty;
    }

    /// <summary>The UUID that already has a secret (empty when not known).</summary>
    public string Uuid { get; }
}
