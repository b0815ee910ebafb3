using System.Buffers;
using System.Text;

namespace Rendezvous.Protocol.Wire;

/// <summary>
/// Parses the one line a rendezvous connection starts with: <c>R&lt;cookie&gt;\n</c> or <c>I&lt;cookie&gt;\n</c>.
/// A <c>\r</c> right before the <c>\n</c> is tolerated. Bad input is reported as soon as it is seen,
/// without waiting for the end of the line.
/// </summary>
public static class HandshakeParser
{
    /// <summary>The longest accepted line, mode letter and cookie, not counting the line end. 256 bytes.</summary>
    public const int MaxLineLength = 256;

    /// <summary>Parses a line from the front of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">The bytes received so far.</param>
    /// <param name="line">The line, when the result is <see cref="HandshakeParseStatus.Complete"/>.</param>
    /// <param name="consumed">The end of the line (after <c>\n</c>) when complete; otherwise the start of the buffer.</param>
    /// <param name="examined">How far the buffer was looked at; the caller passes it to <c>PipeReader.AdvanceTo</c>.</param>
    /// <returns>Whether a line was found, more bytes are needed, or the input is bad.</returns>
    public static HandshakeParseStatus TryParse(
        in ReadOnlySequence<byte> buffer,
        out HandshakeLine line,
        out SequencePosition consumed,
        out SequencePosition examined)
    {
        line = default;
        consumed = buffer.Start;
        examined = buffer.End;

        if (buffer.IsEmpty)
        {
            return HandshakeParseStatus.Incomplete;
        }

        var reader = new SequenceReader<byte>(buffer);
        reader.TryRead(out var mode);
        if (mode != (byte)HandshakeMode.Responder && mode != (byte)HandshakeMode.Initiator)
        {
            return HandshakeParseStatus.InvalidCookie;
        }

        // Longest acceptable prefix before the '\n': the line plus an optional '\r'.
        var limit = MaxLineLength + 1;
        if (!reader.TryAdvanceTo((byte)'\n', advancePastDelimiter: false))
        {
            // No line end yet: everything seen must still be a valid cookie prefix.
            var pending = buffer.Slice(1);
            var status = CheckCookie(pending, allowTrailingCarriageReturn: true);
            if (status != HandshakeParseStatus.Complete)
            {
                return status;
            }

            return buffer.Length > limit ? HandshakeParseStatus.LineTooLong : HandshakeParseStatus.Incomplete;
        }

        var cookieBytes = buffer.Slice(1, reader.Position);
        if (!cookieBytes.IsEmpty && EndsWithCarriageReturn(cookieBytes))
        {
            cookieBytes = cookieBytes.Slice(0, cookieBytes.Length - 1);
        }

        var validity = CheckCookie(cookieBytes, allowTrailingCarriageReturn: false);
        if (validity != HandshakeParseStatus.Complete)
        {
            return validity;
        }

        if (cookieBytes.Length + 1 > MaxLineLength)
        {
            return HandshakeParseStatus.LineTooLong;
        }

        line = new HandshakeLine((HandshakeMode)mode, Encoding.ASCII.GetString(cookieBytes));
        consumed = buffer.GetPosition(1, reader.Position);
        examined = consumed;
        return HandshakeParseStatus.Complete;
    }

    private static bool EndsWithCarriageReturn(in ReadOnlySequence<byte> bytes)
    {
        var last = bytes.Slice(bytes.Length - 1);
        return last.FirstSpan[0] == (byte)'\r';
    }

    private static HandshakeParseStatus CheckCookie(in ReadOnlySequence<byte> cookie, bool allowTrailingCarriageReturn)
    {
        var remaining = cookie.Length;
        foreach (var segment in cookie)
        {
            var span = segment.Span;
            for (var i = 0; i < span.Length; i++)
            {
                remaining--;
                var b = span[i];
                if (b is >= 0x21 and <= 0x7E)
                {
                    continue;
                }

                if (b == (byte)'\r' && allowTrailingCarriageReturn && remaining == 0)
                {
                    continue;
                }

                return HandshakeParseStatus.InvalidCookie;
            }
        }

        return HandshakeParseStatus.Complete;
    }
}
