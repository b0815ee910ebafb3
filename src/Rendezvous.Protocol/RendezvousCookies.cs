using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Rendezvous.Protocol;

/// <summary>
/// How the two cookie values of one registration relate. A registration hands the hidden server the
/// <c>R</c> (responder) value, drawn at random; a lookup hands anyone the <c>I</c> (initiator) value, which
/// is derived from the <c>R</c> value by <see cref="InitiatorValueFor"/>, a public one-way function. Knowing
/// the <c>I</c> value (knowing the UUID is enough to look it up) therefore does not give the <c>R</c> value:
/// only the registrant can park connections for the UUID. Anyone holding the <c>R</c> value can compute the
/// <c>I</c> value, which lets a hidden server recognise its own registration in a lookup.
/// </summary>
/// <remarks>
/// The original node-rendezvous gives both modes the same value; clients treat cookies as opaque strings and
/// send back what they were given, so the difference does not change the wire protocol.
/// </remarks>
public static class RendezvousCookies
{
    /// <summary>The length of an <c>I</c> value: 32 base64url characters, 192 bits of the hash.</summary>
    public const int InitiatorValueLength = 32;

    /// <summary>The length of an <c>R</c> value drawn by <see cref="NewResponderValue"/>: 32 base64url characters, 192 random bits.</summary>
    public const int ResponderValueLength = 32;

    private const string Domain = "rendezvous-initiator-cookie:";

    /// <summary>Draws a fresh <c>R</c> value: 192 bits from the operating system's cryptographic random source, base64url without padding.</summary>
    /// <returns>The <c>R</c> value, without its mode letter: printable ASCII (<c>A–Z a–z 0–9 - _</c>).</returns>
    public static string NewResponderValue()
    {
        Span<byte> random = stackalloc byte[ResponderValueLength / 4 * 3];
        RandomNumberGenerator.Fill(random);
        return Base64Url.EncodeToString(random);
    }

    /// <summary>
    /// The <c>I</c> value that goes with the <c>R</c> value <paramref name="responderValue"/>: the first
    /// <see cref="InitiatorValueLength"/> characters of base64url without padding (RFC 4648 §5) of
    /// SHA-256 over the UTF-8 bytes of <c>"rendezvous-initiator-cookie:"</c> followed by <paramref name="responderValue"/>.
    /// </summary>
    /// <param name="responderValue">The <c>R</c> value, without its mode letter.</param>
    /// <returns>The <c>I</c> value, without its mode letter: printable ASCII (<c>A–Z a–z 0–9 - _</c>).</returns>
    public static string InitiatorValueFor(string responderValue)
    {
        ArgumentNullException.ThrowIfNull(responderValue);
        var input = Encoding.UTF8.GetBytes(Domain + responderValue);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, hash);
        return Base64Url.EncodeToString(hash)[..InitiatorValueLength];
    }
}
