using System.Buffers;

namespace Rendezvous.Tests.Common;

/// <summary>Builds <see cref="ReadOnlySequence{T}"/>s of bytes split across several segments, as a pipe hands them out.</summary>
public static class TestSequence
{
    /// <summary>A sequence with one segment per array given (empty arrays make empty segments).</summary>
    /// <param name="segments">The segments, in order.</param>
    /// <returns>The sequence.</returns>
    public static ReadOnlySequence<byte> Create(params byte[][] segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        if (segments.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(segments[0]);
        var last = first;
        for (var i = 1; i < segments.Length; i++)
        {
            last = last.Append(segments[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Splits <paramref name="bytes"/> at the given offsets into a multi-segment sequence.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <param name="cuts">Offsets where a new segment starts, ascending; repeating an offset adds an empty segment.</param>
    /// <returns>The sequence.</returns>
    public static ReadOnlySequence<byte> Split(ReadOnlySpan<byte> bytes, params int[] cuts)
    {
        ArgumentNullException.ThrowIfNull(cuts);
        var parts = new List<byte[]>(cuts.Length + 1);
        var start = 0;
        foreach (var cut in cuts)
        {
            parts.Add(bytes[start..cut].ToArray());
            start = cut;
        }

        parts.Add(bytes[start..].ToArray());
        return Create([.. parts]);
    }

    /// <summary>One segment per byte.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The sequence.</returns>
    public static ReadOnlySequence<byte> OneBytePerSegment(ReadOnlySpan<byte> bytes)
    {
        var parts = new byte[bytes.Length][];
        for (var i = 0; i < bytes.Length; i++)
        {
            parts[i] = [bytes[i]];
        }

        return Create(parts);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory)
        {
            Memory = memory;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
