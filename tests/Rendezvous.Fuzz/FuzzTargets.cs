using Rendezvous.Fuzz.Targets;

namespace Rendezvous.Fuzz;

/// <summary>The targets by name.</summary>
internal static class FuzzTargets
{
    /// <summary>Every target name, in the order eng/fuzz.sh lists them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["handshake", "query", "config", "pem", "redis"];

    /// <summary>Creates the target called <paramref name="name"/>; the caller disposes it.</summary>
    /// <exception cref="ArgumentException">No target has that name; the message lists the names.</exception>
    public static FuzzTarget Create(string name) => name switch
    {
        "handshake" => new HandshakeTarget(),
        "query" => new QueryTarget(),
        "config" => new ConfigTarget(),
        "pem" => new PemTarget(),
        "redis" => new RedisValueTarget(),
        _ => throw new ArgumentException($"unknown fuzz target '{name}'; expected one of: {string.Join(", ", Names)}.", nameof(name)),
    };
}
