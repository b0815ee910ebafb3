using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Tests.Common;

/// <summary>
/// An in-memory <see cref="RelayConnection"/> made of two <see cref="Pipe"/>s. The test plays the remote
/// peer: it writes into <see cref="PeerWriter"/> (what the code under test reads from <see cref="Input"/>)
/// and reads <see cref="PeerReader"/> (what the code under test wrote to <see cref="Output"/>).
/// Completing <see cref="PeerWriter"/> is the peer's FIN; completing it with an exception is its RST.
/// <see cref="Abort"/> plays the transport dying: <see cref="Input"/> fails, writes to <see cref="Output"/>
/// fail, and <see cref="WasAborted"/> records it. <see cref="DisposeAsync"/> completes <see cref="Output"/>
/// (the peer sees the end of the stream) and <see cref="Input"/>. Both report the close to
/// <see cref="RelayConnection.OnClosed"/>, as the transport contract asks.
/// </summary>
public sealed class PipeRelayConnection : RelayConnection
{
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;
    private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _abortCount;
    private int _disposeCount;

    /// <summary>Creates a connection whose two pipes use <paramref name="options"/>.</summary>
    /// <param name="options">Pipe options for both directions; thread-pool scheduling and default thresholds when <see langword="null"/>.</param>
    /// <param name="remoteEndPoint">What <see cref="RemoteEndPoint"/> reports.</param>
    public PipeRelayConnection(PipeOptions? options = null, EndPoint? remoteEndPoint = null)
    {
        options ??= new PipeOptions(useSynchronizationContext: false);
        _inbound = new Pipe(options);
        _outbound = new Pipe(options);
        RemoteEndPoint = remoteEndPoint ?? new IPEndPoint(IPAddress.Loopback, 40000);
    }

    /// <inheritdoc />
    public override PipeReader Input => _inbound.Reader;

    /// <inheritdoc />
    public override PipeWriter Output => _outbound.Writer;

    /// <inheritdoc />
    public override EndPoint? RemoteEndPoint { get; }

    /// <summary>The peer's sending end: bytes written here come out of <see cref="Input"/>.</summary>
    public PipeWriter PeerWriter => _inbound.Writer;

    /// <summary>The peer's receiving end: bytes written to <see cref="Output"/> come out here.</summary>
    public PipeReader PeerReader => _outbound.Reader;

    /// <summary>Whether <see cref="Abort"/> was called.</summary>
    public bool WasAborted => Volatile.Read(ref _abortCount) != 0;

    /// <summary>Whether <see cref="DisposeAsync"/> was called.</summary>
    public bool WasDisposed => Volatile.Read(ref _disposeCount) != 0;

    /// <summary>Completes when <see cref="Abort"/> is called.</summary>
    public Task Aborted => _aborted.Task;

    /// <summary>Completes when <see cref="DisposeAsync"/> has finished.</summary>
    public Task Disposed => _disposed.Task;

    /// <summary>Pipe options with inline scheduling (continuations run on the thread that wrote or read) and the given thresholds.</summary>
    /// <param name="pauseWriterThreshold">Unread bytes at which a writer's flush stops completing.</param>
    /// <param name="pool">The memory pool; the shared pool when <see langword="null"/>.</param>
    /// <returns>The options.</returns>
    public static PipeOptions InlineOptions(long pauseWriterThreshold = 64 * 1024, MemoryPool<byte>? pool = null) => new(
        pool: pool,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: pauseWriterThreshold,
        resumeWriterThreshold: pauseWriterThreshold / 2,
        useSynchronizationContext: false);

    /// <inheritdoc />
    public override void Abort()
    {
        if (Interlocked.Exchange(ref _abortCount, 1) != 0)
        {
            return;
        }

        var error = new IOException("The connection was aborted.");
        _inbound.Writer.Complete(error);
        _outbound.Reader.CancelPendingRead();
        _outbound.Reader.Complete(error);
        ReportClosed();
        _aborted.TrySetResult();
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }

        await _outbound.Writer.CompleteAsync().ConfigureAwait(false);
        await _inbound.Reader.CompleteAsync().ConfigureAwait(false);
        ReportClosed();
        _disposed.TrySetResult();
    }

    /// <summary>The peer sends ASCII text and flushes.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The flush result.</returns>
    public Task<FlushResult> SendAsync(string text) => SendAsync(Encoding.ASCII.GetBytes(text));

    /// <summary>The peer sends bytes and flushes.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The flush result.</returns>
    public async Task<FlushResult> SendAsync(ReadOnlyMemory<byte> bytes) =>
        await PeerWriter.WriteAsync(bytes).AsTask().WaitAsync(TestTimeouts.Short).ConfigureAwait(false);

    /// <summary>The peer ends its sending direction: cleanly (FIN) or, with <paramref name="error"/>, as a reset.</summary>
    /// <param name="error">The failure, for a reset.</param>
    public void CompleteSending(Exception? error = null) => PeerWriter.Complete(error);

    /// <summary>
    /// The peer reads exactly <paramref name="count"/> bytes of what was written to <see cref="Output"/>,
    /// consuming as it goes (so a writer paused by backpressure resumes).
    /// </summary>
    /// <param name="count">How many bytes.</param>
    /// <returns>The bytes.</returns>
    /// <exception cref="EndOfStreamException">The output ended first.</exception>
    public async Task<byte[]> ReadExactlyAsync(long count)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Short);
        var bytes = new byte[count];
        long filled = 0;
        while (filled < count)
        {
            var result = await PeerReader.ReadAsync(timeout.Token).ConfigureAwait(false);
            ThrowIfReset(result);
            var buffer = result.Buffer;
            var take = Math.Min(buffer.Length, count - filled);
            buffer.Slice(0, take).CopyTo(bytes.AsSpan((int)filled));
            filled += take;
            PeerReader.AdvanceTo(buffer.GetPosition(take));
            if (filled < count && result.IsCompleted)
            {
                throw new EndOfStreamException($"Expected {count} bytes, the output ended after {filled}.");
            }
        }

        return bytes;
    }

    /// <summary>The peer reads ASCII text of the given length.</summary>
    /// <param name="length">How many characters.</param>
    /// <returns>The text.</returns>
    public async Task<string> ReadAsciiAsync(int length) => Encoding.ASCII.GetString(await ReadExactlyAsync(length).ConfigureAwait(false));

    /// <summary>The peer reads everything written to <see cref="Output"/> until it is completed.</summary>
    /// <returns>The bytes.</returns>
    public async Task<byte[]> ReadToEndAsync()
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Long);
        var all = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await PeerReader.ReadAsync(timeout.Token).ConfigureAwait(false);
            ThrowIfReset(result);
            foreach (var segment in result.Buffer)
            {
                all.Write(segment.Span);
            }

            PeerReader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return all.WrittenSpan.ToArray();
            }
        }
    }

    /// <summary>The peer reads everything until the end of <see cref="Output"/>, as ASCII text.</summary>
    /// <returns>The text.</returns>
    public async Task<string> ReadToEndAsciiAsync() => Encoding.ASCII.GetString(await ReadToEndAsync().ConfigureAwait(false));

    /// <summary>How many bytes written to <see cref="Output"/> the peer has not read yet, without reading them.</summary>
    /// <returns>The count.</returns>
    public long PeekUnreadLength()
    {
        if (!PeerReader.TryRead(out var result))
        {
            return 0;
        }

        var length = result.Buffer.Length;
        PeerReader.AdvanceTo(result.Buffer.Start);
        return length;
    }

    private void ThrowIfReset(ReadResult result)
    {
        if (result.IsCanceled && WasAborted)
        {
            throw new IOException("The connection was aborted.");
        }
    }
}
