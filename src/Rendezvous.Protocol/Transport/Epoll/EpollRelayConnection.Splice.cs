using System.Buffers;
using Rendezvous.Protocol.Splicing;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>Direct splicing of two epoll connections: descriptor to descriptor, no pipes, no tasks of the transport's.</summary>
internal sealed partial class EpollRelayConnection : IDirectSpliceFeature
{
    /// <summary>The buffer each thread reads into while relaying directly; bytes outlive it only when the peer is full.</summary>
    [ThreadStatic]
    private static byte[]? t_scratch;

    /// <summary>The connection this one is spliced to directly; set once, under both locks.</summary>
    private EpollRelayConnection? _peer;

    /// <summary>Bytes read from this connection that the peer did not take yet (rented only while there are some).</summary>
    private byte[]? _pending;
    private int _pendingStart;
    private int _pendingEnd;
    private bool _inputEnded;
    private bool _relayEnded;
    private TaskCompletionSource<CopyEnd>? _relay;
    private Action<long>? _onBytes;
    private long _relayed;
    private int _failedFirst;

    /// <summary>The pipe this direction splices through while bytes are in it (borrowed from <see cref="EpollPipePool"/>).</summary>
    private EpollPipe? _pipe;
    private int _pipeBytes;

    /// <summary>Whether the direction carries bulk data (a read filled the buffer): it then moves bytes with <c>splice(2)</c>.</summary>
    private bool _bulk;

    /// <summary>A splice read shorter than this ends bulk mode: small messages go through user space, which is as cheap for them.</summary>
    private const int BulkThreshold = 16 * 1024;

    /// <inheritdoc />
    public Task<CopyEnd> DirectRelay => _relay?.Task ?? throw new InvalidOperationException("The connection is not spliced directly.");

    /// <inheritdoc />
    public bool FailedFirst => Volatile.Read(ref _failedFirst) != 0;

    /// <inheritdoc />
    public long RelayedDirectly => Interlocked.Read(ref _relayed);

    /// <inheritdoc />
    /// <remarks>
    /// Both must be epoll connections that are open, whose input has not ended and whose reader and writer are idle
    /// (no read or flush waiting). What each one's output holds unsent (<c>+OK</c>, early bytes) and then what the
    /// other's input holds unread become the first bytes of that direction; then each direction relays from its
    /// descriptor to the other's, on whichever loop sees it readable or its peer writable.
    /// </remarks>
    public ValueTask<bool> TrySpliceDirectAsync(RelayConnection peer, Action<long>? onBytes)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (peer is not EpollRelayConnection other || ReferenceEquals(other, this))
        {
            return ValueTask.FromResult(false);
        }

        // Two locks, always taken in the order of the descriptors (unique while both are open).
        var (first, second) = _fd < other._fd ? (this, other) : (other, this);
        long fromThis, fromOther;
        lock (first)
        {
            lock (second)
            {
                if (!CanSpliceDirectly || !other.CanSpliceDirectly)
                {
                    return ValueTask.FromResult(false);
                }

                fromThis = StartDirect(other, onBytes);
                fromOther = other.StartDirect(this, onBytes);
                // Reader and writer are done for good: dropped, so an idle spliced session holds neither.
                _input?.Detach();
                _output?.Detach();
                other._input?.Detach();
                other._output?.Detach();
                _input = other._input = null;
                _output = other._output = null;
            }
        }

        if (fromThis + fromOther > 0)
        {
            onBytes?.Invoke(fromThis + fromOther);
        }

        PumpDirect();
        other.PumpDirect();
        return ValueTask.FromResult(true);
    }

    /// <summary>Whether this connection's direction of a direct splice is still relaying.</summary>
    private bool IsRelaying
    {
        get
        {
            lock (this)
            {
                return _peer is not null && !_relayEnded;
            }
        }
    }

    /// <summary>Whether both directions of the direct splice ended (each read under its own connection's lock).</summary>
    private bool DirectRelayEnded => !IsRelaying && _peer?.IsRelaying != true;

    /// <summary>Whether nothing was spliced or closed, the input has not ended and reader and writer are idle. Under the lock.</summary>
    private bool CanSpliceDirectly =>
        _peer is null && Volatile.Read(ref _state) == 0
        && (_input is null || (!_input.Ended && _input.Error is null && !_input.IsWaiting && !_input.IsHolding && !_input.ReaderCompleted))
        && (_output is null || (!_output.IsBusy && !_output.WriterCompleted && !_output.Failed));

    /// <summary>
    /// Sets up the direction from this connection to <paramref name="peer"/>: its first bytes are what the peer's output
    /// holds unsent, then what this input holds unread. Under both locks.
    /// </summary>
    /// <returns>The bytes of this input counted as relayed.</returns>
    private long StartDirect(EpollRelayConnection peer, Action<long>? onBytes)
    {
        var written = peer._output is { } output ? output.Pending : default;
        var unread = _input is { } input ? input.Unread : default;
        if (written.Length + unread.Length > 0)
        {
            _pending = ArrayPool<byte>.Shared.Rent(written.Length + unread.Length);
            written.CopyTo(_pending);
            unread.CopyTo(_pending.AsSpan(written.Length));
            _pendingStart = 0;
            _pendingEnd = written.Length + unread.Length;
        }

        _relayed = unread.Length;
        _onBytes = onBytes;
        _relay = new TaskCompletionSource<CopyEnd>();
        _peer = peer;
        return unread.Length;
    }

    /// <summary>
    /// Relays this connection's input to the peer until the input is drained or the peer is full: what waits first, then
    /// fresh reads into the thread's scratch buffer; only what the peer does not take is kept (in a rented buffer). The
    /// end of the input becomes a half-close of the peer once everything went out; a failure aborts both.
    /// </summary>
    private unsafe void PumpDirect()
    {
        CopyEnd? end = null;
        long relayed = 0;
        EpollRelayConnection peer;
        lock (this)
        {
            if (_relayEnded || _peer is null)
            {
                return;
            }

            peer = _peer;
            var scratch = t_scratch ??= GC.AllocateUninitializedArray<byte>(MaxDirectBufferSize, pinned: true);
            var size = Math.Clamp(_inputLimit, 1, MaxDirectBufferSize);
            while (true)
            {
                int errno;
                if (_pending is { } pending)
                {
                    nint sent;
                    fixed (byte* start = &pending[_pendingStart])
                    {
                        sent = peer.SendRaw(start, _pendingEnd - _pendingStart, out errno);
                    }

                    if (sent < 0)
                    {
                        if (errno != EpollNative.EAGAIN)
                        {
                            end = CopyEnd.WriteFailed;
                        }

                        break;
                    }

                    _pendingStart += (int)sent;
                    if (_pendingStart < _pendingEnd)
                    {
                        // The peer is full: its next writable edge goes on.
                        break;
                    }

                    ReturnPending();
                }

                if (_pipe is { } full && _pipeBytes > 0)
                {
                    var moved = peer.SpliceOut(full.Read, _pipeBytes, out errno);
                    if (moved < 0)
                    {
                        if (errno != EpollNative.EAGAIN)
                        {
                            end = CopyEnd.WriteFailed;
                        }

                        break;
                    }

                    _pipeBytes -= (int)moved;
                    if (_pipeBytes > 0)
                    {
                        continue;
                    }
                }

                if (_pipe is { } drained)
                {
                    // Empty: back to the pool at once, so an idle direction holds no pipe.
                    _pipe = null;
                    EpollPipePool.Return(drained);
                }

                if (_inputEnded)
                {
                    peer.ShutdownSend();
                    end = CopyEnd.Completed;
                    break;
                }

                if (!InputReadable)
                {
                    break;
                }

                if (_bulk && EpollPipePool.Rent() is { } pipe)
                {
                    _pipe = pipe;
                    var moved = SpliceIn(pipe.Write, size, out errno);
                    if (moved < 0)
                    {
                        if (errno == EpollNative.EAGAIN)
                        {
                            InputReadable = false;
                        }
                        else if (errno is EpollNative.EINVAL or EpollNative.ENOSYS)
                        {
                            // This kernel or socket cannot splice: copy through user space from now on.
                            _bulk = false;
                            continue;
                        }
                        else
                        {
                            end = CopyEnd.ReadFailed;
                        }

                        break;
                    }

                    if (moved == 0)
                    {
                        _inputEnded = true;
                        continue;
                    }

                    if (moved < size && !PeerClosing)
                    {
                        InputReadable = false;
                    }

                    _bulk = moved >= BulkThreshold;
                    _pipeBytes = (int)moved;
                    relayed += moved;
                    Interlocked.Add(ref _relayed, moved);
                    continue;
                }

                nint read;
                fixed (byte* start = scratch)
                {
                    read = Receive(start, size, out errno);
                }

                _bulk = read == size;

                if (read < 0)
                {
                    if (errno == EpollNative.EAGAIN)
                    {
                        InputReadable = false;
                    }
                    else
                    {
                        end = CopyEnd.ReadFailed;
                    }

                    break;
                }

                if (read == 0)
                {
                    _inputEnded = true;
                    continue;
                }

                if (read < size && !PeerClosing)
                {
                    InputReadable = false;
                }

                nint taken;
                fixed (byte* start = scratch)
                {
                    taken = peer.SendRaw(start, (int)read, out errno);
                }

                if (taken < 0 && errno != EpollNative.EAGAIN)
                {
                    end = CopyEnd.WriteFailed;
                    break;
                }

                relayed += read;
                Interlocked.Add(ref _relayed, read);
                taken = Math.Max(taken, 0);
                if (taken < read)
                {
                    var left = (int)(read - taken);
                    _pending = ArrayPool<byte>.Shared.Rent(left);
                    scratch.AsSpan((int)taken, left).CopyTo(_pending);
                    _pendingStart = 0;
                    _pendingEnd = left;
                    break;
                }
            }

            if (end is not null)
            {
                _relayEnded = true;
                ReturnPending();
            }
        }

        if (relayed > 0)
        {
            _onBytes?.Invoke(relayed);
        }

        if (end is { } ended)
        {
            if (ended != CopyEnd.Completed)
            {
                // Blame goes to the direction that failed first, not to the one our abort makes fail.
                if (Volatile.Read(ref peer._failedFirst) == 0)
                {
                    Volatile.Write(ref _failedFirst, 1);
                }

                Abort();
                peer.Abort();
            }

            _relay!.TrySetResult(ended);
        }
    }

    /// <summary>Returns the pending buffer and the pipe (closed when it still holds bytes). Under the lock.</summary>
    private void ReturnPending()
    {
        if (_pipe is { } pipe)
        {
            _pipe = null;
            if (_pipeBytes == 0)
            {
                EpollPipePool.Return(pipe);
            }
            else
            {
                EpollPipePool.Discard(pipe);
            }

            _pipeBytes = 0;
        }

        if (_pending is { } pending)
        {
            _pending = null;
            _pendingStart = _pendingEnd = 0;
            ArrayPool<byte>.Shared.Return(pending);
        }
    }
}
