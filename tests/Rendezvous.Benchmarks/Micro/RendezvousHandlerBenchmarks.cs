using System.Buffers;
using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;

namespace Rendezvous.Benchmarks.Micro;

/// <summary>
/// One complete rendezvous through the relay's handler and broker, over in-memory connections: a hidden server's
/// connection parks (its line already sent), a client's pairs with it, both read <c>+OK</c>, both close and both
/// handlers end. No sockets, so what it measures (time and bytes allocated per rendezvous) is the part of the rate
/// scenario's user-mode CPU that is the relay's own, with a stable figure to compare changes by.
/// </summary>
[MemoryDiagnoser]
public class RendezvousHandlerBenchmarks
{
    private static readonly IPEndPoint Client = new(IPAddress.Loopback, 40000);
    private static readonly byte[] Ok = "+OK\n"u8.ToArray();
    private RendezvousBroker _broker = null!;
    private RendezvousMetrics _metrics = null!;
    private RendezvousConnectionHandler _handler = null!;
    private byte[] _responderLine = null!;
    private byte[] _initiatorLine = null!;

    [GlobalSetup]
    public void Setup()
    {
        var options = new FixedOptions(new RendezvousRelayOptions { ParkedConnectionsPerCookie = 64 });
        _broker = new RendezvousBroker(options, TimeProvider.System);
        _metrics = new RendezvousMetrics();
        _handler = new RendezvousConnectionHandler(_broker, options, TimeProvider.System, _metrics);
        var cookie = _broker.Register("6f1c2d3e-0000-4000-8000-000000000001");
        _responderLine = Encoding.ASCII.GetBytes("R" + cookie + "\n");
        _initiatorLine = Encoding.ASCII.GetBytes("I" + RendezvousCookies.InitiatorValueFor(cookie) + "\n");
    }

    [GlobalCleanup]
    public void Cleanup() => _metrics.Dispose();

    [Benchmark]
    public async Task<int> Rendezvous()
    {
        var responder = new MemoryConnection(Client);
        var initiator = new MemoryConnection(Client);
        await responder.Peer.Output.WriteAsync(_responderLine).ConfigureAwait(false);
        var responding = _handler.HandleAsync(responder);
        await initiator.Peer.Output.WriteAsync(_initiatorLine).ConfigureAwait(false);
        var initiating = _handler.HandleAsync(initiator);
        await ExpectOkAsync(initiator).ConfigureAwait(false);
        await ExpectOkAsync(responder).ConfigureAwait(false);
        await initiator.Peer.Output.CompleteAsync().ConfigureAwait(false);
        await responder.Peer.Output.CompleteAsync().ConfigureAwait(false);
        await MemoryConnection.DrainAsync(initiator.Peer.Input).ConfigureAwait(false);
        await MemoryConnection.DrainAsync(responder.Peer.Input).ConfigureAwait(false);
        await responding.ConfigureAwait(false);
        await initiating.ConfigureAwait(false);
        return 1;
    }

    private static async Task ExpectOkAsync(MemoryConnection connection)
    {
        var reader = connection.Peer.Input;
        while (true)
        {
            var read = await reader.ReadAsync().ConfigureAwait(false);
            if (read.Buffer.Length >= Ok.Length)
            {
                if (!read.Buffer.Slice(0, Ok.Length).ToArray().AsSpan().SequenceEqual(Ok))
                {
                    throw new InvalidOperationException($"the relay answered {Encoding.ASCII.GetString(read.Buffer.ToArray())}");
                }

                reader.AdvanceTo(read.Buffer.GetPosition(Ok.Length));
                return;
            }

            if (read.IsCompleted)
            {
                throw new InvalidOperationException("the relay closed before +OK");
            }

            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    /// <summary>Options that never change.</summary>
    private sealed class FixedOptions(RendezvousRelayOptions value) : IOptionsMonitor<RendezvousRelayOptions>
    {
        public RendezvousRelayOptions CurrentValue => value;

        public RendezvousRelayOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<RendezvousRelayOptions, string?> listener) => null;
    }
}
