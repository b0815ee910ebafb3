namespace Rendezvous.Client.Internal;

/// <summary>
/// A pass-through stream over a new connection that hands the first bytes it receives to <c>observe</c>,
/// once: the registrar client looks at them when the TLS handshake fails, to tell a peer that does not speak
/// TLS at all (a relay's <c>-ERR</c> line, a plain HTTP server) from a TLS peer that refused.
/// </summary>
internal sealed class FirstBytesStream(Stream inner, Action<byte[]> observe) : PassThroughStream(inner)
{
    /// <summary>How many of the first bytes are handed on: enough for a line of text.</summary>
    private const int Kept = 64;

    private bool _seen;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = Inner.Read(buffer);
        Observe(buffer[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Observe(buffer.Span[..read]);
        return read;
    }

    private void Observe(ReadOnlySpan<byte> received)
    {
        if (_seen || received.IsEmpty)
        {
            return;
        }

        _seen = true;
        observe(received[..Math.Min(received.Length, Kept)].ToArray());
    }
}
