using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// A <see cref="RelayConnection"/> over a connected TCP socket. Unlike Kestrel's socket transport it can
/// end only the sending direction (<c>Socket.Shutdown(SocketShutdown.Send)</c>), which the rendezvous
/// protocol needs to pass half-closes on. Receives start with a zero-byte read so that an idle
/// connection holds no buffer.
/// </summary>
public sealed class SocketRelayConnection : RelayConnection
{
    private const int ReceiveSegmentSize = 16 * 1024;
    private static readonly TimeSpan DefaultLingerDrain = TimeSpan.FromSeconds(2);

    private readonly Socket _socket;
    private readonly Pipe _received;
    private readonly Pipe _toSend;
    private readonly Task _receiveLoop;
    private readonly Task _sendLoop;
    private int _aborted;
    private int _disposed;

    private SocketRelayConnection(Socket socket, SocketTransportOptions options, MemoryPool<byte>? pool)
    {
        _socket = socket;
        RemoteEndPoint = socket.RemoteEndPoint;
        _received = new Pipe(CreatePipeOptions(pool, options.MaxReceiveBufferSize));
        _toSend = new Pipe(CreatePipeOptions(pool, options.MaxSendBufferSize));
        _receiveLoop = ReceiveLoopAsync();
        _sendLoop = SendLoopAsync();
    }

    /// <inheritdoc />
    public override PipeReader Input => _received.Reader;

    /// <inheritdoc />
    public override PipeWriter Output => _toSend.Writer;

    /// <inheritdoc />
    public override EndPoint? RemoteEndPoint { get; }

    /// <summary>The underlying socket, for options such as keep-alive. Do not read or write it directly.</summary>
    public Socket Socket => _socket;

    /// <summary>Wraps a connected socket and starts its receive and send loops.</summary>
    /// <param name="socket">A connected stream socket; the connection owns it from now on.</param>
    /// <param name="options">Buffer limits; defaults when <see langword="null"/>.</param>
    /// <param name="pool">The memory pool for buffers; the shared pool when <see langword="null"/>.</param>
    /// <returns>The connection.</returns>
    public static SocketRelayConnection Create(Socket socket, SocketTransportOptions? options = null, MemoryPool<byte>? pool = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        options ??= new SocketTransportOptions();
        if (options.NoDelay && socket.ProtocolType == ProtocolType.Tcp)
        {
            socket.NoDelay = true;
        }

        return new SocketRelayConnection(socket, options, pool);
    }

    /// <summary>Connects to <paramref name="endPoint"/> and wraps the socket.</summary>
    /// <param name="endPoint">Where to connect.</param>
    /// <param name="options">Buffer limits; defaults when <see langword="null"/>.</param>
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
        _toSend.Reader.CancelPendingRead();
        _received.Writer.CancelPendingFlush();
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Send what was written, then FIN.
        await _toSend.Writer.CompleteAsync().ConfigureAwait(false);
        using (var sendDeadline = new CancellationTokenSource(DefaultLingerDrain))
        {
            try
            {
                await _sendLoop.WaitAsync(sendDeadline.Token).ConfigureAwait(false);
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
        await _received.Reader.CompleteAsync().ConfigureAwait(false);
        await _receiveLoop.ConfigureAwait(false);
        await _sendLoop.ConfigureAwait(false);
    }

    private async Task DrainInputAsync()
    {
        if (Volatile.Read(ref _aborted) != 0)
        {
            return;
        }

        using var deadline = new CancellationTokenSource(DefaultLingerDrain);
        long drained = 0;
        try
        {
            while (drained < 4 * ReceiveSegmentSize)
            {
                var result = await _received.Reader.ReadAsync(deadline.Token).ConfigureAwait(false);
                drained += result.Buffer.Length;
                _received.Reader.AdvanceTo(result.Buffer.End);
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

    private static PipeOptions CreatePipeOptions(MemoryPool<byte>? pool, int pauseThreshold) => new(
        pool: pool,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: pauseThreshold,
        resumeWriterThreshold: pauseThreshold / 2,
        minimumSegmentSize: ReceiveSegmentSize,
        useSynchronizationContext: false);

    private async Task ReceiveLoopAsync()
    {
        await Task.Yield();
        var writer = _received.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                // Wait for data without holding a buffer, so idle connections cost no buffer memory.
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);

                var memory = writer.GetMemory(ReceiveSegmentSize);
                var read = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException ex)
        {
            error = new IOException($"The connection was reset or failed ({ex.SocketErrorCode}).", ex);
        }
        catch (ObjectDisposedException ex)
        {
            error = new IOException("The connection was aborted.", ex);
        }

        if (error is null && Volatile.Read(ref _aborted) != 0)
        {
            error = new IOException("The connection was aborted.");
        }

        await writer.CompleteAsync(error).ConfigureAwait(false);
    }

    private async Task SendLoopAsync()
    {
        await Task.Yield();
        var reader = _toSend.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    error = new IOException("The connection was aborted.");
                    break;
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    foreach (var segment in buffer)
                    {
                        await _socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                    }
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            if (Volatile.Read(ref _aborted) == 0)
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (SocketException ex)
        {
            error = new IOException($"Sending failed ({ex.SocketErrorCode}).", ex);
        }
        catch (ObjectDisposedException ex)
        {
            error = new IOException("The connection was aborted.", ex);
        }
        catch (Exception ex)
        {
            // The writer completed Output with an error: the session failed, so reset the connection.
            error = ex;
            Abort();
        }

        await reader.CompleteAsync(error).ConfigureAwait(false);
    }
}
