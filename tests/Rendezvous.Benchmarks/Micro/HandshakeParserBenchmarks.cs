using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Rendezvous.Protocol.Wire;

namespace Rendezvous.Benchmarks.Micro;

/// <summary><see cref="HandshakeParser.TryParse"/> on a complete line in one segment, split over three segments, and an incomplete line.</summary>
[MemoryDiagnoser]
public class HandshakeParserBenchmarks
{
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _split;
    private ReadOnlySequence<byte> _partial;

    [GlobalSetup]
    public void Setup()
    {
        var line = Encoding.ASCII.GetBytes("RwNjdh8ntwAa8epXymqOQbtuhEIEng6TL\r\n");
        _single = new ReadOnlySequence<byte>(line);
        _split = Segments.Create(line[..5], line[5..20], line[20..]);
        _partial = new ReadOnlySequence<byte>(line.AsMemory(0, 20));
    }

    [Benchmark(Baseline = true)]
    public HandshakeParseStatus CompleteLine() => HandshakeParser.TryParse(_single, out _, out _, out _);

    [Benchmark]
    public HandshakeParseStatus CompleteLineThreeSegments() => HandshakeParser.TryParse(_split, out _, out _, out _);

    [Benchmark]
    public HandshakeParseStatus IncompleteLine() => HandshakeParser.TryParse(_partial, out _, out _, out _);

    private sealed class Segments : ReadOnlySequenceSegment<byte>
    {
        private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public static ReadOnlySequence<byte> Create(params byte[][] parts)
        {
            var first = new Segments(parts[0], 0);
            var last = first;
            foreach (var part in parts.Skip(1))
            {
                var next = new Segments(part, last.RunningIndex + last.Memory.Length);
                last.Next = next;
                last = next;
            }

            return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        }
    }
}
