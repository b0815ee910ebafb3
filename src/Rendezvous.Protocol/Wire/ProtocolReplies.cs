namespace Rendezvous.Protocol.Wire;

/// <summary>Why a rendezvous connection was refused; each maps to one <c>-ERR</c> line.</summary>
public enum HandshakeError
{
    /// <summary><c>-ERR not registered</c>: unknown or superseded cookie.</summary>
    NotRegistered,

    /// <summary><c>-ERR not ready</c>: no responder parked within the grace time.</summary>
    NotReady,

    /// <summary><c>-ERR invalid cookie</c>: bad mode letter or non-printable cookie bytes.</summary>
    InvalidCookie,

    /// <summary><c>-ERR line too long</c>: the first line exceeded 256 bytes.</summary>
    LineTooLong,

    /// <summary><c>-ERR timeout</c>: the first line did not arrive in time.</summary>
    Timeout,

    /// <summary>
    /// <c>-ERR too many sessions</c>: the initiator's address already has as many sessions (paired or waiting) for the
    /// UUID as <see cref="RendezvousRelayOptions.MaxSessionsPerAddressPerUuid"/> allows. Ours; the original has no cap.
    /// </summary>
    TooManySessions,
}

/// <summary>The exact bytes the rendezvous server writes.</summary>
public static class ProtocolReplies
{
    /// <summary><c>+OK\n</c>, written to both sides when they are paired.</summary>
    public static ReadOnlySpan<byte> Ok => "+OK\n"u8;

    /// <summary>The <c>-ERR ...\n</c> line for <paramref name="error"/>.</summary>
    /// <param name="error">The reason.</param>
    /// <returns>The line, ending with <c>\n</c>.</returns>
    public static ReadOnlySpan<byte> Error(HandshakeError error) => error switch
    {
        HandshakeError.NotRegistered => "-ERR not registered\n"u8,
        HandshakeError.NotReady => "-ERR not ready\n"u8,
        HandshakeError.InvalidCookie => "-ERR invalid cookie\n"u8,
        HandshakeError.LineTooLong => "-ERR line too long\n"u8,
        HandshakeError.Timeout => "-ERR timeout\n"u8,
        HandshakeError.TooManySessions => "-ERR too many sessions\n"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "Unknown handshake error."),
    };
}
