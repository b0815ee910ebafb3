using Rendezvous.Protocol.Registrar;

namespace Rendezvous.Client;

/// <summary>What the registrar answers: where to connect and the line to send there.</summary>
/// <param name="Host">The rendezvous relay's host name or address.</param>
/// <param name="Port">The relay's TCP port.</param>
/// <param name="Cookie">The cookie with its mode letter: <c>R...</c> for a hidden server, <c>I...</c> for a mobile client.</param>
public sealed record RendezvousTriple(string Host, int Port, string Cookie)
{
    /// <summary>The most alternates a triple keeps from an answer; further ones are ignored.</summary>
    public const int MaxAlternates = 8;

    /// <summary>The largest pool advice a triple keeps from an answer; a larger one is ignored.</summary>
    public const int MaxPoolAdvice = 64;

    /// <summary>The cookie without its mode letter.</summary>
    public string CookieValue => Cookie.Length > 0 ? Cookie[1..] : string.Empty;

    /// <summary>
    /// Other relays where the same cookie is current, best first, from the answer's extra <c>alternates</c> field (a
    /// cluster's); empty when the registrar sent none, such as the original node-rendezvous or a single node. At most
    /// <see cref="MaxAlternates"/>; malformed entries are left out.
    /// </summary>
    public IReadOnlyList<RelayAddress> Alternates { get; init; } = Array.Empty<RelayAddress>();

    /// <summary>
    /// How many connections the registrar advises the hidden server to keep parked, from a registration answer's extra
    /// <c>pool</c> field: 1 to <see cref="MaxPoolAdvice"/>; <see langword="null"/> when it gave none (or a malformed one).
    /// </summary>
    public int? PoolAdvice { get; init; }

    /// <summary>The owner's relay followed by the alternates: every relay where this triple's cookie may be sent.</summary>
    /// <returns>The relays, the owner first.</returns>
    public IReadOnlyList<RelayAddress> Relays() => [new RelayAddress(Host, Port), .. Alternates];

    /// <summary>Whether <paramref name="other"/> names the same relay, cookie, alternates (in order) and pool advice.</summary>
    /// <param name="other">The other triple.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(RendezvousTriple? other) =>
        other is not null
        && string.Equals(Host, other.Host, StringComparison.Ordinal) && Port == other.Port && string.Equals(Cookie, other.Cookie, StringComparison.Ordinal)
        && PoolAdvice == other.PoolAdvice && Alternates.SequenceEqual(other.Alternates);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Host, Port, Cookie, PoolAdvice, Alternates.Count);

    /// <inheritdoc />
    public override string ToString() => $"{Host}:{Port}";
}
