using System.Net;
using Rendezvous.Client.Internal;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Client.Connector;

/// <summary>Settings of a <see cref="RendezvousForwarder"/>: where it listens, which hidden server it reaches, and its limits.</summary>
public sealed class RendezvousForwarderOptions
{
    /// <summary>
    /// Where local connections are accepted, e.g. <c>127.0.0.1:2222</c>; port 0 picks a free one
    /// (<see cref="RendezvousForwarder.LocalEndPoint"/> tells which) and <see cref="IPAddress.IPv6Any"/> accepts IPv4
    /// too. <see cref="EndpointText.TryParseListen"/> reads the <c>HOST:PORT</c> form. Required.
    /// </summary>
    public IPEndPoint? ListenEndPoint { get; set; }

    /// <summary>The UUID of the hidden server every accepted connection reaches. Required.</summary>
    public string? Uuid { get; set; }

    /// <summary>
    /// The most connections relayed at once; while that many are, no more are accepted (new ones wait in the
    /// listen backlog). From 1 to 65536. Defaults to 256.
    /// </summary>
    public int MaxConnections { get; set; } = 256;

    /// <summary>The listen backlog: connections the system holds until they are accepted. From 1 to 65536. Defaults to 128.</summary>
    public int ListenBacklog { get; set; } = 128;

    /// <summary>
    /// How long <see cref="RendezvousForwarder.RunAsync"/> waits, once stopped, for the connections it relays to
    /// end (they are aborted when it stops). Zero or more. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The transport that listens on <see cref="ListenEndPoint"/> (the relay server's seam, <see cref="IRelayListenerFactory"/>);
    /// when <see langword="null"/>, TCP sockets (<see cref="SocketRelayListenerFactory"/>) with Nagle and keep-alive off
    /// and <see cref="ListenBacklog"/> as the backlog, which another transport decides for itself.
    /// </summary>
    public IRelayListenerFactory? Transport { get; set; }

    /// <summary>Checks the settings and lists every problem in one message, naming each value.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        if (ListenEndPoint is null)
        {
            errors.Add("ListenEndPoint is not set; set where local connections are accepted, e.g. 127.0.0.1:2222 (port 0 for any free one).");
        }

        if (!UuidText.TryNormalize(Uuid, out _))
        {
            errors.Add($"Uuid is '{Uuid}'; it must be a UUID such as 6f1c2a9e-0b7d-4c1e-9a55-3f0e8d2b1c4a.");
        }

        if (MaxConnections is < 1 or > 65536)
        {
            errors.Add($"MaxConnections is {MaxConnections}; it must be between 1 and 65536.");
        }

        if (ListenBacklog is < 1 or > 65536)
        {
            errors.Add($"ListenBacklog is {ListenBacklog}; it must be between 1 and 65536.");
        }

        if (ShutdownTimeout < TimeSpan.Zero)
        {
            errors.Add($"ShutdownTimeout is {ShutdownTimeout}; it must be zero or more.");
        }

        OptionChecks.ThrowIfAny(errors);
    }
}
