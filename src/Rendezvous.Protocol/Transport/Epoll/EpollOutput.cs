using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>
/// <see cref="RelayConnection.Output"/> of an <see cref="EpollRelayConnection"/>: a <see cref="PipeWriter"/> that sends
/// from the flushing thread at once and leaves what the socket does not take to the connection's loop, which sends it
/// when the socket is writable again. Its buffer is rented at the first write and returned once everything was sent.
/// A flush waits only while more than the connection's limit is unsent (backpressure), until half of it went out.
/// Completing it sends a half-close (FIN) once everything was sent. Every member runs under the connection's lock.
/// </summary>
internal sealed class EpollOutput : PipeWriter, IValueTaskSource<FlushResult>
{
    private const int MinimumBufferSize = 4096;

    private readonly EpollRelayConnection _connection;
    private readonly int _limit;
    private EpollWaiter _wait;
    private byte[]? _buffer;
    private int _sent;
    private int _written;
    private bool _leased;

    /// <summary>While a flush waits: how many unsent bytes let it go on (half the limit; 0 to wait for everything).</summary>
    private int _resumeAt;
    private bool _canceled;

    internal EpollOutput(EpollRelayConnection connection, int limit)
    {
        _connection = connection;
        _limit = Math.Max(1, limit);
    }

    /// <summary>Whether the writer completed (a half-close follows once everything was sent).</summary>
    internal bool WriterCompleted { get; private set; }

    /// <summary>Whether sending failed (the peer reset, or the connection was aborted).</summary>
    internal bool Failed { get; private set; }

    /// <summary>Whether a half-close was sent.</summary>
    internal bool ShutDown { get; private set; }

    /// <summary>Bytes written and flushed or not, but not sent yet.</summary>
    internal int Unsent => _written - _sent;

    /// <summary>Whether a flush waits, or memory is leased: the output cannot be handed over now.</summary>
    internal bool IsBusy => _wait.IsWaiting || _leased;

    /// <summary>The bytes not sent yet (for a hand-over to a direct splice). Call under the connection's lock.</summary>
    internal ReadOnlySpan<byte> Pending => _buffer is null ? default : _buffer.AsSpan(_sent, _written - _sent);

    /// <summary>Sends what the socket takes; when all is sent after the writer completed, sends the half-close. Call under the connection's lock.</summary>
    /// <returns>Whether a waiting flush is to be woken (call <see cref="Wake()"/> after releasing the lock).</returns>
    internal unsafe bool Send()
    {
        while (_written > _sent && !Failed)
        {
            int errno;
            nint sent;
            fixed (byte* start = &_buffer![_sent])
            {
                sent = _connection.SendRaw(start, _written - _sent, out errno);
            }

            if (sent >= 0)
            {
                _sent += (int)sent;
            }
            else if (errno == EpollNative.EAGAIN)
            {
                break;
            }
            else
            {
                Failed = true;
            }
        }

        if (_written == _sent && !_leased)
        {
            ReturnBuffer();
        }

        if (_written == _sent && WriterCompleted && !ShutDown && !Failed)
        {
            ShutDown = true;
            _connection.ShutdownSend();
        }

        return _wait.IsWaiting && (Failed || Unsent <= _resumeAt);
    }

    /// <summary>Fails the output (the connection was aborted). Call under the connection's lock.</summary>
    /// <returns>Whether a waiting flush is to be woken.</returns>
    internal bool Fail()
    {
        Failed = true;
        return _wait.IsWaiting;
    }

    /// <summary>Returns the buffer and stops the writer for good (after a hand-over or a close). Call under the connection's lock.</summary>
    internal void Detach()
    {
        WriterCompleted = true;
        ShutDown = true;
        _leased = false;
        ReturnBuffer();
    }

    /// <summary>Wakes a waiting flush, outside the connection's lock.</summary>
    internal void Wake() => Wake(canceled: false);

    /// <summary>Waits until everything written was sent (or sending failed), for a graceful close.</summary>
    internal ValueTask<FlushResult> SendAllAsync(CancellationToken cancellationToken) => Flush(0, cancellationToken);

    /// <inheritdoc />
    public override void Advance(int bytes)
    {
        lock (_connection)
        {
            if (!_leased || bytes < 0 || _buffer is null || _written + bytes > _buffer.Length)
            {
                throw new InvalidOperationException(_leased ? "Advanced past the memory that was asked for." : "Advance without GetMemory or GetSpan.");
            }

            _written += bytes;
            _leased = false;
        }
    }

    /// <inheritdoc />
    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        lock (_connection)
        {
            return Lease(sizeHint);
        }
    }

    /// <inheritdoc />
    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    /// <inheritdoc />
    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => Flush(_limit / 2, cancellationToken);

    /// <inheritdoc />
    public override void CancelPendingFlush()
    {
        lock (_connection)
        {
            _canceled = true;
        }

        Wake();
    }

    /// <inheritdoc />
    public override void Complete(Exception? exception = null)
    {
        if (exception is not null)
        {
            _connection.Abort();
            return;
        }

        bool wake;
        lock (_connection)
        {
            if (WriterCompleted)
            {
                return;
            }

            WriterCompleted = true;
            _leased = false;
            wake = Send();
        }

        if (wake)
        {
            Wake();
        }
    }

    /// <inheritdoc />
    public FlushResult GetResult(short token)
    {
        _wait.End(token);
        lock (_connection)
        {
            _wait.ThrowIfCanceled();
            return TakeResult();
        }
    }

    /// <inheritdoc />
    public ValueTaskSourceStatus GetStatus(short token) => _wait.GetStatus(token);

    /// <inheritdoc />
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);

    private ValueTask<FlushResult> Flush(int resumeAt, CancellationToken cancellationToken)
    {
        short version;
        lock (_connection)
        {
            if (!_canceled && !Failed && !ShutDown)
            {
                _ = Send();
            }

            if (_canceled || Failed || ShutDown || Unsent <= (resumeAt == 0 ? 0 : _limit))
            {
                return new ValueTask<FlushResult>(TakeResult());
            }

            if (_wait.IsWaiting)
            {
                // One waiter only (one value task source): a second wait would orphan the first, which then never completes.
                throw new InvalidOperationException("A flush is waiting already: concurrent flushes are not supported.");
            }

            _resumeAt = resumeAt;
            version = _wait.Begin(cancellationToken);
        }

        _wait.Register(static state => ((EpollOutput)state!).Wake(canceled: true), this);
        return new ValueTask<FlushResult>(this, version);
    }

    private FlushResult TakeResult()
    {
        var canceled = _canceled;
        _canceled = false;
        return new FlushResult(canceled, isCompleted: Failed);
    }

    private void Wake(bool canceled)
    {
        bool wake;
        lock (_connection)
        {
            wake = _wait.Take(canceled);
        }

        if (wake)
        {
            _wait.Complete();
        }
    }

    private Memory<byte> Lease(int sizeHint)
    {
        if (WriterCompleted)
        {
            throw new InvalidOperationException("Writing is not allowed after the writer was completed.");
        }

        var size = Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(size, MinimumBufferSize));
            _sent = _written = 0;
        }
        else if (_buffer.Length - _written < size)
        {
            var unsent = _written - _sent;
            if (_buffer.Length - unsent >= size && _sent > 0)
            {
                Buffer.BlockCopy(_buffer, _sent, _buffer, 0, unsent);
            }
            else
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(unsent + size, _buffer.Length * 2));
                Buffer.BlockCopy(_buffer, _sent, larger, 0, unsent);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }

            _sent = 0;
            _written = unsent;
        }

        _leased = true;
        return _buffer.AsMemory(_written);
    }

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _sent = _written = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
