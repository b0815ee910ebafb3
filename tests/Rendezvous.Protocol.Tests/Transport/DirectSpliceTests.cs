using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Rendezvous.Protocol.Splicing;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// <see cref="Splicer"/> over two connections of one transport on real loopback sockets, once per transport: the
/// direct (descriptor to descriptor, no pipes) path, and the pipe path it falls back to.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class DirectSpliceTests(RelayTransport transport)
{
    private RelayTransportHarness? _harness;

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

    [Test]
    public async Task Idle_connections_are_spliced_directly_and_release_their_pipes()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();

        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        await initiator.SendAsync("up");
        Assert.That(Encoding.ASCII.GetString(await responder.ReadExactlyAsync(2)), Is.EqualTo("up"));

        Assert.That(() => initiatorEnd.Input, Throws.InvalidOperationException, "no input pipe once spliced directly");
        Assert.That(() => responderEnd.Output, Throws.InvalidOperationException, "no output pipe once spliced directly");
        Assert.That(splice.IsCompleted, Is.False);
    }

    [Test]
    public async Task Direct_splice_carries_a_mebibyte_each_way_intact_and_counts_it()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        long counted = 0;
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd, bytes => Interlocked.Add(ref counted, bytes));
        var up = RandomNumberGenerator.GetBytes(1024 * 1024);
        var down = RandomNumberGenerator.GetBytes(1024 * 1024);

        var sendUp = Task.Run(async () => { await initiator.SendAsync(up); initiator.ShutdownSend(); });
        var sendDown = Task.Run(async () => { await responder.SendAsync(down); responder.ShutdownSend(); });
        var receivedUp = responder.ReadToEndAsync(TestTimeouts.Long);
        var receivedDown = initiator.ReadToEndAsync(TestTimeouts.Long);
        await Task.WhenAll(sendUp, sendDown).WaitAsync(TestTimeouts.Long);
        var result = await splice.WaitAsync(TestTimeouts.Long);

        Assert.That(SHA256.HashData(await receivedUp), Is.EqualTo(SHA256.HashData(up)));
        Assert.That(SHA256.HashData(await receivedDown), Is.EqualTo(SHA256.HashData(down)));
        Assert.That(result, Is.EqualTo(new SpliceResult(SpliceEnd.Completed, up.Length, down.Length)));
        Assert.That(Interlocked.Read(ref counted), Is.EqualTo(up.Length + down.Length));
    }

    [Test]
    public async Task What_was_written_and_received_before_the_splice_goes_first_in_order()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        await initiator.SendAsync("early ");
        await RelayTransportHarness.WaitUntilUnreadAsync(initiatorEnd, 6);
        initiatorEnd.Output.Write("+OK\n"u8);
        responderEnd.Output.Write("+OK\n"u8);

        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        await initiator.SendAsync("late");

        Assert.That(Encoding.ASCII.GetString(await responder.ReadExactlyAsync(4)), Is.EqualTo("+OK\n"));
        Assert.That(Encoding.ASCII.GetString(await responder.ReadExactlyAsync(6)), Is.EqualTo("early "));
        Assert.That(Encoding.ASCII.GetString(await responder.ReadExactlyAsync(4)), Is.EqualTo("late"));
        Assert.That(Encoding.ASCII.GetString(await initiator.ReadExactlyAsync(4)), Is.EqualTo("+OK\n"));
        Assert.That(splice.IsCompleted, Is.False);
    }

    [Test]
    public async Task Half_close_passes_on_in_a_direct_splice_while_the_other_direction_keeps_flowing()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);

        await initiator.SendAsync("request");
        initiator.ShutdownSend();
        Assert.That(Encoding.ASCII.GetString(await responder.ReadToEndAsync()), Is.EqualTo("request"));

        await responder.SendAsync("reply");
        Assert.That(Encoding.ASCII.GetString(await initiator.ReadExactlyAsync(5)), Is.EqualTo("reply"));
        Assert.That(splice.IsCompleted, Is.False);
        responder.ShutdownSend();

        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(SpliceEnd.Completed));
    }

    [Test]
    public async Task Reset_of_the_responder_resets_the_initiator_in_a_direct_splice()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        await initiator.SendAsync("x");
        await responder.ReadExactlyAsync(1);

        responder.Reset();

        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(SpliceEnd.ResponderFailed));
    }

    [Test]
    public async Task Reset_of_an_idle_initiator_resets_the_responder_in_a_direct_splice()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);

        initiator.Reset();

        Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(SpliceEnd.InitiatorFailed));
    }

    [Test]
    public async Task Cancelling_a_direct_splice_resets_both_sides()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        using var stop = new CancellationTokenSource();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd, cancellationToken: stop.Token);
        await initiator.SendAsync("x");
        await responder.ReadExactlyAsync(1);

        await stop.CancelAsync();

        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(SpliceEnd.Canceled));
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
    }

    [Test]
    public async Task Direct_splice_stops_reading_a_fast_writer_while_the_reader_is_slow()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        _ = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        initiator.Socket.SendBufferSize = 64 * 1024;
        responder.Socket.ReceiveBufferSize = 64 * 1024;
        var chunk = new byte[64 * 1024];
        long sent = 0;
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 1024; i++)
            {
                await initiator.SendAsync(chunk);
                Interlocked.Add(ref sent, chunk.Length);
            }
        });

        // The responder reads nothing: kernel buffers and one relay buffer fill, then the writer stalls.
        long last;
        do
        {
            last = Interlocked.Read(ref sent);
            await Task.Delay(TestTimeouts.Quiet);
        }
        while (Interlocked.Read(ref sent) != last);

        Assert.That(sending.IsCompleted, Is.False);
        Assert.That(last, Is.LessThan(32 * 1024 * 1024), "what the relay and the kernels hold is bounded");
        initiator.Reset();
        responder.Reset();
        Assert.That(async () => await sending.WaitAsync(TestTimeouts.Short), Throws.InstanceOf<System.Net.Sockets.SocketException>());
    }

    [Test]
    public async Task Input_that_ended_before_the_splice_falls_back_to_the_pipe_splice_and_passes_the_end_on()
    {
        var (initiator, initiatorEnd) = await AcceptAsync();
        var (responder, responderEnd) = await AcceptAsync();
        await initiator.SendAsync("all I have");
        initiator.ShutdownSend();
        await RelayTransportHarness.WaitUntilCompletedAsync(initiatorEnd);

        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);

        Assert.That(Encoding.ASCII.GetString(await responder.ReadToEndAsync()), Is.EqualTo("all I have"));
        Assert.That(initiatorEnd.Output, Is.Not.Null, "the pipe splice keeps the pipes");
        await responder.SendAsync("answer");
        responder.ShutdownSend();
        Assert.That(Encoding.ASCII.GetString(await initiator.ReadToEndAsync()), Is.EqualTo("answer"));
        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(SpliceEnd.Completed));
    }

    private Task<(LoopbackClient Client, RelayConnection Server)> AcceptAsync() => _harness!.AcceptAsync();
}
