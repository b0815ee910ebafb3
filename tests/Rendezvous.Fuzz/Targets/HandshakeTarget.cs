using System.Buffers;
using Rendezvous.Protocol.Wire;
using Rendezvous.Tests.Common;

namespace Rendezvous.Fuzz.Targets;

/// <summary>
/// The relay's first-line parser, <see cref="HandshakeParser.TryParse"/>. The first input byte chooses how the rest
/// is cut into segments (as a socket delivers it); the rest is the bytes received. Beyond "no exception", the
/// parse must not depend on the segmentation, a complete line must be one the protocol allows, every shorter
/// prefix of a complete line must be incomplete, and once a prefix is refused every longer one is too (bad input
/// is reported as soon as it is seen, and never reconsidered).
/// </summary>
internal sealed class HandshakeTarget : FuzzTarget
{
    private const int MaxPrefixesChecked = HandshakeParser.MaxLineLength + 8;

    public override string Name => "handshake";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Rendezvous.Protocol.dll"];

    public override void Run(ReadOnlySpan<byte> input)
    {
        int segmentLength = input.IsEmpty ? 1 : (input[0] % 16) + 1;
        byte[] data = input.IsEmpty ? [] : input[1..].ToArray();

        var whole = Parse(new ReadOnlySequence<byte>(data), data);
        var split = Parse(Segments(data, segmentLength), data);
        if (whole != split)
        {
            throw new FuzzContractException($"one segment parsed as {whole}, segments of {segmentLength} bytes as {split}.");
        }

        CheckPrefixes(data, whole);
    }

    private static void CheckPrefixes(byte[] data, Outcome whole)
    {
        bool refused = false;
        int last = Math.Min(data.Length, MaxPrefixesChecked);
        for (int length = 0; length <= last; length++)
        {
            var prefix = Parse(new ReadOnlySequence<byte>(data, 0, length), data);
            if (whole.Status == HandshakeParseStatus.Complete && length < whole.Consumed && prefix.Status != HandshakeParseStatus.Incomplete)
            {
                throw new FuzzContractException($"the first {length} bytes of a valid line ({whole.Consumed} bytes) parsed as {prefix.Status}, not Incomplete.");
            }

            bool isRefusal = prefix.Status is HandshakeParseStatus.InvalidCookie or HandshakeParseStatus.LineTooLong;
            if (refused && !isRefusal)
            {
                throw new FuzzContractException($"the first {length} bytes parsed as {prefix.Status} although a shorter prefix was refused.");
            }

            refused |= isRefusal;
        }
    }

    private static Outcome Parse(ReadOnlySequence<byte> buffer, byte[] data)
    {
        var status = HandshakeParser.TryParse(buffer, out HandshakeLine line, out SequencePosition consumed, out SequencePosition examined);
        long consumedBytes = buffer.Slice(buffer.Start, consumed).Length;
        long examinedBytes = buffer.Slice(buffer.Start, examined).Length;
        if (examinedBytes < consumedBytes)
        {
            throw new FuzzContractException($"examined ({examinedBytes}) is before consumed ({consumedBytes}).");
        }

        if (status != HandshakeParseStatus.Complete)
        {
            if (consumedBytes != 0 || line != default)
            {
                throw new FuzzContractException($"{status} consumed {consumedBytes} bytes or returned a line.");
            }

            return new Outcome(status, 0, null);
        }

        if (line.Mode is not (HandshakeMode.Responder or HandshakeMode.Initiator) || line.Cookie is null)
        {
            throw new FuzzContractException($"a complete line has mode {(int)line.Mode} and cookie {line.Cookie ?? "null"}.");
        }

        if (line.Cookie.Length + 1 > HandshakeParser.MaxLineLength || line.Cookie.Any(c => c is < '!' or > '~'))
        {
            throw new FuzzContractException($"a complete line has a cookie of {line.Cookie.Length} characters outside the printable ASCII the protocol allows.");
        }

        // The line is the mode, the cookie, an optional '\r' and the '\n', at the very front of the input.
        int expected = line.Cookie.Length + 2 + (data.Length > line.Cookie.Length + 1 && data[line.Cookie.Length + 1] == '\r' ? 1 : 0);
        if (consumedBytes != expected || data[(int)consumedBytes - 1] != '\n' || data[0] != (byte)line.Mode)
        {
            throw new FuzzContractException($"a complete line of {line.Cookie.Length} cookie characters consumed {consumedBytes} bytes, expected {expected}.");
        }

        return new Outcome(status, consumedBytes, line.Cookie);
    }

    /// <summary>The bytes as a sequence of segments of <paramref name="length"/> bytes (the last may be shorter).</summary>
    private static ReadOnlySequence<byte> Segments(byte[] data, int length)
    {
        var cuts = new List<int>();
        for (int offset = length; offset < data.Length; offset += length)
        {
            cuts.Add(offset);
        }

        return TestSequence.Split(data, [.. cuts]);
    }

    private readonly record struct Outcome(HandshakeParseStatus Status, long Consumed, string? Cookie);
}
