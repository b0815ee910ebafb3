using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Rendezvous.Protocol.Splicing;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// A <see cref="RelayConnection"/> over a connected TCP socket. Unlike Kestrel's socket transport it can
/// end only the sending direction (<c>Socket.Shutdown(SocketShutdown.Send)</c>), which the rendezvous
/// protocol needs to pass half-closes on. Receives start with a zero-byte read so that an idle
/// connection holds no buffer. Two such connections can be spliced directly (see
/// <see cref="Splicing.Splicer"/> and <see cref="IDirectSpliceFeature"/>): their pipes are then released and each
/// receive loop copies straight into the other socket with a pooled buffer it holds only while data flows.
/// </summary>
public sealed partial class SocketRelayConnection : RelayConnection, IDirectSpliceFeature
{
    private const int ReceiveSegmentSize = 16 * 1024;

    /// <summary>
    /// The first read after a wait for data, and the input pipe's smallest segment: a usual first line fits
    /// (<c>R</c> or <c>I</c>, a cookie of 32 characters, <c>\n</c>); one of the longest allowed
    /// (<see cref="Wire.HandshakeParser.MaxLineLength"/>) takes one more read.
    /// </summary>
    internal const int FirstReadSize = 256;
    private const int MaxDirectBufferSize = 64 * 1024;
    private static readonly TimeSpan DefaultLingerDrain = TimeSpan.FromSeconds(2);
    private static PipeOptions? s_inputOptions;
    private static PipeOptions? s_outputOptions;

    private readonly Socket _socket;
    private readonly SocketOperation _receiveOp = new();
    private readonly int _directBufferSize;
    private readonly Task<CopyEnd> _receiveLoop;
    private Pipe? _received;
    private Pipe? _toSend;
    private SocketOperation? _sendOp;
    private Task<bool>? _sendLoop;

    /// <summary>The send pipe's options, kept until <see cref="Output"/> is first used (then the send side starts).</summary>
    private readonly PipeOptions _sendOptions;
    private int _aborted;
    private int _disposed;

    /// <summary>
    /// Guards the switch to a direct splice. It is the receive operation, which is private and locked
    /// nowhere else: one object less per connection (there are two per session and thousands of sessions).
    /// </summary>
    private object Gate => _receiveOp;

    private SocketRelayConnection(Socket socket, SocketTransportOptions options, MemoryPool<byte>? pool)
    {
        _socket = socket;
        RemoteEndPoint = socket.RemoteEndPoint;
        _directBufferSize = Math.Clamp(options.MaxReceiveBufferSize, 1, MaxDirectBufferSize);
        _received = new Pipe(PipeOptionsFor(ref s_inputOptions, pool, options.MaxReceiveBufferSize, FirstReadSize));
        _sendOptions = PipeOptionsFor(ref s_outputOptions, pool, options.MaxSendBufferSize, ReceiveSegmentSize);
        _receiveLoop = ReceiveLoopAsync();
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The connection was spliced directly; its pipes are gone.</exception>
    public override PipeReader Input => (_received ?? throw Spliced()).Reader;

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The connection was spliced directly; its pipes are gone.</exception>
    /// <remarks>
    /// The send side (pipe, socket operation, send loop) starts at the first use: a connection that never gets an
    /// answer (one that has not sent its first line yet) holds none of it.
    /// </remarks>
    public override PipeWriter Output => (_toSend ?? StartSending()).Writer;

    /// <inheritdoc />
    public override EndPoint? RemoteEndPoint { get; }

    /// <summary>The underlying socket, for options such as keep-alive. Do not read or write it directly.</summary>
    public Socket Socket => _socket;

    /// <summary>Wraps a connected socket and starts its receive and send loops.</summary>
    /// <param name="socket">A connected stream socket; the connection owns it from now on.</param>
    /// <param name="options">Buffer limits, Nagle and TCP keep-alive (on by default); defaults when <see langword="null"/>.</param>
    /// <param name="pool">The memory pool for buffers; the shared pool when <see langword="null"/>.</param>
    /// <returns>The connection.</returns>
    public static SocketRelayConnection Create(Socket socket, SocketTransportOptions? options = null, MemoryPool<byte>? pool = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        options ??= new SocketTransportOptions();
        ApplySocketOptions(socket, options);
        return new SocketRelayConnection(socket, options, pool);
    }

    /// <summary>Sets Nagle, the cap on unsent bytes and keep-alive on a TCP socket as <paramref name="options"/> say.</summary>
    internal static void ApplySocketOptions(Socket socket, SocketTransportOptions options)
    {
        if (socket.ProtocolType != ProtocolType.Tcp)
        {
            return;
        }

        if (options.NoDelay)
        {
            socket.NoDelay = true;
        }

        if (options.MaxUnsentBytes > 0)
        {
            SocketSendQueue.LimitUnsent(socket, options.MaxUnsentBytes);
        }

        if (options.KeepAlive)
        {
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)options.KeepAliveTime.TotalSeconds);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)options.KeepAliveInterval.TotalSeconds);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.KeepAliveRetryCount);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        }
    }

    /// <summary>Connects to <paramref name="endPoint"/> and wraps the socket.</summary>
    /// <param name="endPoint">Where to connect.</param>
    /// <param name="options">Buffer limits, Nagle and TCP keep-alive (on by default); defaults when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    /// <returns>The connection.</returns>
    public static async Task<SocketRelayConnection> ConnectAsync(EndPoint endPoint, SocketTransportOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var socket = endPoint is DnsEndPoint
            ? new Socket(SocketType.Stream, ProtocolType.Tcp)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return Create(socket, options);
    }

    /// <inheritdoc />
    public override void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _socket.ResetAndDispose();
        ReportClosed();
        try
        {
            _toSend?.Reader.CancelPendingRead();
            _received?.Writer.CancelPendingFlush();
        }
        catch (InvalidOperationException)
        {
            // The pipes were completed meanwhile: nothing waits on them.
        }
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        bool spliced;
        lock (Gate)
        {
            // Under the gate, as a splice checks it: either the splice happened before (spliced), or it sees the
            // connection disposed and declines; never both at once.
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            spliced = IsSplicedDirectly;
        }

        if (spliced)
        {
            // Both directions already ended (or failed and aborted both sockets): nothing is left to send or drain.
            _socket.Dispose();
            ReportClosed();
            await _receiveLoop.ConfigureAwait(false);
            return;
        }

        // Send what was written, then FIN (at once when nothing ever was).
        var toSend = _toSend;
        var sendLoop = _sendLoop;
        if (toSend is null || sendLoop is null)
        {
            ShutdownSend();
        }
        else
        {
            await toSend.Writer.CompleteAsync().ConfigureAwait(false);
            using var sendDeadline = new CancellationTokenSource(DefaultLingerDrain);
            try
            {
                await sendLoop.WaitAsync(sendDeadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Abort();
            }
        }

        // Drain what the peer still sends for a moment: closing a socket with unread bytes makes the
        // kernel send a reset, which can destroy our last reply (-ERR ...) before the peer reads it.
        await DrainInputAsync().ConfigureAwait(false);

        _socket.Dispose();
        ReportClosed();
        await _received!.Reader.CompleteAsync().ConfigureAwait(false);
        await _receiveLoop.ConfigureAwait(false);
        if (sendLoop is not null)
        {
            await sendLoop.ConfigureAwait(false);
        }
    }

    private static InvalidOperationException Spliced() => new("The connection is spliced directly to another socket; its pipes are closed.");

    /// <summary>
    /// The pipe options for these settings: the last ones made for the same settings (a connection's settings rarely
    /// change, and options are immutable), so thousands of connections share one object.
    /// </summary>
    private static PipeOptions PipeOptionsFor(ref PipeOptions? last, MemoryPool<byte>? pool, int pauseThreshold, int minimumSegmentSize)
    {
        var options = Volatile.Read(ref last);
        if (options is null || options.Pool != (pool ?? MemoryPool<byte>.Shared) || options.PauseWriterThreshold != pauseThreshold
            || options.MinimumSegmentSize != minimumSegmentSize)
        {
            options = CreatePipeOptions(pool, pauseThreshold, minimumSegmentSize);
            Volatile.Write(ref last, options);
        }

        return options;
    }

    private static PipeOptions CreatePipeOptions(MemoryPool<byte>? pool, int pauseThreshold, int minimumSegmentSize) => new(
        pool: pool,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: pauseThreshold,
        resumeWriterThreshold: pauseThreshold / 2,
        minimumSegmentSize: minimumSegmentSize,
        useSynchronizationContext: false);

    private async Task DrainInputAsync()
    {
        if (Volatile.Read(ref _aborted) != 0)
        {
            return;
        }

        var input = _received!.Reader;
        using var deadline = new CancellationTokenSource(DefaultLingerDrain);
        long drained = 0;
        try
        {
            while (drained < 4 * ReceiveSegmentSize)
            {
                var result = await input.ReadAsync(deadline.Token).ConfigureAwait(false);
                drained += result.Buffer.Length;
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or InvalidOperationException)
        {
            // Timed out, reset by the peer, or the reader was already completed by its user: nothing to drain.
        }
    }
}
