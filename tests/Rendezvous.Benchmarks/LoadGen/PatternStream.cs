namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>
/// A deterministic pseudo-random byte stream per session and direction, sent and checked without
/// allocating: every stream is the same shared random pattern (a prime length, about 1 MiB) entered at
/// an offset derived from its seed. A sender sends slices of the pattern; a receiver compares what
/// arrives with the slice it expects (vectorised), so a lost, duplicated, reordered or altered byte fails.
/// </summary>
internal struct PatternStream
{
    /// <summary>The largest slice handed out or checked at once.</summary>
    public const int MaxChunk = 64 * 1024;

    private const int PatternLength = 1_048_573; // prime, so no power-of-two chunking lines up with it

    private static readonly byte[] Pattern = CreatePattern();

    private readonly int _start;
    private long _offset;

    public PatternStream(ulong seed)
    {
        _start = (int)((seed * 0x9E3779B97F4A7C15UL) % PatternLength);
        _offset = 0;
    }

    /// <summary>How many bytes were sent or verified so far.</summary>
    public readonly long Offset => _offset;

    /// <summary>The next <paramref name="length"/> bytes of the stream (at most <see cref="MaxChunk"/>), without advancing.</summary>
    public readonly ReadOnlyMemory<byte> Peek(int length) => Pattern.AsMemory(Position, Math.Min(length, MaxChunk));

    /// <summary>Moves past <paramref name="count"/> bytes that were sent.</summary>
    public void Advance(int count) => _offset += count;

    /// <summary>Checks that <paramref name="received"/> is the next part of the stream, and moves past it.</summary>
    /// <exception cref="DataMismatchException">A byte differs.</exception>
    public void Verify(ReadOnlySpan<byte> received)
    {
        while (!received.IsEmpty)
        {
            var length = Math.Min(received.Length, MaxChunk);
            var expected = Pattern.AsSpan(Position, length);
            var chunk = received[..length];
            if (!chunk.SequenceEqual(expected))
            {
                var at = chunk.CommonPrefixLength(expected);
                throw new DataMismatchException($"byte {_offset + at} of the stream is 0x{chunk[at]:x2}, expected 0x{expected[at]:x2}");
            }

            _offset += length;
            received = received[length..];
        }
    }

    private readonly int Position => (int)((_start + _offset) % PatternLength);

    private static byte[] CreatePattern()
    {
        var pattern = new byte[PatternLength + MaxChunk];
        var state = 0x2545F4914F6CDD1DUL;
        for (var i = 0; i < PatternLength; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            pattern[i] = (byte)(state >> 32);
        }

        // The tail repeats the head, so any slice up to MaxChunk starting inside the pattern is contiguous.
        Array.Copy(pattern, 0, pattern, PatternLength, MaxChunk);
        return pattern;
    }
}

/// <summary>Received bytes differ from what was sent: the relay corrupted, lost or reordered data.</summary>
internal sealed class DataMismatchException : Exception
{
    public DataMismatchException()
    {
    }

    public DataMismatchException(string message)
        : base(message)
    {
    }

    public DataMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
