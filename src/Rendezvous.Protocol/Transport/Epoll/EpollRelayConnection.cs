using System.IO.Pipelines;
using System.Net;
using Rendezvous.Protocol.Splicing;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>
/// A <see cref="RelayConnection"/> of the epoll transport: a file descriptor, a small state record and, only while
/// bytes are in flight, a pooled buffer. No <c>Socket</c>, no <c>SocketAsyncEventArgs</c>, no task of its own: the
/// connection's <see cref="EpollLoop"/> reads when the descriptor is readable (into <see cref="EpollInput"/>, or straight
/// to the spliced peer) and sends when it is writable. All state changes run under the connection's own lock (the
/// object itself: no extra object); waiters are woken after it is released. The descriptor is reference counted
/// around each system call, so a close on another thread never lets a call reach a descriptor number reused by a newer
/// connection.
/// </summary>
internal sealed partial class EpollRelayConnection : RelayConnection, IEpollTarget
{
    private const int Aborted = 1;
    private const int Disposed = 2;
    private const int MaxDirectBufferSize = 64 * 1024;
    private static readonly TimeSpan DefaultLingerDrain = TimeSpan.FromSeconds(2);

    private readonly EpollLoop _loop;
    private readonly int _fd;
    private readonly int _inputLimit;
    private readonly int _outputLimit;

    /// <summary>Twice the number of system calls in progress on the descriptor, plus 1 once a close was asked for.</summary>
    private int _fdState;
    private bool _resetOnClose;
    private int _state;
    private EpollInput? _input;
    private EpollOutput? _output;

    private EpollRelayConnection(EpollLoop loop, int fd, EndPoint? remote, SocketTransportOptions options)
    {
        _loop = loop;
        _fd = fd;
        RemoteEndPoint = remote;
        _inputLimit = options.MaxReceiveBufferSize;
        _outputLimit = options.MaxSendBufferSize;
    }

    /// <inheritdoc />
    public long Token { get; private set; }

    /// <inheritdoc />
    public override EndPoint? RemoteEndPoint { get; }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The connection was spliced directly; its reader is gone.</exception>
    public override PipeReader Input
    {
        get
        {
            lock (this)
            {
                return _peer is null ? _input ??= NewInput() : throw Spliced();
            }
        }
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The connection was spliced directly; its writer is gone.</exception>
    public override PipeWriter Output
    {
        get
        {
            lock (this)
            {
                return _peer is null ? _output ??= NewOutput() : throw Spliced();
            }
        }
    }

    /// <summary>Set when the descriptor became readable; cleared once a read found it drained. Under the lock.</summary>
    internal bool InputReadable { get; set; }

    /// <summary>Whether the peer ended or broke the connection (<c>EPOLLRDHUP</c>, <c>EPOLLHUP</c>): read until the end then.</summary>
    internal bool PeerClosing { get; private set; }

    /// <summary>Wraps an accepted descriptor and registers it with a loop.</summary>
    /// <exception cref="System.Net.Sockets.SocketException">The loop could not watch it (the descriptor is closed then).</exception>
    internal static EpollRelayConnection Create(int fd, EndPoint? remote, SocketTransportOptions options)
    {
        var loop = EpollLoop.Next();
        var connection = new EpollRelayConnection(loop, fd, remote, options);
        connection.Token = loop.Reserve(connection);
        var error = loop.Add(fd, EpollNative.EPOLLIN | EpollNative.EPOLLOUT | EpollNative.EPOLLRDHUP | EpollNative.EPOLLET, connection.Token);
        if (error != 0)
        {
            loop.Release(connection.Token);
            _ = EpollNative.close(fd);
            throw EpollNative.SocketError(error);
        }

        // A client usually sends its first line with the connect, so it is often there already: one read now lets the
        // handler take it at once (no deadline armed, no wait) instead of waiting for the loop's first edge.
        connection.OnReadable(peerClosing: false);
        return connection;
    }

    /// <inheritdoc />
    public void OnEvents(uint events)
    {
        if ((events & (EpollNative.EPOLLIN | EpollNative.EPOLLRDHUP | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0)
        {
            OnReadable((events & (EpollNative.EPOLLRDHUP | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0);
        }

        if ((events & (EpollNative.EPOLLOUT | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0)
        {
            OnWritable();
        }
    }

    /// <inheritdoc />
    public override void Abort()
    {
        if ((Interlocked.Or(ref _state, Aborted) & Aborted) != 0)
        {
            return;
        }

        EpollInput? input;
        EpollOutput? output;
        bool wakeInput, wakeOutput;
        TaskCompletionSource<CopyEnd>? relay = null;
        EpollRelayConnection? peer;
        lock (this)
        {
            input = _input;
            output = _output;
            wakeInput = input?.Fail(new IOException("The connection was aborted.")) ?? false;
            wakeOutput = output?.Fail() ?? false;
            peer = _peer;
            if (peer is not null && !_relayEnded)
            {
                _relayEnded = true;
                relay = _relay;
                ReturnPending();
            }
        }

        RequestClose(reset: true);
        ReportClosed();
        if (wakeInput)
        {
            input!.Wake();
        }

        if (wakeOutput)
        {
            output!.Wake();
        }

        if (relay is not null && Volatile.Read(ref peer!._failedFirst) == 0)
        {
            // Aborted while relaying: this direction failed first, as a failed read would have.
            Volatile.Write(ref _failedFirst, 1);
        }

        relay?.TrySetResult(CopyEnd.ReadFailed);

        // Spliced and a direction still relays: the peer's direction writes to this closed descriptor and would only
        // learn so at its next read, which an idle client never causes. A failure of either side aborts both, as in
        // the socket transport (the peer's abort comes back here and returns at once). Once both directions ended,
        // the peer is left to close as its owner says (a clean close after a completed session).
        if (peer is not null && (relay is not null || peer.IsRelaying))
        {
            peer.Abort();
        }
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if ((Interlocked.Or(ref _state, Disposed) & Disposed) != 0)
        {
            return;
        }

        bool spliced;
        lock (this)
        {
            spliced = _peer is not null;
        }

        if (spliced && !DirectRelayEnded)
        {
            // Disposed while a direction still relays: closing the descriptor alone would leave that direction
            // waiting for an event that never comes. End the splice as the socket transport does, by aborting both.
            Abort();
        }

        if (!spliced && (Volatile.Read(ref _state) & Aborted) == 0)
        {
            // Send what was written, then FIN (at once when nothing ever was).
            EpollOutput output;
            lock (this)
            {
                output = _output ??= new EpollOutput(this, _outputLimit);
            }

            output.Complete();
            using (var sendDeadline = new CancellationTokenSource(DefaultLingerDrain))
            {
                try
                {
                    await output.SendAllAsync(sendDeadline.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
                {
                    // Not all sent within the drain time, or someone else still waits to flush: close with a reset.
                    Abort();
                }
            }

            // Drain what the peer still sends for a moment: closing with unread bytes makes the kernel send a reset,
            // which can destroy our last reply (-ERR ...) before the peer reads it.
            await DrainInputAsync().ConfigureAwait(false);
        }

        RequestClose(reset: false);
        ReportClosed();
        EpollInput? input;
        EpollOutput? pendingOutput;
        bool wakeInput, wakeOutput;
        lock (this)
        {
            ReturnPending();
            input = _input;
            pendingOutput = _output;

            // A read or flush still waiting (someone else's, e.g. a pipe splice) would wait for ever: the descriptor
            // is closed, no event comes any more. It ends with an error, as it does on the socket transport.
            wakeInput = input?.Fail(new IOException("The connection was closed.")) ?? false;
            wakeOutput = pendingOutput?.Fail() ?? false;
            input?.Detach();
            pendingOutput?.Detach();
        }

        if (wakeInput)
        {
            input!.Wake();
        }

        if (wakeOutput)
        {
            pendingOutput!.Wake();
        }
    }

    /// <summary>Reads from the descriptor; -1 with <paramref name="errno"/> on failure (EBADF once it is closed).</summary>
    internal unsafe nint Receive(byte* buffer, int length, out int errno)
    {
        if (!TryUse())
        {
            errno = 9;
            return -1;
        }

        var read = EpollNative.recv(_fd, buffer, (nuint)length, 0);
        errno = read < 0 ? EpollNative.LastError : 0;
        EndUse();
        return read;
    }

    /// <summary>Sends to the descriptor without blocking; -1 with <paramref name="errno"/> on failure (EAGAIN when full).</summary>
    internal unsafe nint SendRaw(byte* buffer, int length, out int errno)
    {
        if (!TryUse())
        {
            errno = 9;
            return -1;
        }

        var sent = EpollNative.send(_fd, buffer, (nuint)length, EpollNative.MSG_NOSIGNAL);
        errno = sent < 0 ? EpollNative.LastError : 0;
        EndUse();
        return sent;
    }

    /// <summary>Moves up to <paramref name="length"/> bytes from the descriptor into a pipe; -1 with <paramref name="errno"/> on failure.</summary>
    internal unsafe nint SpliceIn(int pipeWrite, int length, out int errno)
    {
        if (!TryUse())
        {
            errno = 9;
            return -1;
        }

        var moved = EpollNative.splice(_fd, null, pipeWrite, null, (nuint)length, EpollNative.SPLICE_F_MOVE | EpollNative.SPLICE_F_NONBLOCK);
        errno = moved < 0 ? EpollNative.LastError : 0;
        EndUse();
        return moved;
    }

    /// <summary>Moves up to <paramref name="length"/> bytes from a pipe to the descriptor; -1 with <paramref name="errno"/> on failure.</summary>
    internal unsafe nint SpliceOut(int pipeRead, int length, out int errno)
    {
        if (!TryUse())
        {
            errno = 9;
            return -1;
        }

        var moved = EpollNative.splice(pipeRead, null, _fd, null, (nuint)length, EpollNative.SPLICE_F_MOVE | EpollNative.SPLICE_F_NONBLOCK);
        errno = moved < 0 ? EpollNative.LastError : 0;
        EndUse();
        return moved;
    }

    /// <summary>Ends the sending direction (TCP FIN).</summary>
    internal void ShutdownSend()
    {
        if (TryUse())
        {
            _ = EpollNative.shutdown(_fd, EpollNative.SHUT_WR);
            EndUse();
        }
    }

    /// <summary>Reads an integer socket option of the descriptor (for tests), or <see langword="null"/>.</summary>
    internal int? GetOption(int level, int name)
    {
        if (!TryUse())
        {
            return null;
        }

        var value = EpollNative.GetInt(_fd, level, name);
        EndUse();
        return value;
    }

    /// <summary>
    /// The input, made at its first use; failed at once when the connection is closed already (aborted or disposed):
    /// no event will ever fill it, so a read would wait for ever. Under the lock.
    /// </summary>
    private EpollInput NewInput()
    {
        var input = new EpollInput(this, _inputLimit);
        if (Volatile.Read(ref _state) != 0)
        {
            _ = input.Fail(new IOException("The connection was closed."));
        }

        return input;
    }

    /// <summary>The output, made at its first use; failed at once when the connection is closed already. Under the lock.</summary>
    private EpollOutput NewOutput()
    {
        var output = new EpollOutput(this, _outputLimit);
        if (Volatile.Read(ref _state) != 0)
        {
            _ = output.Fail();
        }

        return output;
    }

    private static InvalidOperationException Spliced() => new("The connection is spliced directly to another socket; its pipes are closed.");

    private void OnReadable(bool peerClosing)
    {
        EpollInput? wake = null;
        bool direct;
        lock (this)
        {
            InputReadable = true;
            PeerClosing |= peerClosing;
            direct = _peer is not null;
            if (!direct && (_state & Aborted) == 0)
            {
                var input = _input ??= new EpollInput(this, _inputLimit);
                if (input.Fill())
                {
                    wake = input;
                }
            }
        }

        if (direct)
        {
            PumpDirect();
        }

        wake?.Wake();
    }

    private void OnWritable()
    {
        EpollRelayConnection? source;
        EpollOutput? wake = null;
        lock (this)
        {
            source = _peer;
            if (source is null && _output is { } output && output.Send())
            {
                wake = output;
            }
        }

        // Spliced: the direction that writes here waits for room.
        source?.PumpDirect();
        wake?.Wake();
    }

    private async Task DrainInputAsync()
    {
        EpollInput input;
        lock (this)
        {
            input = _input ??= new EpollInput(this, _inputLimit);
            if (input.ReaderCompleted || input.IsHolding || input.IsWaiting)
            {
                return;
            }
        }

        using var deadline = new CancellationTokenSource(DefaultLingerDrain);
        long drained = 0;
        try
        {
            while (drained < 4 * 16 * 1024)
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
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            // Timed out, reset by the peer, or read by someone else meanwhile: nothing to drain.
        }
    }

    private bool TryUse()
    {
        var state = Volatile.Read(ref _fdState);
        while ((state & 1) == 0)
        {
            var seen = Interlocked.CompareExchange(ref _fdState, state + 2, state);
            if (seen == state)
            {
                return true;
            }

            state = seen;
        }

        return false;
    }

    private void EndUse()
    {
        if (Interlocked.Add(ref _fdState, -2) == 1)
        {
            CloseDescriptor();
        }
    }

    /// <summary>Closes the descriptor once no system call uses it (at once when none does); later calls fail with EBADF.</summary>
    private void RequestClose(bool reset)
    {
        if (reset)
        {
            Volatile.Write(ref _resetOnClose, true);
        }

        if (Interlocked.Or(ref _fdState, 1) == 0)
        {
            CloseDescriptor();
        }
    }

    private void CloseDescriptor()
    {
        if (Volatile.Read(ref _resetOnClose))
        {
            EpollNative.SetResetOnClose(_fd);
        }

        _ = EpollNative.close(_fd);
        _loop.Release(Token);
    }
}
