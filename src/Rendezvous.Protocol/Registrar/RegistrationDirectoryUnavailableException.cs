namespace Rendezvous.Protocol.Registrar;

/// <summary>
/// The shared registration directory (or the store behind a policy) cannot be reached just now. The registrar answers
/// 503 with a <c>Retry-After</c> header and a <c>permanent: false</c> error body instead of a stack trace; connections
/// already parked and sessions already spliced on this node go on.
/// </summary>
public sealed class RegistrationDirectoryUnavailableException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public RegistrationDirectoryUnavailableException()
        : base("The registration directory is unavailable.")
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    public RegistrationDirectoryUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The failure underneath.</param>
    public RegistrationDirectoryUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
