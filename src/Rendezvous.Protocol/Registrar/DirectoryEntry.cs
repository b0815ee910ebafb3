namespace Rendezvous.Protocol.Registrar;

/// <summary>A rendezvous endpoint a triple can name: a node's public relay host and port.</summary>
/// <param name="Host">The host name or address clients connect to.</param>
/// <param name="Port">The TCP port, 1–65535.</param>
public sealed record RelayAddress(string Host, int Port);

/// <summary>What <see cref="IRegistrationDirectory"/> answers for a registration or a lookup.</summary>
/// <param name="Cookie">The <c>R</c> value for a registration, the <c>I</c> value for a lookup; without the mode letter.</param>
/// <param name="Relay">
/// Where to connect; <see langword="null"/> for this node's relay, whose public host and port the registrar knows
/// (<see cref="RegistrarOptions.PublicHost"/>, <see cref="RegistrarOptions.PublicPort"/>, or the request's host and the bound port).
/// </param>
/// <param name="Alternates">
/// Other relays where the same cookie is current, best first. The registrar sends them in an <c>alternates</c> field
/// that clients of the original ignore; ours park there too and fall back to them. Empty on one node.
/// </param>
/// <param name="PoolSize">
/// For a registration: how many connections the hidden server should keep parked, sent in a <c>pool</c> field;
/// <see langword="null"/> when the directory gives no advice.
/// </param>
public sealed record DirectoryEntry(string Cookie, RelayAddress? Relay, IReadOnlyList<RelayAddress> Alternates, int? PoolSize = null);
