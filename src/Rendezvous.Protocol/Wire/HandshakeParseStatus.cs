namespace Rendezvous.Protocol.Wire;

/// <summary>What <see cref="HandshakeParser.TryParse"/> found in the bytes read so far.</summary>
public enum HandshakeParseStatus
{
    /// <summary>More bytes are needed.</summary>
    Incomplete,

    /// <summary>A whole, valid line was parsed.</summary>
    Complete,

    /// <summary>The line is longer than <see cref="HandshakeParser.MaxLineLength"/> bytes.</summary>
    LineTooLong,

    /// <summary>The first byte is not a mode letter, or the cookie holds a non-printable byte.</summary>
    InvalidCookie,
}
