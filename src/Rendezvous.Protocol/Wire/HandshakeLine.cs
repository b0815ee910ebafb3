namespace Rendezvous.Protocol.Wire;

/// <summary>The mode letter that starts a rendezvous line.</summary>
public enum HandshakeMode : byte
{
    /// <summary><c>R</c>: a hidden server parks this connection and waits to be paired.</summary>
    Responder = (byte)'R',

    /// <summary><c>I</c>: a mobile client asks to be paired with a parked connection.</summary>
    Initiator = (byte)'I',
}

/// <summary>A parsed first line: the mode and the cookie (without the mode letter and line end).</summary>
/// <param name="Mode">Responder or initiator.</param>
/// <param name="Cookie">The cookie as sent; may be empty (then it is simply not registered).</param>
public readonly record struct HandshakeLine(HandshakeMode Mode, string Cookie);
