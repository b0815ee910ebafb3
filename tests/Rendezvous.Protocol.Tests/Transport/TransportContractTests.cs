using System.Buffers;
using System.Net.Sockets;
using System.Security.Cryptography;
using Rendezvous.Protocol.Splicing;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// The transport contract under attack, once per transport on real loopback sockets: binary-clean bytes through a
/// direct splice, resets and half-closes passed on, a slow reader held back without loss, thousands of connections
/// without a leaked descriptor or a missed close, aborts racing disposes and splices, and accepts out of descriptors.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class TransportContractTests(RelayTransport transport)
{
    private const int Mebibyte = 1024 * 1024;

    private RelayTransportHarness? _harness;

    private IRelayListener Listener => _harness!.Listener;

    [SetUp]
    public async Task SetUp() => _harness = await RelayTransportHarness.StartAsync(transport);

    [TearDown]
    public async Task TearDown()
    {
        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }
    }

    [TestCase(true, TestName = "{m}(initiator half-closes first)")]
    [TestCase(false, TestName = "{m}(responder half-closes first)")]
    public async Task Early_bytes_of_every_value_and_a_mebibyte_each_way_pass_a_direct_splice_intact_and_each_half_close_ends_one_way(bool initiatorFirst)
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        var everyValue = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var everyValueReversed = everyValue.Reverse().ToArray();
        await initiator.SendAsync(everyValue);
        await responder.SendAsync(everyValueReversed);
        await RelayTransportHarness.WaitUntilUnreadAsync(initiatorEnd, everyValue.Length);
        await RelayTransportHarness.WaitUntilUnreadAsync(responderEnd, everyValue.Length);
        long counted = 0;

        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd, bytes => Interlocked.Add(ref counted, bytes));
        Assert.That(initiatorEnd.GetFeature<IDirectSpliceFeature>()?.DirectRelay, Is.Not.Null, "spliced directly");
        var up = RandomNumberGenerator.GetBytes(Mebibyte);
        var down = RandomNumberGenerator.GetBytes(Mebibyte);
        var (first, firstPeer, firstData) = initiatorFirst ? (initiator, responder, up) : (responder, initiator, down);
        var (second, secondPeer, secondData) = initiatorFirst ? (responder, initiator, down) : (initiator, responder, up);

        // One side sends its mebibyte and half-closes; its peer reads it all and the end, while the other way stays open.
        var receivedFirst = firstPeer.ReadToEndAsync(TestTimeouts.Long);
        await first.SendAsync(firstData).WaitAsync(TestTimeouts.Long);
        first.ShutdownSend();
        var gotFirst = await receivedFirst.WaitAsync(TestTimeouts.Long);
        Assert.That(splice.IsCompleted, Is.False, "one half-close ends one direction only");

        var receivedSecond = secondPeer.ReadToEndAsync(TestTimeouts.Long);
        await second.SendAsync(secondData).WaitAsync(TestTimeouts.Long);
        second.ShutdownSend();
        var gotSecond = await receivedSecond.WaitAsync(TestTimeouts.Long);
        var result = await splice.WaitAsync(TestTimeouts.Long);

        var (gotUp, gotDown) = initiatorFirst ? (gotFirst, gotSecond) : (gotSecond, gotFirst);
        Assert.Multiple(() =>
        {
            Assert.That(gotUp.AsSpan(0, 256).ToArray(), Is.EqualTo(everyValue), "the initiator's early bytes, every value, first");
            Assert.That(gotDown.AsSpan(0, 256).ToArray(), Is.EqualTo(everyValueReversed), "the responder's early bytes, every value, first");
            Assert.That(SHA256.HashData(gotUp.AsSpan(256)), Is.EqualTo(SHA256.HashData(up)));
            Assert.That(SHA256.HashData(gotDown.AsSpan(256)), Is.EqualTo(SHA256.HashData(down)));
            Assert.That(result, Is.EqualTo(new SpliceResult(SpliceEnd.Completed, 256 + Mebibyte, 256 + Mebibyte)));
            Assert.That(Interlocked.Read(ref counted), Is.EqualTo(2 * (256 + Mebibyte)));
        });
    }

    [TestCase(true, TestName = "{m}(initiator resets)")]
    [TestCase(false, TestName = "{m}(responder resets)")]
    public async Task A_reset_after_the_other_side_half_closed_still_resets_that_side(bool initiatorResets)
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        var (resetting, other) = initiatorResets ? (initiator, responder) : (responder, initiator);
        await other.SendAsync("bye");
        other.ShutdownSend();
        Assert.That(await resetting.ReadToEndAsync(TestTimeouts.Short), Is.EqualTo("bye"u8.ToArray()));

        resetting.Reset();

        Assert.That(await other.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(initiatorResets ? SpliceEnd.InitiatorFailed : SpliceEnd.ResponderFailed));
    }

    [TestCase(true, TestName = "{m}(initiator aborted)")]
    [TestCase(false, TestName = "{m}(responder aborted)")]
    public async Task Aborting_one_side_of_an_idle_direct_splice_ends_the_splice_and_resets_both_clients(bool abortInitiator)
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        await initiator.SendAsync("x");
        await responder.ReadExactlyAsync(1);

        (abortInitiator ? initiatorEnd : responderEnd).Abort();

        Assert.That(async () => await splice.WaitAsync(TestTimeouts.Short), Throws.Nothing, "the splice ends though neither client sends again");
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
    }

    [Test]
    public async Task Disposing_both_sides_of_an_idle_direct_splice_ends_the_splice()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        await initiator.SendAsync("x");
        await responder.ReadExactlyAsync(1);

        await Task.WhenAll(initiatorEnd.DisposeAsync().AsTask(), responderEnd.DisposeAsync().AsTask()).WaitAsync(TestTimeouts.Short);

        Assert.That(async () => await splice.WaitAsync(TestTimeouts.Short), Throws.Nothing, "the splice ends though neither client sends again");
    }

    [Test]
    public async Task A_slow_reader_stalls_the_sender_with_little_held_and_gets_every_byte_when_it_resumes()
    {
        const int Buffer = 64 * 1024;
        await _harness!.DisposeAsync();
        _harness = await RelayTransportHarness.StartAsync(transport, new SocketTransportOptions { MaxReceiveBufferSize = Buffer, MaxSendBufferSize = Buffer });
        var (writer, writerEnd) = await AcceptAsync();
        var (reader, readerEnd) = await AcceptAsync(receiveBufferSize: 16 * 1024);
        var splice = Splicer.SpliceAsync(writerEnd, readerEnd);
        var payload = RandomNumberGenerator.GetBytes(64 * Mebibyte);
        long sent = 0;
        var sending = Task.Run(async () =>
        {
            for (var offset = 0; offset < payload.Length; offset += Buffer)
            {
                await writer.SendAsync(payload.AsMemory(offset, Buffer));
                Interlocked.Add(ref sent, Buffer);
            }

            writer.ShutdownSend();
        });

        // The reader takes nothing: kernel buffers and the relay's one buffer per direction fill, then the writer stalls.
        long last;
        var stalled = Task.Run(async () =>
        {
            do
            {
                last = Interlocked.Read(ref sent);
                await Task.Delay(TestTimeouts.Quiet);
            }
            while (Interlocked.Read(ref sent) != last);
        });
        await stalled.WaitAsync(TestTimeouts.Long);
        var heldBack = Interlocked.Read(ref sent);

        // What may sit between the writer and the stopped reader: the writer's send buffer, the relay's receive buffer
        // in its kernel, the relay's one buffer (or pipe) per direction, its send buffer, the reader's 16 KiB (doubled
        // by the kernel), and one write in flight. The kernels autotune up to their limits, which are the machine's.
        var kernels = RelayTransports.KernelTcpBufferLimits();
        var bound = kernels is { } limits
            ? limits.Send + limits.Receive + limits.Send + 2 * 16 * 1024 + 2 * Buffer + Buffer
            : 16L * Mebibyte;
        Assert.That(sending.IsCompleted, Is.False, "the writer is paused");
        Assert.That(heldBack, Is.LessThanOrEqualTo(bound), $"what the relay and the kernels hold is bounded by the kernels' limits ({kernels})");
        var received = await reader.ReadToEndAsync(TestTimeouts.Long);
        await sending.WaitAsync(TestTimeouts.Long);
        Assert.That(SHA256.HashData(received), Is.EqualTo(SHA256.HashData(payload)), "nothing lost once the reader resumes");
        reader.ShutdownSend();
        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(SpliceEnd.Completed));
    }

    [Test]
    public async Task Two_thousand_connections_opened_and_closed_every_way_leak_no_descriptor_and_report_each_close_once()
    {
        Assume.That(OperatingSystem.IsLinux(), "open descriptors are counted in /proc/self/fd");
        const int Count = 2000;
        var closes = new int[Count];

        // A first round trip loads what the process keeps open for good (the transport's loops, the runtime's).
        await OpenAndCloseAsync(0, _ => { });
        var before = RelayTransports.OpenDescriptors();
        var started = DateTime.UtcNow;

        for (var i = 0; i < Count; i++)
        {
            var index = i;
            await OpenAndCloseAsync(i % 5, connection =>
            {
                if (index % 7 == 0)
                {
                    // Registered late: after the close it runs at once.
                    return;
                }

                connection.OnClosed(() => Interlocked.Increment(ref closes[index]));
            }, late: index % 7 == 0 ? () => Interlocked.Increment(ref closes[index]) : null);
        }

        var after = RelayTransports.OpenDescriptors();
        Assert.Multiple(() =>
        {
            Assert.That(DateTime.UtcNow - started, Is.LessThan(TestTimeouts.Long), "bounded in time");
            Assert.That(after - before, Is.LessThanOrEqualTo(8), $"descriptors before {before}, after {after}");
            Assert.That(closes.Select((n, i) => (n, i)).Where(c => c.n != 1).Select(c => $"#{c.i}: {c.n}"), Is.Empty, "every close reported exactly once");
        });
    }

    [Test]
    public async Task Aborts_racing_disposes_and_splices_on_many_connections_throw_nothing_and_end_every_connection()
    {
        const int Pairs = 100;
        var closes = new int[2 * Pairs];
        var before = OperatingSystem.IsLinux() ? RelayTransports.OpenDescriptors() : 0;
        var pairs = new List<(LoopbackClient A, RelayConnection AEnd, LoopbackClient B, RelayConnection BEnd)>();
        for (var i = 0; i < Pairs; i++)
        {
            var (a, aEnd) = await RelayTransports.AcceptAsync(Listener);
            var (b, bEnd) = await RelayTransports.AcceptAsync(Listener);
            var index = 2 * i;
            aEnd.OnClosed(() => Interlocked.Increment(ref closes[index]));
            bEnd.OnClosed(() => Interlocked.Increment(ref closes[index + 1]));
            pairs.Add((a, aEnd, b, bEnd));
        }

        var splices = new Task<SpliceResult>[Pairs];
        var disposes = new Task[Pairs];
        var races = pairs.Select((pair, i) => Task.Run(async () =>
        {
            await pair.A.SendAsync("early");
            splices[i] = Task.Run(() => Splicer.SpliceAsync(pair.AEnd, pair.BEnd));
            var traffic = Task.Run(() => pair.B.SendAsync(new byte[64 * 1024]));
            var abort = Task.Run(() => (i % 2 == 0 ? pair.AEnd : pair.BEnd).Abort());
            disposes[i] = Task.Run(async () =>
            {
                await (i % 3 == 0 ? pair.AEnd : pair.BEnd).DisposeAsync();
                await (i % 3 == 0 ? pair.BEnd : pair.AEnd).DisposeAsync();
            });
            await Task.WhenAll(splices[i], abort, disposes[i]);
            try
            {
                await traffic;
            }
            catch (SocketException)
            {
                // The relay reset the sender: what it may get.
            }
        })).ToList();

        var all = Task.WhenAll(races);
        await Task.WhenAny(all, Task.Delay(TestTimeouts.Long));
        Assert.That(all.IsCompleted, Is.True, () => "no hang; still running: " + string.Join(", ", Enumerable.Range(0, Pairs)
            .Where(i => !races[i].IsCompleted)
            .Select(i => $"#{i} splice {Describe(splices[i])} dispose {Describe(disposes[i])}")));
        Assert.That(async () => await all, Throws.Nothing, "no exception escapes");
        foreach (var (a, _, b, _) in pairs)
        {
            a.Dispose();
            b.Dispose();
        }

        Assert.That(closes.Where(n => n != 1), Is.Empty, "every close reported exactly once");
        if (OperatingSystem.IsLinux())
        {
            Assert.That(RelayTransports.OpenDescriptors() - before, Is.LessThanOrEqualTo(8), "no descriptor leaked");
        }
    }

    [Test]
    [NonParallelizable]
    public async Task Accepting_out_of_descriptors_fails_with_too_many_open_sockets_and_the_listener_stays_usable()
    {
        Assume.That(OperatingSystem.IsLinux(), "the descriptor limit is lowered with prlimit");
        using var client = await LoopbackClient.ConnectAsync((System.Net.IPEndPoint)Listener.LocalEndPoint);

        var exhaustion = await DescriptorExhaustion.StartAsync();
        SocketException? refused;
        try
        {
            refused = Assert.ThrowsAsync<SocketException>(async () => await Listener.AcceptAsync().AsTask().WaitAsync(TestTimeouts.Short));
        }
        finally
        {
            await exhaustion.DisposeAsync();
        }

        Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.TooManyOpenSockets));
        var accepted = await Listener.AcceptAsync().AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(accepted, Is.Not.Null, "the connection stayed queued and is accepted once descriptors free up");
        await using var server = accepted!;
        await server.Output.WriteAsync("hello"u8.ToArray()).AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(await client.ReadExactlyAsync(5), Is.EqualTo("hello"u8.ToArray()));
        client.ShutdownSend();
    }

    private static string Describe(Task? task) => task is null ? "not started" : task.Status.ToString();

    /// <summary>Opens one connection and closes it in one of five ways; <paramref name="register"/> sees it first.</summary>
    private async Task OpenAndCloseAsync(int way, Action<RelayConnection> register, Action? late = null)
    {
        var (client, connection) = await RelayTransports.AcceptAsync(Listener);
        register(connection);
        switch (way)
        {
            case 0:
                // The client ends first, cleanly.
                client.Dispose();
                await connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
                break;
            case 1:
                connection.Abort();
                client.Dispose();
                break;
            case 2:
                client.Reset();
                await connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
                break;
            case 3:
                // The server ends first while the client is still there.
                var disposing = connection.DisposeAsync().AsTask();
                client.ShutdownSend();
                await disposing.WaitAsync(TestTimeouts.Short);
                client.Dispose();
                break;
            default:
                // Bytes in flight both ways, then an abort and a dispose.
                await client.SendAsync("in flight");
                connection.Output.Write("back"u8);
                _ = await connection.Output.FlushAsync().AsTask().WaitAsync(TestTimeouts.Short);
                connection.Abort();
                await connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
                client.Dispose();
                break;
        }

        if (late is not null)
        {
            connection.OnClosed(late);
        }
    }

    private Task<(LoopbackClient Client, RelayConnection Server)> AcceptAsync(int? receiveBufferSize = null) => _harness!.AcceptAsync(receiveBufferSize);
}
