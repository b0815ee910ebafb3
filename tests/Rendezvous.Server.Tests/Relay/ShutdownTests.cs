using System.Net.Sockets;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>Graceful shutdown of the relay: stop accepting, close parked connections, drain live sessions.</summary>
public sealed class ShutdownTests : ServerTestBase
{
    [Test]
    public async Task Stopping_server_refuses_new_connections_and_closes_live_sessions_after_the_drain()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:DrainTimeout"] = "00:00:05" }, time);
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            var stopping = Server.StopAsync();

            await WaitUntilConnectFailsAsync();

            // Draining: the live session still carries bytes both ways.
            await initiator.SendAsync("ping");
            Assert.That(await responder.ReadExactlyAsync(4), Is.EqualTo("ping"u8.ToArray()));
            await responder.SendAsync("pong");
            Assert.That(await initiator.ReadExactlyAsync(4), Is.EqualTo("pong"u8.ToArray()));
            Assert.That(stopping.IsCompleted, Is.False, "the server waits for the drain");

            var ended = initiator.WaitForEndAsync(TestTimeouts.Short);
            var advanced = await AdvanceUntilAsync(time, ended, TimeSpan.FromMilliseconds(500));

            Assert.That(advanced, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(5)), "not before the drain time");
            Assert.That(await ended, Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed));
            Assert.That(await responder.WaitForEndAsync(), Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed));
            await stopping.WaitAsync(TestTimeouts.Short);
        }
    }

    [Test]
    public async Task Stopping_server_finishes_at_once_when_the_live_sessions_end_within_the_drain()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:DrainTimeout"] = "00:01:00" }, time);
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            var stopping = Server.StopAsync();
            await WaitUntilConnectFailsAsync();

            initiator.ShutdownSend();
            responder.ShutdownSend();
            Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
            Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));

            // No clock advance needed: the drain ends when the last session does.
            await stopping.WaitAsync(TestTimeouts.Short);
        }
    }

    [Test]
    public async Task Stopping_server_closes_parked_responders_at_once()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:DrainTimeout"] = "00:01:00" }, time);
        var (responder, _) = await ParkAsync();
        using (responder)
        {
            var stopping = Server.StopAsync();

            Assert.That(await responder.WaitForEndAsync(), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
            responder.Dispose();
            await stopping.WaitAsync(TestTimeouts.Short);
            Assert.That(Server.Broker.ParkedCount, Is.Zero);
        }
    }

    /// <summary>Polls until a connect to the relay port fails (the listener is closed).</summary>
    private async Task WaitUntilConnectFailsAsync()
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Short);
        while (true)
        {
            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await probe.ConnectAsync(Server.RelayEndPoint, cts.Token);
            }
            catch (SocketException)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cts.Token);
        }
    }
}
