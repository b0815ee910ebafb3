using System.Buffers;
using System.Net.Sockets;
using Rendezvous.Protocol.Splicing;

namespace Rendezvous.Protocol.Transport;

/// <summary>The receive side: bytes into <see cref="RelayConnection.Input"/>, or straight to the spliced peer.</summary>
public sealed partial class SocketRelayConnection
{
    /// <summary>Set (under <see cref="Gate"/>) once the loop stopped filling the pipe (end, error).</summary>
    private bool _receiveEnded;

    /// <summary>The connection this one is spliced to directly; set once, under <see cref="Gate"/>.</summary>
    private SocketRelayConnection? _peer;

    private Action<long>? _onBytes;
    private int _failedFirst;
    private long _relayed;

    private bool IsSplicedDirectly => Volatile.Read(ref _peer) is not null;

    /// <summary>
    /// Runs the receive side: fills the input pipe until the input ends, or, once a direct splice was set
    /// up, copies this socket's input straight to the peer's socket with this connection's receive
    /// operation: read into a pooled buffer (held only while data flows), send it all, and wait for more
    /// with a zero-byte read once a read did not fill the buffer. The end of the input becomes a half-close
    /// of the peer; a failure on either socket aborts both. One task per direction for the whole session.
    /// It starts on the caller's thread, without a hop to the thread pool: its first step is a
    /// non-blocking zero-byte receive, so the caller gets on once nothing more is there to read.
    /// </summary>
    private async Task<CopyEnd> ReceiveLoopAsync()
    {
        var (peer, failed) = await FillInputPipeAsync().ConfigureAwait(false);
        if (peer is null)
        {
            return CopyEnd.Completed;
        }

        if (failed)
        {
            AbortBoth(peer);
            return CopyEnd.ReadFailed;
        }

        // What was written to the peer's Output before the splice (+OK, early bytes) goes first.
        if (!await peer.OutputHandedOver.ConfigureAwait(false))
        {
            AbortBoth(peer);
            return CopyEnd.WriteFailed;
        }

        peer._sendLoop = null;

        // Then what this loop put into the input pipe after the splicer took what was there.
        byte[]? unread;
        lock (Gate)
        {
            unread = TakeUnread();
        }

        ReleaseInputPipe();
        try
        {
            if (unread is not null)
            {
                await _receiveOp.SendAllAsync(peer._socket, unread).ConfigureAwait(false);
                _relayed += unread.Length;
                _onBytes?.Invoke(unread.Length);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            AbortBoth(peer);
            return CopyEnd.WriteFailed;
        }

        var op = _receiveOp;
        var size = _directBufferSize;
        byte[]? buffer = null;
        var dataWaiting = true;
        try
        {
            while (true)
            {
                int read;
                try
                {
                    if (!dataWaiting)
                    {
                        if (buffer is not null)
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = null;
                        }

                        await op.ReceiveAsync(_socket, Memory<byte>.Empty).ConfigureAwait(false);
                    }

                    buffer ??= ArrayPool<byte>.Shared.Rent(size);
                    read = await op.ReceiveAsync(_socket, buffer.AsMemory(0, size)).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    AbortBoth(peer);
                    return CopyEnd.ReadFailed;
                }

                try
                {
                    if (read == 0)
                    {
                        // A clean end: pass the half-close on; the other direction keeps flowing.
                        peer._socket.Shutdown(SocketShutdown.Send);
                        return CopyEnd.Completed;
                    }

                    await op.SendAllAsync(peer._socket, buffer.AsMemory(0, read)).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    AbortBoth(peer);
                    return CopyEnd.WriteFailed;
                }

                _relayed += read;
                _onBytes?.Invoke(read);
                dataWaiting = read == size;
            }
        }
        finally
        {
            op.ClearBuffer();
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Fills the input pipe: wait for data without a buffer, then read one segment and flush, until the
    /// input ends or a direct splice is set up.
    /// </summary>
    /// <returns>The spliced peer (and whether this side's input failed meanwhile), or no peer once the pipe is completed.</returns>
    private async Task<(SocketRelayConnection? Peer, bool Failed)> FillInputPipeAsync()
    {
        Exception? error = null;
        var dataWaiting = false;
        try
        {
            while (true)
            {
                // Wait for data without holding a buffer, so idle connections cost no buffer memory.
                if (!dataWaiting)
                {
                    await _receiveOp.ReceiveAsync(_socket, Memory<byte>.Empty).ConfigureAwait(false);
                }

                if (Volatile.Read(ref _peer) is not null)
                {
                    break;
                }

                // After a wait, read a small piece first: a first line (or part of one, which a slowloris
                // client never finishes) then holds a small buffer, not a whole segment. A read that filled
                // what it was given leaves more to read at once, into a full segment.
                var writer = _received!.Writer;
                var memory = writer.GetMemory(dataWaiting ? ReceiveSegmentSize : FirstReadSize);
                var read = await _receiveOp.ReceiveAsync(_socket, memory).ConfigureAwait(false);
                _receiveOp.ClearBuffer();
                if (read == 0)
                {
                    break;
                }

                dataWaiting = read == memory.Length;
                writer.Advance(read);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled || Volatile.Read(ref _peer) is not null)
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
        catch (InvalidOperationException)
        {
            // The input pipe was completed under the loop (a dispose racing a splice): nothing reads it any more.
        }

        SocketRelayConnection? peer;
        lock (Gate)
        {
            // A splice set up meanwhile owns what happens next, even a failure of the wait.
            peer = _peer;
            _receiveEnded = peer is null;
        }

        if (peer is not null)
        {
            return (peer, error is not null);
        }

        _receiveOp.ClearBuffer();
        if (error is null && Volatile.Read(ref _aborted) != 0)
        {
            error = new IOException("The connection was aborted.");
        }

        await _received!.Writer.CompleteAsync(error).ConfigureAwait(false);
        return (null, false);
    }

    private void AbortBoth(SocketRelayConnection peer)
    {
        // Blame goes to the direction that failed first, not to the one our abort made fail (its
        // completion can even run inline, before ours).
        if (Volatile.Read(ref peer._failedFirst) == 0)
        {
            Volatile.Write(ref _failedFirst, 1);
        }

        Abort();
        peer.Abort();
    }

    /// <summary>
    /// Takes what the input pipe holds and has not been read (the loop may be writing meanwhile: what it
    /// flushes later stays for the next take). Call under <see cref="Gate"/>; nothing else reads the pipe then,
    /// and its last reader left nothing examined but unconsumed (as <c>ConnectionWatch</c> does): such bytes
    /// are not returned by <see cref="System.IO.Pipelines.PipeReader.TryRead"/>.
    /// </summary>
    private byte[]? TakeUnread()
    {
        var reader = _received!.Reader;
        if (!reader.TryRead(out var result))
        {
            return null;
        }

        var unread = result.Buffer.IsEmpty ? null : result.Buffer.ToArray();
        reader.AdvanceTo(result.Buffer.End);
        return unread;
    }

    /// <summary>Drops the input pipe: nothing reads it once the splice is direct, and it holds memory.</summary>
    private void ReleaseInputPipe()
    {
        var pipe = _received;
        _received = null;
        if (pipe is not null)
        {
            pipe.Writer.Complete();
            pipe.Reader.Complete();
        }
    }
}
