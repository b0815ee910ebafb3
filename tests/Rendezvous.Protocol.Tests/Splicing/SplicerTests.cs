using System.IO.Pipelines;
using System.Security.Cryptography;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Splicing;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Splicing;

public sealed class SplicerTests
{
    private PipeRelayConnection _initiator = null!;
    private PipeRelayConnection _responder = null!;
    private CancellationTokenSource _stop = null!;
    private Task<SpliceResult>? _splice;

    [SetUp]
    public void SetUp()
    {
        _initiator = new PipeRelayConnection();
        _responder = new PipeRelayConnection();
        _stop = new CancellationTokenSource();
        _splice = null;
    }

    [TearDown]
    public async Task TearDown()
    {
        // Ends a splice a test left running, so no copy loop outlives its test.
        await _stop.CancelAsync();
        if (_splice is not null)
        {
            await _splice.WaitAsync(TestTimeouts.Short);
        }

        _stop.Dispose();
        await _initiator.DisposeAsync();
        await _responder.DisposeAsync();
    }

    [Test]
    public async Task Bytes_from_the_initiator_reach_the_responder_in_order()
    {
        var splice = StartSplice();

        await _initiator.SendAsync("one,");
        await _initiator.SendAsync("two,");
        await _initiator.SendAsync("three");

        Assert.That(await _responder.ReadAsciiAsync(13), Is.EqualTo("one,two,three"));
        Assert.That(splice.IsCompleted, Is.False);
    }

    [Test]
    public async Task Bytes_from_the_responder_reach_the_initiator_in_order()
    {
        _ = StartSplice();

        await _responder.SendAsync("alpha,");
        await _responder.SendAsync("beta");

        Assert.That(await _initiator.ReadAsciiAsync(10), Is.EqualTo("alpha,beta"));
    }

    [Test]
    public async Task Binary_bytes_pass_unchanged_both_ways()
    {
        _ = StartSplice();
        byte[] up = [0x00, 0xFF, 0x0A, 0x0D, 0x80, 0xC3, 0x28];
        byte[] down = [0xFF, 0xFE, 0x00, 0x00, 0x0A];

        await _initiator.SendAsync(up);
        await _responder.SendAsync(down);

        Assert.That(await _responder.ReadExactlyAsync(up.Length), Is.EqualTo(up));
        Assert.That(await _initiator.ReadExactlyAsync(down.Length), Is.EqualTo(down));
    }

    [Test]
    public async Task One_mebibyte_each_way_in_random_chunks_arrives_intact_and_is_counted()
    {
        var up = RandomNumberGenerator.GetBytes(1024 * 1024);
        var down = RandomNumberGenerator.GetBytes(1024 * 1024);
        long counted = 0;
        var splice = Splicer.SpliceAsync(_initiator, _responder, bytes => Interlocked.Add(ref counted, bytes), _stop.Token);

        var sendUp = Task.Run(() => SendInChunksAndCloseAsync(_initiator, up, seed: 1));
        var sendDown = Task.Run(() => SendInChunksAndCloseAsync(_responder, down, seed: 2));
        var receivedUp = Task.Run(_responder.ReadToEndAsync);
        var receivedDown = Task.Run(_initiator.ReadToEndAsync);
        await Task.WhenAll(sendUp, sendDown).WaitAsync(TestTimeouts.Long);
        var result = await splice.WaitAsync(TestTimeouts.Long);

        Assert.That(SHA256.HashData(await receivedUp.WaitAsync(TestTimeouts.Long)), Is.EqualTo(SHA256.HashData(up)));
        Assert.That(SHA256.HashData(await receivedDown.WaitAsync(TestTimeouts.Long)), Is.EqualTo(SHA256.HashData(down)));
        Assert.That(result, Is.EqualTo(new SpliceResult(SpliceEnd.Completed, up.Length, down.Length)));
        Assert.That(Interlocked.Read(ref counted), Is.EqualTo(up.Length + down.Length));
    }

    [Test]
    public async Task Bytes_in_the_input_before_splicing_are_delivered()
    {
        await _initiator.SendAsync("early from initiator");
        await _responder.SendAsync("early from responder");

        _ = StartSplice();

        Assert.That(await _responder.ReadAsciiAsync(20), Is.EqualTo("early from initiator"));
        Assert.That(await _initiator.ReadAsciiAsync(20), Is.EqualTo("early from responder"));
    }

    [Test]
    public async Task A_stopped_watch_keeps_what_it_saw_and_leaves_later_bytes_to_the_splice()
    {
        // What a parked responder leaves behind: bytes its watch kept, then a stopped read.
        // Inline pipes make the watch see the bytes before it is stopped.
        await UseInlinePipesAsync(64 * 1024);
        var watch = new ConnectionWatch(_responder.Input, 1024);
        await _responder.SendAsync("kept while parked");
        Assert.That(await watch.StopAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo(WatchEnd.Stopped));
        Assert.That(System.Text.Encoding.ASCII.GetString(watch.Kept.Span), Is.EqualTo("kept while parked"));

        await _responder.SendAsync("after");
        _ = StartSplice();

        Assert.That(await _initiator.ReadAsciiAsync(5), Is.EqualTo("after"));
    }

    [Test]
    public async Task Initiator_half_close_ends_the_responders_output_and_the_reverse_direction_keeps_flowing()
    {
        var splice = StartSplice();

        await _initiator.SendAsync("last words");
        _initiator.CompleteSending();

        Assert.That(await _responder.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("last words"), "the responder's peer sees the end of the stream");
        await _responder.SendAsync("still talking");
        Assert.That(await _initiator.ReadAsciiAsync(13), Is.EqualTo("still talking"));
        Assert.That(splice.IsCompleted, Is.False);
        Assert.That(_initiator.WasAborted || _responder.WasAborted, Is.False);
    }

    [Test]
    public async Task Responder_half_close_ends_the_initiators_output_and_the_reverse_direction_keeps_flowing()
    {
        var splice = StartSplice();

        await _responder.SendAsync("bye");
        _responder.CompleteSending();

        Assert.That(await _initiator.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("bye"));
        await _initiator.SendAsync("more for you");
        Assert.That(await _responder.ReadAsciiAsync(12), Is.EqualTo("more for you"));
        Assert.That(splice.IsCompleted, Is.False);
    }

    [Test]
    public async Task Both_half_closed_completes_with_the_byte_counts()
    {
        var splice = StartSplice();

        await _initiator.SendAsync("12345");
        _initiator.CompleteSending();
        await _responder.SendAsync("abc");
        _responder.CompleteSending();

        var result = await splice.WaitAsync(TestTimeouts.Short);
        Assert.That(result, Is.EqualTo(new SpliceResult(SpliceEnd.Completed, 5, 3)));
        Assert.That(await _responder.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("12345"));
        Assert.That(await _initiator.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("abc"));
        Assert.That(_initiator.WasAborted || _responder.WasAborted, Is.False, "a clean end aborts nothing");
    }

    [Test]
    public async Task Both_closed_without_data_completes_with_zero_counts()
    {
        var splice = StartSplice();

        _initiator.CompleteSending();
        _responder.CompleteSending();

        Assert.That(await splice.WaitAsync(TestTimeouts.Short), Is.EqualTo(new SpliceResult(SpliceEnd.Completed, 0, 0)));
    }

    [Test]
    public async Task Initiator_reset_aborts_both_and_blames_the_initiator()
    {
        var splice = StartSplice();
        await _initiator.SendAsync("partial");
        Assert.That(await _responder.ReadAsciiAsync(7), Is.EqualTo("partial"));

        _initiator.CompleteSending(new IOException("connection reset"));

        var result = await splice.WaitAsync(TestTimeouts.Short);
        Assert.That(result.End, Is.EqualTo(SpliceEnd.InitiatorFailed));
        Assert.That(result.BytesFromInitiator, Is.EqualTo(7));
        Assert.That(_initiator.WasAborted, Is.True);
        Assert.That(_responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Responder_reset_aborts_both_and_blames_the_responder()
    {
        var splice = StartSplice();

        _responder.CompleteSending(new IOException("connection reset"));

        var result = await splice.WaitAsync(TestTimeouts.Short);
        Assert.That(result.End, Is.EqualTo(SpliceEnd.ResponderFailed));
        Assert.That(_initiator.WasAborted, Is.True);
        Assert.That(_responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Reset_after_the_other_side_half_closed_still_aborts_both_and_blames_the_one_that_reset()
    {
        var splice = StartSplice();
        _initiator.CompleteSending();
        Assert.That(await _responder.ReadToEndAsync().WaitAsync(TestTimeouts.Short), Is.Empty);

        _responder.CompleteSending(new IOException("connection reset"));

        var result = await splice.WaitAsync(TestTimeouts.Short);
        Assert.That(result.End, Is.EqualTo(SpliceEnd.ResponderFailed));
        Assert.That(_initiator.WasAborted, Is.True);
        Assert.That(_responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Responder_that_can_no_longer_receive_aborts_both_and_blames_the_responder()
    {
        var splice = StartSplice();

        await _responder.PeerReader.CompleteAsync(new IOException("connection reset"));
        await _initiator.SendAsync("nobody hears this");

        var result = await splice.WaitAsync(TestTimeouts.Short);
        Assert.That(result.End, Is.EqualTo(SpliceEnd.ResponderFailed));
        Assert.That(_initiator.WasAborted, Is.True);
        Assert.That(_responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Cancellation_aborts_both_and_ends_as_canceled()
    {
        var splice = StartSplice();
        await _initiator.SendAsync("x");
        Assert.That(await _responder.ReadAsciiAsync(1), Is.EqualTo("x"));

        await _stop.CancelAsync();

        var result = await splice.WaitAsync(TestTimeouts.Short);
        Assert.That(result.End, Is.EqualTo(SpliceEnd.Canceled));
        Assert.That(result.BytesFromInitiator, Is.EqualTo(1));
        Assert.That(_initiator.WasAborted, Is.True);
        Assert.That(_responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Cancellation_before_splicing_aborts_both_at_once()
    {
        await _stop.CancelAsync();

        var result = await StartSplice().WaitAsync(TestTimeouts.Short);

        Assert.That(result.End, Is.EqualTo(SpliceEnd.Canceled));
        Assert.That(_initiator.WasAborted && _responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Reader_that_never_reads_pauses_the_sender_and_bounds_what_is_buffered()
    {
        const int threshold = 64 * 1024;
        const int chunk = 4 * 1024;
        // Inline scheduling runs the splicer's continuations on this thread, so when a flush below does
        // not complete, nothing else can still be running: the check is deterministic, not timed.
        await UseInlinePipesAsync(threshold);
        _ = StartSplice();

        var (written, flush) = WriteUntilPaused(_initiator.PeerWriter, chunk, limit: 16 * 1024 * 1024);

        Assert.That(flush.IsCompleted, Is.False, "the sender is paused");
        Assert.That(written, Is.GreaterThan(threshold), "the splicer relayed until the receiving side was full");
        Assert.That(written, Is.LessThanOrEqualTo((2 * threshold) + (2 * chunk)), "bytes buffered between sender and receiver are bounded");
        Assert.That(_responder.PeekUnreadLength(), Is.LessThanOrEqualTo(threshold + chunk), "the receiving side holds at most its threshold");
    }

    [Test]
    public async Task Paused_sender_resumes_once_the_reader_reads()
    {
        const int threshold = 64 * 1024;
        const int chunk = 4 * 1024;
        await UseInlinePipesAsync(threshold);
        _ = StartSplice();
        var (written, flush) = WriteUntilPaused(_initiator.PeerWriter, chunk, limit: 16 * 1024 * 1024);

        var received = await _responder.ReadExactlyAsync(written);
        var resumed = await flush.AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(resumed.IsCompleted, Is.False);
        Assert.That(received, Has.Length.EqualTo(written));
        Assert.That(received.Where((b, i) => b != (byte)(i / chunk)), Is.Empty, "the chunks arrived in order");
    }

    private Task<SpliceResult> StartSplice() => _splice = Splicer.SpliceAsync(_initiator, _responder, cancellationToken: _stop.Token);

    private async Task UseInlinePipesAsync(int pauseWriterThreshold)
    {
        await _initiator.DisposeAsync();
        await _responder.DisposeAsync();
        _initiator = new PipeRelayConnection(PipeRelayConnection.InlineOptions(pauseWriterThreshold));
        _responder = new PipeRelayConnection(PipeRelayConnection.InlineOptions(pauseWriterThreshold));
    }

    /// <summary>Writes chunks (chunk n filled with the byte n) until a flush does not complete at once.</summary>
    private static (long Written, ValueTask<FlushResult> Flush) WriteUntilPaused(PipeWriter writer, int chunk, long limit)
    {
        long written = 0;
        for (var n = 0; ; n++)
        {
            var bytes = new byte[chunk];
            Array.Fill(bytes, (byte)n);
            var flush = writer.WriteAsync(bytes);
            written += chunk;
            if (!flush.IsCompleted)
            {
                return (written, flush);
            }

            Assert.That(flush.Result.IsCompleted, Is.False, "the splicer stopped reading");
            if (written > limit)
            {
                Assert.Fail($"{written} bytes were accepted without backpressure.");
            }
        }
    }

    private static async Task SendInChunksAndCloseAsync(PipeRelayConnection connection, byte[] data, int seed)
    {
        var random = new Random(seed);
        var offset = 0;
        while (offset < data.Length)
        {
            var size = Math.Min(random.Next(1, 32 * 1024), data.Length - offset);
            await connection.PeerWriter.WriteAsync(data.AsMemory(offset, size));
            offset += size;
        }

        connection.CompleteSending();
    }
}
