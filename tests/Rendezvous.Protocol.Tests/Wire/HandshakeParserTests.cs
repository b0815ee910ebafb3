using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Rendezvous.Protocol.Wire;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Wire;

public sealed class HandshakeParserTests
{
    private static readonly string LongestCookie = new('c', HandshakeParser.MaxLineLength - 1);

    [Test]
    public void Responder_line_parses_with_its_cookie()
    {
        var status = Parse("Rabc123\n", out var line, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Responder, "abc123")));
    }

    [Test]
    public void Initiator_line_parses_with_its_cookie()
    {
        var status = Parse("Iabc123\n", out var line, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Initiator, "abc123")));
    }

    [Test]
    public void Cookie_may_hold_every_printable_non_space_ascii_byte()
    {
        var cookie = new string([.. Enumerable.Range(0x21, 0x7E - 0x21 + 1).Select(b => (char)b)]);

        var status = Parse("I" + cookie + "\n", out var line, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo(cookie));
    }

    [Test]
    public void Carriage_return_before_newline_is_tolerated_and_not_part_of_the_cookie()
    {
        var status = Parse("Rabc\r\n", out var line, out var rest);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Responder, "abc")));
        Assert.That(rest, Is.Empty);
    }

    [Test]
    public void Empty_cookie_parses_as_an_empty_cookie()
    {
        var status = Parse("R\n", out var line, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Responder, string.Empty)));
    }

    [Test]
    public void Empty_cookie_with_carriage_return_parses_as_an_empty_cookie()
    {
        var status = Parse("I\r\n", out var line, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Initiator, string.Empty)));
    }

    [Test]
    public void Bytes_after_the_newline_are_not_consumed()
    {
        byte[] input = [.. "Iabc\n"u8, 0x00, 0xFF, (byte)'R', (byte)'\n'];

        var status = HandshakeParser.TryParse(new ReadOnlySequence<byte>(input), out _, out var consumed, out var examined);

        var sequence = new ReadOnlySequence<byte>(input);
        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(sequence.Slice(consumed).ToArray(), Is.EqualTo(new byte[] { 0x00, 0xFF, (byte)'R', (byte)'\n' }));
        Assert.That(sequence.Slice(0, examined).Length, Is.EqualTo(5), "nothing after the line is examined");
    }

    [Test]
    public void Empty_buffer_is_incomplete()
    {
        var status = HandshakeParser.TryParse(ReadOnlySequence<byte>.Empty, out _, out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Incomplete));
    }

    [Test]
    public void Partial_line_is_incomplete_consumes_nothing_and_examines_everything()
    {
        var buffer = new ReadOnlySequence<byte>("Rabc"u8.ToArray());

        var status = HandshakeParser.TryParse(buffer, out _, out var consumed, out var examined);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Incomplete));
        Assert.That(consumed, Is.EqualTo(buffer.Start));
        Assert.That(examined, Is.EqualTo(buffer.End));
    }

    [Test]
    public void Partial_line_ending_in_carriage_return_is_incomplete()
    {
        var status = Parse("Rabc\r", out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Incomplete));
    }

    [Test]
    public void Line_of_exactly_256_bytes_is_accepted()
    {
        var status = Parse("R" + LongestCookie + "\n", out var line, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo(LongestCookie));
    }

    [Test]
    public void Line_of_exactly_256_bytes_with_carriage_return_is_accepted()
    {
        var status = Parse("R" + LongestCookie + "\r\n", out var line, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo(LongestCookie));
    }

    [Test]
    public void Line_of_257_bytes_is_too_long()
    {
        var status = Parse("R" + LongestCookie + "c\n", out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.LineTooLong));
    }

    [Test]
    public void Line_of_257_bytes_with_carriage_return_is_too_long()
    {
        var status = Parse("I" + LongestCookie + "c\r\n", out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.LineTooLong));
    }

    [Test]
    public void Too_long_is_reported_before_the_newline_once_more_than_257_bytes_are_buffered()
    {
        Assert.That(Parse("R" + LongestCookie + "c", out _, out _), Is.EqualTo(HandshakeParseStatus.Incomplete), "257 bytes could still be 256 and a carriage return");
        Assert.That(Parse("R" + LongestCookie + "cc", out _, out _), Is.EqualTo(HandshakeParseStatus.LineTooLong));
    }

    [Test]
    public void Too_long_is_reported_for_a_long_buffer_without_newline()
    {
        var status = Parse("R" + new string('x', 10_000), out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.LineTooLong));
    }

    [TestCase((byte)'X')]
    [TestCase((byte)'r')]
    [TestCase((byte)'i')]
    [TestCase((byte)'\n')]
    [TestCase((byte)' ')]
    [TestCase((byte)0x00)]
    [TestCase((byte)0xFF)]
    public void Bad_first_byte_is_an_invalid_cookie_at_once(byte first)
    {
        var status = HandshakeParser.TryParse(new ReadOnlySequence<byte>([first]), out _, out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
    }

    [TestCase((byte)0x00)]
    [TestCase((byte)0x01)]
    [TestCase((byte)0x09)]
    [TestCase((byte)0x1F)]
    [TestCase((byte)' ')]
    [TestCase((byte)0x7F)]
    [TestCase((byte)0x80)]
    [TestCase((byte)0xC3)]
    [TestCase((byte)0xFF)]
    public void Non_printable_byte_in_cookie_is_an_invalid_cookie(byte bad)
    {
        byte[] input = [(byte)'R', (byte)'a', bad, (byte)'b', (byte)'\n'];

        var status = HandshakeParser.TryParse(new ReadOnlySequence<byte>(input), out _, out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
    }

    [TestCase((byte)0x00)]
    [TestCase((byte)' ')]
    [TestCase((byte)0x7F)]
    [TestCase((byte)0xE2)]
    public void Non_printable_byte_in_cookie_is_reported_before_the_newline(byte bad)
    {
        byte[] input = [(byte)'I', (byte)'a', bad];

        var status = HandshakeParser.TryParse(new ReadOnlySequence<byte>(input), out _, out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
    }

    [Test]
    public void Lone_carriage_return_in_the_middle_is_an_invalid_cookie()
    {
        var status = Parse("Rab\rcd\n", out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
    }

    [Test]
    public void Lone_carriage_return_in_the_middle_is_reported_before_the_newline()
    {
        var status = Parse("Rab\rc", out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
    }

    [Test]
    public void Two_carriage_returns_before_newline_are_an_invalid_cookie()
    {
        var status = Parse("Rab\r\r\n", out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
    }

    [TestCase("Rabc123\n", HandshakeMode.Responder, "abc123")]
    [TestCase("Iabc123\r\n", HandshakeMode.Initiator, "abc123")]
    [TestCase("R\n", HandshakeMode.Responder, "")]
    public void Line_fed_one_byte_at_a_time_parses_once_the_newline_arrives(string text, HandshakeMode mode, string cookie)
    {
        var (status, line, rest, calls) = FeedOneByteAtATime(Encoding.ASCII.GetBytes(text + "tail"));

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(mode, cookie)));
        Assert.That(calls, Is.EqualTo(text.Length), "complete exactly when the newline arrives");
        Assert.That(rest, Is.Empty, "the bytes after the line had not arrived yet");
    }

    [Test]
    public void Longest_line_fed_one_byte_at_a_time_parses()
    {
        var (status, line, _, _) = FeedOneByteAtATime(Encoding.ASCII.GetBytes("I" + LongestCookie + "\r\n"));

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo(LongestCookie));
    }

    [Test]
    public void Over_long_line_fed_one_byte_at_a_time_is_too_long_at_byte_258()
    {
        var (status, _, _, calls) = FeedOneByteAtATime(Encoding.ASCII.GetBytes("R" + new string('x', 1000) + "\n"));

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.LineTooLong));
        Assert.That(calls, Is.EqualTo(HandshakeParser.MaxLineLength + 2));
    }

    [Test]
    public void Control_byte_fed_one_byte_at_a_time_is_invalid_as_soon_as_it_arrives()
    {
        var (status, _, _, calls) = FeedOneByteAtATime("Rabc\u0001def\n"u8.ToArray());

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
        Assert.That(calls, Is.EqualTo(5));
    }

    [Test]
    public void Lone_carriage_return_fed_one_byte_at_a_time_is_invalid_when_the_next_byte_arrives()
    {
        var (status, _, _, calls) = FeedOneByteAtATime("Rab\rcd\n"u8.ToArray());

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
        Assert.That(calls, Is.EqualTo(5));
    }

    [Test]
    public void Bad_first_byte_fed_one_byte_at_a_time_is_invalid_at_the_first_byte()
    {
        var (status, _, _, calls) = FeedOneByteAtATime("Xabc\n"u8.ToArray());

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public void Line_split_one_byte_per_segment_parses_and_leaves_the_rest()
    {
        byte[] input = [.. "Iabc\r\n"u8, 0x00, 0xFF];
        var buffer = TestSequence.OneBytePerSegment(input);

        var status = HandshakeParser.TryParse(buffer, out var line, out var consumed, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Initiator, "abc")));
        Assert.That(buffer.Slice(consumed).ToArray(), Is.EqualTo(new byte[] { 0x00, 0xFF }));
    }

    [Test]
    public void Line_split_at_every_offset_into_two_segments_parses_the_same()
    {
        byte[] input = [.. "Rcookie\r\n"u8, 0x42];
        for (var cut = 0; cut <= input.Length; cut++)
        {
            var buffer = TestSequence.Split(input, cut);

            var status = HandshakeParser.TryParse(buffer, out var line, out var consumed, out _);

            Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete), $"cut at {cut}");
            Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Responder, "cookie")), $"cut at {cut}");
            Assert.That(buffer.Slice(consumed).ToArray(), Is.EqualTo(new byte[] { 0x42 }), $"cut at {cut}");
        }
    }

    [Test]
    public void Line_with_empty_segments_between_carriage_return_and_newline_parses()
    {
        var buffer = TestSequence.Create("Rab"u8.ToArray(), "c\r"u8.ToArray(), [], [], "\n"u8.ToArray(), []);

        var status = HandshakeParser.TryParse(buffer, out var line, out var consumed, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo("abc"));
        Assert.That(buffer.Slice(consumed).Length, Is.Zero);
    }

    [Test]
    public void Line_with_empty_segments_everywhere_parses()
    {
        var buffer = TestSequence.Create([], "R"u8.ToArray(), [], "x"u8.ToArray(), [], "\r"u8.ToArray(), [], "\n"u8.ToArray());

        var status = HandshakeParser.TryParse(buffer, out var line, out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo("x"));
    }

    [Test]
    public void Longest_line_split_across_segments_is_accepted_and_one_more_byte_is_too_long()
    {
        var ok = Encoding.ASCII.GetBytes("R" + LongestCookie + "\r\n");
        var tooLong = Encoding.ASCII.GetBytes("R" + LongestCookie + "c\n");

        var okStatus = HandshakeParser.TryParse(TestSequence.Split(ok, 100, 200, 256), out var line, out _, out _);
        var tooLongStatus = HandshakeParser.TryParse(TestSequence.Split(tooLong, 100, 200, 256), out _, out _, out _);

        Assert.That(okStatus, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo(LongestCookie));
        Assert.That(tooLongStatus, Is.EqualTo(HandshakeParseStatus.LineTooLong));
    }

    [Test]
    public void Invalid_byte_in_a_later_segment_is_an_invalid_cookie()
    {
        var buffer = TestSequence.Create("Rabc"u8.ToArray(), "de"u8.ToArray(), [0x7F]);

        var status = HandshakeParser.TryParse(buffer, out _, out _, out _);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.InvalidCookie));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public async Task Line_through_a_pipe_written_in_random_chunks_parses_and_leaves_the_rest(int seed)
    {
        var random = new Random(seed);
        var cookie = new string([.. Enumerable.Range(0, 40).Select(_ => (char)random.Next(0x21, 0x7F))]);
        var tail = new byte[300];
        random.NextBytes(tail);
        byte[] input = [.. Encoding.ASCII.GetBytes("I" + cookie + "\r\n"), .. tail];
        var pipe = new Pipe(new PipeOptions(pool: new TinyBlockMemoryPool(7), minimumSegmentSize: 7, useSynchronizationContext: false));

        var writing = WriteInRandomChunksAsync(pipe.Writer, input, random);
        var (status, line) = await ReadLineAsync(pipe.Reader).WaitAsync(TestTimeouts.Short);
        var rest = await ReadToEndAsync(pipe.Reader).WaitAsync(TestTimeouts.Short);
        await writing.WaitAsync(TestTimeouts.Short);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line, Is.EqualTo(new HandshakeLine(HandshakeMode.Initiator, cookie)));
        Assert.That(rest, Is.EqualTo(tail));
    }

    [Test]
    public async Task Over_long_line_through_a_pipe_is_too_long_before_the_writer_finishes()
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes("R" + new string('z', 300))).AsTask().WaitAsync(TestTimeouts.Short);

        var (status, _) = await ReadLineAsync(pipe.Reader).WaitAsync(TestTimeouts.Short);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.LineTooLong));
    }

    [Test]
    public async Task Pipe_completed_before_the_newline_leaves_the_line_incomplete()
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        await pipe.Writer.WriteAsync("Rabc"u8.ToArray()).AsTask().WaitAsync(TestTimeouts.Short);
        await pipe.Writer.CompleteAsync();

        var (status, _) = await ReadLineAsync(pipe.Reader).WaitAsync(TestTimeouts.Short);

        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Incomplete));
    }

    [Test]
    public async Task Cancelled_read_before_the_newline_leaves_the_partial_line_for_the_next_read()
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        await pipe.Writer.WriteAsync("Rab"u8.ToArray()).AsTask().WaitAsync(TestTimeouts.Short);

        var first = await pipe.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Short);
        var firstStatus = HandshakeParser.TryParse(first.Buffer, out _, out var consumed, out var examined);
        pipe.Reader.AdvanceTo(consumed, examined);
        using (var cancel = new CancellationTokenSource())
        {
            var pending = pipe.Reader.ReadAsync(cancel.Token).AsTask();
            await cancel.CancelAsync();
            Assert.That(async () => await pending.WaitAsync(TestTimeouts.Short), Throws.InstanceOf<OperationCanceledException>());
        }

        await pipe.Writer.WriteAsync("c\n"u8.ToArray()).AsTask().WaitAsync(TestTimeouts.Short);
        var (status, line) = await ReadLineAsync(pipe.Reader).WaitAsync(TestTimeouts.Short);

        Assert.That(firstStatus, Is.EqualTo(HandshakeParseStatus.Incomplete));
        Assert.That(status, Is.EqualTo(HandshakeParseStatus.Complete));
        Assert.That(line.Cookie, Is.EqualTo("abc"));
    }

    private static HandshakeParseStatus Parse(string text, out HandshakeLine line, out byte[] rest)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text));
        var status = HandshakeParser.TryParse(buffer, out line, out var consumed, out _);
        rest = buffer.Slice(consumed).ToArray();
        return status;
    }

    /// <summary>
    /// Feeds <paramref name="input"/> one byte at a time, calling TryParse after each byte on what a
    /// PipeReader would hand out: everything not consumed so far. Stops at the first result that is
    /// not Incomplete; returns it, the bytes left after the consumed position and the call count.
    /// </summary>
    private static (HandshakeParseStatus Status, HandshakeLine Line, byte[] Remainder, int Calls) FeedOneByteAtATime(byte[] input)
    {
        var unconsumed = new List<byte>();
        var calls = 0;
        foreach (var b in input)
        {
            unconsumed.Add(b);
            calls++;
            var buffer = TestSequence.OneBytePerSegment(unconsumed.ToArray());
            var status = HandshakeParser.TryParse(buffer, out var line, out var consumed, out var examined);
            if (status == HandshakeParseStatus.Incomplete)
            {
                Assert.That(consumed, Is.EqualTo(buffer.Start), "an incomplete line consumes nothing");
                Assert.That(examined, Is.EqualTo(buffer.End), "an incomplete line examines everything, so the reader waits for more");
                continue;
            }

            var rest = buffer.Slice(consumed).ToArray();
            unconsumed.RemoveRange(0, (int)buffer.Slice(0, consumed).Length);
            Assert.That(unconsumed, Is.EqualTo(rest));
            return (status, line, rest, calls);
        }

        return (HandshakeParseStatus.Incomplete, default, [.. unconsumed], calls);
    }

    private static async Task WriteInRandomChunksAsync(PipeWriter writer, byte[] input, Random random)
    {
        var offset = 0;
        while (offset < input.Length)
        {
            var size = Math.Min(random.Next(1, 12), input.Length - offset);
            await writer.WriteAsync(input.AsMemory(offset, size));
            offset += size;
            await Task.Yield();
        }

        await writer.CompleteAsync();
    }

    private static async Task<(HandshakeParseStatus Status, HandshakeLine Line)> ReadLineAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            var status = HandshakeParser.TryParse(result.Buffer, out var line, out var consumed, out var examined);
            reader.AdvanceTo(consumed, examined);
            if (status != HandshakeParseStatus.Incomplete || result.IsCompleted)
            {
                return (status, line);
            }
        }
    }

    private static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        var all = new List<byte>();
        while (true)
        {
            var result = await reader.ReadAsync();
            all.AddRange(result.Buffer.ToArray());
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return [.. all];
            }
        }
    }
}
