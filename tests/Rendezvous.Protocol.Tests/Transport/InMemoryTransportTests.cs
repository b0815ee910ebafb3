using System.Net;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// The broker and the splicer over a transport without sockets, taken through the same seam the server uses
/// (<see cref="IRelayListenerFactory"/>, <see cref="IRelayListener"/>, <see cref="RelayConnection.OnClosed"/>): the
/// protocol does not depend on the socket transport, and a connection without <see cref="IDirectSpliceFeature"/> is
/// spliced by the copy loops.
/// </summary>
public sealed class InMemoryTransportTests
{
    private RendezvousMetrics _metrics = null!;
    private RendezvousBroker _broker = null!;
    private RendezvousConnectionHandler _handler = null!;
    private InMemoryRelayTransport _transport = null!;
    private IRelayListener _listener = null!;
    private CancellationTokenSource _stop = null!;
    private Task _acceptLoop = null!;
    private List<Task> _handlers = null!;
    private int _open;
    private int _closed;

    [SetUp]
    public async Task SetUp()
    {
        var options = TestOptionsMonitor.Create(new RendezvousRelayOptions());
        var time = new FakeTimeProvider();
        _metrics = new RendezvousMetrics();
        _broker = new RendezvousBroker(options, time);
        _handler = new RendezvousConnectionHandler(_broker, options, time, _metrics);
        _transport = new InMemoryRelayTransport();
        _stop = new CancellationTokenSource();
        _handlers = [];
        _open = 0;
        _closed = 0;
        IRelayListenerFactory factory = _transport;
        _listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0)).AsTask().WaitAsync(TestTimeouts.Short);
        _acceptLoop = AcceptLoopAsync();
    }

    [TearDown]
    public async Task TearDown()
    {
        await _listener.DisposeAsync();
        await _acceptLoop.WaitAsync(TestTimeouts.Short);
        await _stop.CancelAsync();
        await Task.WhenAll(_handlers).WaitAsync(TestTimeouts.Short);
        _stop.Dispose();
        _metrics.Dispose();
    }

    [Test]
    public async Task A_responder_and_an_initiator_pair_and_splice_over_the_in_memory_transport_with_half_close()
    {
        var (initiator, responder) = await PairAsync();

        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        await initiator.SendAsync("ping");
        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("ping"));

        // The initiator's end of stream reaches the responder as a half-close; the other direction still flows.
        initiator.CompleteSending();
        Assert.That(await responder.ReadToEndAsciiAsync(), Is.Empty);
        await responder.SendAsync("late pong");
        responder.CompleteSending();
        Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("late pong"));

        // Both connections report their close through the seam's accounting hook.
        await WaitUntilAsync(() => Volatile.Read(ref _closed) == 2);
        Assert.Multiple(() =>
        {
            Assert.That(Volatile.Read(ref _open), Is.EqualTo(2));
            Assert.That(initiator.WasAborted || responder.WasAborted, Is.False, "a clean end aborts nothing");
            Assert.That(_broker.Activity.Get("uuid-1").BytesRelayed, Is.EqualTo(4 + 9));
        });
    }

    [Test]
    public async Task A_reset_on_one_side_aborts_the_other_over_the_in_memory_transport()
    {
        var (initiator, responder) = await PairAsync();
        await initiator.ReadAsciiAsync(4);
        await responder.ReadAsciiAsync(4);

        initiator.CompleteSending(new IOException("reset by peer"));

        await responder.Aborted.WaitAsync(TestTimeouts.Short);
        await WaitUntilAsync(() => Volatile.Read(ref _closed) == 2);
    }

    /// <summary>Connects a responder (parked) and then an initiator for one registered UUID, each with its first line sent.</summary>
    private async Task<(PipeRelayConnection Initiator, PipeRelayConnection Responder)> PairAsync()
    {
        var cookie = _broker.Register("uuid-1");
        var responder = await _transport.ConnectAsync();
        await responder.SendAsync("R" + cookie + "\n");
        await WaitUntilAsync(() => _broker.ParkedCount == 1);
        var initiator = await _transport.ConnectAsync();
        await initiator.SendAsync("I" + RendezvousCookies.InitiatorValueFor(cookie) + "\n");
        return (initiator, responder);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Short);
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }

    /// <summary>What a server's accept loop does with the seam: accept, count through the close hook, handle.</summary>
    private async Task AcceptLoopAsync()
    {
        void Closed() => Interlocked.Increment(ref _closed);
        while (await _listener.AcceptAsync() is { } connection)
        {
            Interlocked.Increment(ref _open);
            connection.OnClosed(Closed);
            _handlers.Add(Task.Run(() => _handler.HandleAsync(connection, _stop.Token)));
        }
    }
}
