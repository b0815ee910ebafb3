using System.Net;
using System.Net.Sockets;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// <see cref="RelayAcceptLoop"/> over the in-memory transport: connections go to the callback (which may refuse them),
/// failed accepts back off on the clock and are reported rate-limited, and the loop ends with the listener or on
/// cancellation.
/// </summary>
public sealed class RelayAcceptLoopTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task Each_connection_goes_to_the_callback_a_refused_one_is_aborted_and_the_loop_ends_when_the_listener_is_disposed()
    {
        var transport = new InMemoryRelayTransport();
        var listener = await ((IRelayListenerFactory)transport).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var accepted = new List<RelayConnection>();
        var loop = RelayAcceptLoop.RunAsync(listener, connection =>
        {
            lock (accepted)
            {
                accepted.Add(connection);
                return accepted.Count != 2;
            }
        });

        var first = await transport.ConnectAsync();
        var second = await transport.ConnectAsync();
        var third = await transport.ConnectAsync();
        await second.Aborted.WaitAsync(TestTimeouts.Short);
        await listener.DisposeAsync();
        await loop.WaitAsync(TestTimeouts.Short);

        lock (accepted)
        {
            Assert.That(accepted, Is.EqualTo(new RelayConnection[] { first, second, third }));
        }

        Assert.Multiple(() =>
        {
            Assert.That(first.WasAborted, Is.False);
            Assert.That(second.WasAborted, Is.True, "the refused connection is reset");
            Assert.That(third.WasAborted, Is.False);
        });
    }

    [Test]
    public async Task A_callback_that_throws_gets_its_connection_aborted_and_ends_the_loop_with_its_exception()
    {
        var transport = new InMemoryRelayTransport();
        var listener = await ((IRelayListenerFactory)transport).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var loop = RelayAcceptLoop.RunAsync(listener, _ => throw new InvalidOperationException("a bug in the callback"));

        var connection = await transport.ConnectAsync();

        var thrown = Assert.ThrowsAsync<InvalidOperationException>(() => loop.WaitAsync(TestTimeouts.Short));
        Assert.Multiple(() =>
        {
            Assert.That(thrown!.Message, Is.EqualTo("a bug in the callback"));
            Assert.That(connection.WasAborted, Is.True, "nobody owns the connection: the loop resets it");
        });
        await listener.DisposeAsync();
    }

    [Test]
    public async Task Failed_accepts_wait_the_retry_delay_each_and_are_reported_once_per_interval_with_the_count()
    {
        var time = new TimerWatchingTimeProvider(Start);
        var transport = new InMemoryRelayTransport();
        var listener = await ((IRelayListenerFactory)transport).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var emfile = new SocketException((int)SocketError.TooManyOpenSockets);
        await transport.FailAcceptsAsync(emfile, 150);
        var reports = new List<(SocketException Error, int Failures)>();
        var accepted = new TaskCompletionSource<RelayConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();

        var loop = RelayAcceptLoop.RunAsync(
            listener,
            connection => accepted.TrySetResult(connection),
            (error, failures) =>
            {
                lock (reports)
                {
                    reports.Add((error, failures));
                }
            },
            timeProvider: time,
            cancellationToken: stop.Token);

        // 15 s of failing accepts: each waits its 100 ms on the clock (no next try before it), no real time passes.
        for (var i = 0; i < 150; i++)
        {
            var retry = await time.WaitForTimerDueAtAsync(Start + (RelayAcceptLoop.RetryDelay * (i + 1)), $"the wait after failed accept {i + 1}");
            Assert.That(transport.AcceptCount, Is.EqualTo(i + 1), "no accept before the wait is over");
            time.Advance(RelayAcceptLoop.RetryDelay);
            Assert.That(retry.Fired, Is.True);
        }

        var connection = await transport.ConnectAsync();
        Assert.That(await accepted.Task.WaitAsync(TestTimeouts.Short), Is.SameAs(connection), "accepting works again once descriptors free up");
        await stop.CancelAsync();
        await loop.WaitAsync(TestTimeouts.Short);

        lock (reports)
        {
            // The first failure at once, the next report 10 s later with the 100 failures since.
            Assert.That(reports.Select(r => r.Failures), Is.EqualTo(new[] { 1, 100 }));
            Assert.That(reports.All(r => ReferenceEquals(r.Error, emfile)), Is.True);
        }

        await listener.DisposeAsync();
    }

    [Test]
    public async Task The_loop_waits_for_the_callers_gate_before_each_accept_and_ends_on_cancellation()
    {
        var transport = new InMemoryRelayTransport();
        var listener = await ((IRelayListenerFactory)transport).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var gate = new SemaphoreSlim(0);
        var accepted = 0;
        using var stop = new CancellationTokenSource();
        var loop = RelayAcceptLoop.RunAsync(
            listener,
            _ => Interlocked.Increment(ref accepted) > 0,
            waitToAccept: ct => new ValueTask(gate.WaitAsync(ct)),
            cancellationToken: stop.Token);

        var queued = await transport.ConnectAsync();
        Assert.That(transport.AcceptCount, Is.Zero, "nothing is accepted while the gate is shut");
        gate.Release();
        await WaitUntilAsync(() => Volatile.Read(ref accepted) == 1);
        await stop.CancelAsync();
        await loop.WaitAsync(TestTimeouts.Short);

        Assert.That(queued.WasAborted, Is.False);
        await listener.DisposeAsync();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Short);
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}
