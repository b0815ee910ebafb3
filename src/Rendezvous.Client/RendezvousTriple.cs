namespace Rendezvous.Client;

/// <summary>What the registrar answers: where to connect and the line to send there.</summary>
/// <param name="Host">The rendezvous relay's host name or address.</param>
/// <param name="Port">The relay's TCP port.</param>
/// <param name="Cookie">The cookie with its mode letter: <c>R...</c> for a hidden server, <c>I...</c> for a mobile client.</param>
public sealed record RendezvousTriple(string Host, int Port, string Cookie)
{
    /// <summary>The cookie without its mode letter.</summary>
    public string CookieValue => Cookie.Length > 0 ? Cookie[1..] : string.Empty;

    /// <inheritdoc />
    public override string ToString() => $"{Host}:{Port}";
}
