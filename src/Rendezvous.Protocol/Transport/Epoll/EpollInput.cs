using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>
/// <see cref="RelayConnection.Input"/> of an <see cref="EpollRelayConnection"/>: a <see cref="PipeReader"/> over one
/// pooled buffer that the connection's loop fills straight from the descriptor when it is readable. The buffer is
/// rented when bytes arrive (a first read of 256 bytes, then growing to the connection's limit) and returned once the
/// reader consumed everything, so an idle connection holds none. Once the buffer is at its limit the loop stops
/// reading (backpressure) until the reader consumes. Every member runs under the connection's lock; waiting readers
/// are woken after it is released.
/// </summary>
internal sealed class EpollInput : PipeReader, IValueTaskSource<ReadResult>
{
    /// <summary>The first read after the buffer was empty: a usual first line fits.</summary>
    internal const int FirstReadSize = 256;
    private const int SegmentSize = 16 * 1024;

    private readonly EpollRelayConnection _connection;
    private readonly int _limit;
    private EpollWaiter _wait;
    private byte[]? _buffer;
    private int _start;
    private int _end;

    /// <summary>The absolute index up to which the reader has examined; a read waits for bytes beyond it.</summary>
    private int _examined;
    private bool _canceled;
    private bool _holding;

    internal EpollInput(EpollRelayConnection connection, int limit)
    {
        _connection = connection;
        _limit = Math.Max(FirstReadSize, limit);
    }

    /// <summary>Whether the reader completed: nothing reads any more.</summary>
    internal bool ReaderCompleted { get; private set; }

    /// <summary>Whether the peer ended its sending direction (read returned 0).</summary>
    internal bool Ended { get; private set; }

    /// <summary>Why the input failed, if it did.</summary>
    internal Exception? Error { get; private set; }

    /// <summary>Whether a read is waiting for bytes.</summary>
    internal bool IsWaiting => _wait.IsWaiting;

    /// <summary>Whether a read result is out (between a read and its <see cref="AdvanceTo(SequencePosition, SequencePosition)"/>).</summary>
    internal bool IsHolding => _holding;

    /// <summary>Reads what the descriptor has into the buffer, while there is room. Call under the connection's lock.</summary>
    /// <returns>Whether a waiting read is to be woken (call <see cref="Wake()"/> after releasing the lock).</returns>
    internal unsafe bool Fill()
    {
        var before = _end;
        while (_connection.InputReadable && !Ended && Error is null && !ReaderCompleted)
        {
            var space = MakeRoom();
            if (space == 0)
            {
                break;
            }

            int errno;
            nint read;
            fixed (byte* start = &_buffer![_end])
            {
                read = _connection.Receive(start, space, out errno);
            }

            if (read > 0)
            {
                _end += (int)read;
                if (read < space && !_connection.PeerClosing)
                {
                    // Drained for now: new bytes bring a new edge.
                    _connection.InputReadable = false;
                }
            }
            else if (read == 0)
            {
                Ended = true;
            }
            else if (errno == EpollNative.EAGAIN)
            {
                _connection.InputReadable = false;
            }
            else
            {
                Error = new IOException($"The connection was reset or failed ({EpollNative.SocketError(errno).SocketErrorCode}).", EpollNative.SocketError(errno));
            }
        }

        ReleaseIfEmpty();
        return _wait.IsWaiting && (_end > before || Ended || Error is not null);
    }

    /// <summary>Fails the input (the connection was aborted). Call under the connection's lock.</summary>
    /// <returns>Whether a waiting read is to be woken.</returns>
    internal bool Fail(Exception error)
    {
        Error ??= error;
        return _wait.IsWaiting;
    }

    /// <summary>Takes the bytes not consumed yet and drops the buffer: the connection is spliced. Call under the connection's lock.</summary>
    internal ReadOnlySpan<byte> Unread => _buffer is null ? default : _buffer.AsSpan(_start, _end - _start);

    /// <summary>Returns the buffer and stops the reader for good (after a direct splice or a close). Call under the connection's lock.</summary>
    internal void Detach()
    {
        ReaderCompleted = true;
        ReturnBuffer();
    }

    /// <summary>Wakes a waiting read, outside the connection's lock.</summary>
    internal void Wake() => Wake(canceled: false);

    /// <inheritdoc />
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        short version;
        lock (_connection)
        {
            ThrowIfNotReadable();
            if (TryTakeResult(out var result))
            {
                return new ValueTask<ReadResult>(result);
            }

            version = _wait.Begin(cancellationToken);
        }

        _wait.Register(static state => ((EpollInput)state!).Wake(canceled: true), this);
        return new ValueTask<ReadResult>(this, version);
    }

    /// <inheritdoc />
    public override bool TryRead(out ReadResult result)
    {
        lock (_connection)
        {
            ThrowIfNotReadable();
            return TryTakeResult(out result);
        }
    }

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        bool wake;
        lock (_connection)
        {
            if (!_holding)
            {
                throw new InvalidOperationException("No read result to advance: call ReadAsync or TryRead first.");
            }

            _holding = false;
            if (_buffer is not null && ReferenceEquals(consumed.GetObject(), _buffer))
            {
                var consumedAt = consumed.GetInteger();
                var examinedAt = ReferenceEquals(examined.GetObject(), _buffer) ? examined.GetInteger() : consumedAt;
                if (consumedAt < _start || consumedAt > _end || examinedAt < consumedAt || examinedAt > _end)
                {
                    throw new InvalidOperationException("The position is outside the last read result.");
                }

                _start = consumedAt;
                _examined = examinedAt;
            }

            ReleaseIfEmpty();

            // Room again after backpressure or a held result: read what waited in the kernel.
            wake = _connection.InputReadable && Fill();
        }

        if (wake)
        {
            Wake();
        }
    }

    /// <inheritdoc />
    public override void CancelPendingRead()
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
        lock (_connection)
        {
            ReaderCompleted = true;
            _holding = false;
            ReturnBuffer();
        }
    }

    /// <inheritdoc />
    public ReadResult GetResult(short token)
    {
        _wait.End(token);
        lock (_connection)
        {
            _wait.ThrowIfCanceled();
            if (ReaderCompleted)
            {
                // Closed while waiting: the close's error, as a read on a closed socket transport gets.
                throw Error ?? new InvalidOperationException("The reader was completed.");
            }

            if (TryTakeResult(out var result))
            {
                return result;
            }

            // Woken without news (a race with a splice or a close): report the input as it is.
            _holding = true;
            return new ReadResult(Sequence(), isCanceled: false, isCompleted: true);
        }
    }

    /// <inheritdoc />
    public ValueTaskSourceStatus GetStatus(short token) => _wait.GetStatus(token);

    /// <inheritdoc />
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);

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

    private void ThrowIfNotReadable()
    {
        if (ReaderCompleted)
        {
            throw new InvalidOperationException("The reader was completed.");
        }

        if (_holding)
        {
            throw new InvalidOperationException("A read result is still out: advance it before reading again.");
        }

        if (_wait.IsWaiting)
        {
            // One waiter only (one value task source): a second read would orphan the first, which then never completes.
            throw new InvalidOperationException("A read is waiting already: concurrent reads are not supported.");
        }
    }

    private bool TryTakeResult(out ReadResult result)
    {
        if (_canceled)
        {
            _canceled = false;
            _holding = true;
            result = new ReadResult(Sequence(), isCanceled: true, isCompleted: false);
            return true;
        }

        if (Error is { } error)
        {
            throw error;
        }

        if (_end > _examined || Ended)
        {
            _holding = true;
            result = new ReadResult(Sequence(), isCanceled: false, isCompleted: Ended);
            return true;
        }

        result = default;
        return false;
    }

    private ReadOnlySequence<byte> Sequence() =>
        _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);

    /// <summary>Makes room at the end of the buffer.</summary>
    /// <returns>How many bytes fit; 0 when the buffer is at its limit or a read result pins it.</returns>
    private int MakeRoom()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(FirstReadSize);
            _start = _end = _examined = 0;
            return _buffer.Length;
        }

        if (_end < _buffer.Length)
        {
            return _buffer.Length - _end;
        }

        if (_holding)
        {
            return 0;
        }

        var length = _end - _start;
        if (_start > 0 && length < _buffer.Length / 2)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, length);
        }
        else if (_buffer.Length >= _limit)
        {
            if (_start == 0)
            {
                return 0;
            }

            Buffer.BlockCopy(_buffer, _start, _buffer, 0, length);
        }
        else
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(_limit, Math.Max(SegmentSize, _buffer.Length * 2)));
            Buffer.BlockCopy(_buffer, _start, larger, 0, length);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        _examined -= _start;
        _start = 0;
        _end = length;
        return _buffer.Length - _end;
    }

    private void ReleaseIfEmpty()
    {
        if (_start == _end && !_holding)
        {
            ReturnBuffer();
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _start = _end = _examined = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
