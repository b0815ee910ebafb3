using System.Text;

namespace Rendezvous.Client.Internal;

/// <summary>
/// Shows, in a message, the first bytes a peer answered that are not what the protocol expects (a relay's
/// <c>-ERR</c> line on the registrar's URL, a TLS alert or another service's banner on the relay's port).
/// </summary>
internal static class AnswerText
{
    /// <summary>The most characters of an answer shown.</summary>
    private const int MaxShown = 40;

    /// <summary>Whether <paramref name="answer"/> starts like a TLS record (handshake or alert, version 3.x).</summary>
    public static bool IsTls(ReadOnlySpan<byte> answer) => answer.Length >= 2 && answer[0] is 0x15 or 0x16 && answer[1] == 0x03;

    /// <summary>Whether <paramref name="answer"/> is the start of a relay's reply line (<c>+OK</c> or <c>-ERR ...</c>).</summary>
    public static bool IsRelayReply(ReadOnlySpan<byte> answer) => answer.StartsWith("-ERR"u8) || answer.StartsWith("+OK"u8);

    /// <summary>The first line of <paramref name="answer"/>, quoted, with bytes outside printable ASCII as <c>\xNN</c>, cut at <see cref="MaxShown"/> characters.</summary>
    public static string Quote(ReadOnlySpan<byte> answer)
    {
        var text = new StringBuilder("'");
        var shown = 0;
        foreach (var b in answer)
        {
            if (b is (byte)'\n' or (byte)'\r' || shown >= MaxShown)
            {
                break;
            }

            if (b is >= 0x20 and < 0x7F)
            {
                text.Append((char)b);
            }
            else
            {
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{b:X2}");
            }

            shown++;
        }

        return text.Append(shown >= MaxShown ? "...'" : "'").ToString();
    }
}
