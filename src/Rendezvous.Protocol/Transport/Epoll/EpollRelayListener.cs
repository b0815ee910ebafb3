using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>
/// The epoll transport's <see cref="IRelayListener"/>: a listening socket watched by the first loop (edge-triggered);
/// <see cref="AcceptAsync"/> takes connections with <c>accept4</c> (non-blocking and close-on-exec in the same call)
/// while there are some and waits for the next edge otherwise. Nagle, keep-alive and the unsent cap are set on the
/// listening socket: Linux hands them down to every accepted socket, so an accept costs no further system call.
/// </summary>
internal sealed class EpollRelayListener : IRelayListener, IEpollTarget, IValueTaskSource
{
    private readonly Socket _socket;
    private readonly SocketTransportOptions _options;
    private readonly EpollLoop _loop;
    private EpollWaiter _wait;
    private bool _signaled;
    private int _disposed;

    private EpollRelayListener(Socket socket, SocketTransportOptions options)
    {
        _socket = socket;
        _options = options;
        LocalEndPoint = socket.LocalEndPoint!;
        _loop = EpollLoop.First;
        Token = _loop.Reserve(this);
        var error = _loop.Add(Descriptor, EpollNative.EPOLLIN | EpollNative.EPOLLET, Token);
        if (error != 0)
        {
            _loop.Release(Token);
            throw EpollNative.SocketError(error);
        }
    }

    /// <inheritdoc />
    public EndPoint LocalEndPoint { get; }

    /// <inheritdoc />
    public long Token { get; }

    private int Descriptor => (int)_socket.SafeHandle.DangerousGetHandle();

    /// <summary>Binds and starts listening, as <see cref="SocketRelayListener.Bind"/> does.</summary>
    /// <exception cref="SocketException">The endpoint cannot be bound.</exception>
    internal static EpollRelayListener Bind(IPEndPoint endPoint, SocketTransportOptions options, int backlog)
    {
        var socket = SocketRelayListener.BindSocket(endPoint, backlog);
        try
        {
            socket.Blocking = false;
            SocketRelayConnection.ApplySocketOptions(socket, options);
            return new EpollRelayListener(socket, options);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask<RelayConnection?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Volatile.Read(ref _disposed) != 0)
            {
                return null;
            }

            lock (this)
            {
                _signaled = false;
            }

            var (connection, errno) = TryAccept();
            if (connection is not null)
            {
                return connection;
            }

            switch (errno)
            {
                case EpollNative.EAGAIN:
                    await WaitAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case EpollNative.ECONNABORTED or EpollNative.EPROTO or EpollNative.EPERM or EpollNative.EINTR:
                    // The client gave up before it was accepted, or a firewall refused it: take the next one.
                    break;
                default:
                    if (Volatile.Read(ref _disposed) != 0)
                    {
                        return null;
                    }

                    throw EpollNative.SocketError(errno);
            }
        }
    }

    /// <inheritdoc />
    public void OnEvents(uint events) => Wake(canceled: false);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _loop.Release(Token);
            _socket.Dispose();
            Wake(canceled: false);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    void IValueTaskSource.GetResult(short token)
    {
        _wait.End(token);
        lock (this)
        {
            _wait.ThrowIfCanceled();
        }
    }

    /// <inheritdoc />
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _wait.GetStatus(token);

    /// <inheritdoc />
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);

    private unsafe (RelayConnection? Connection, int Errno) TryAccept()
    {
        var added = false;
        var address = stackalloc byte[128];
        var length = 128;
        int fd, errno;
        try
        {
            _socket.SafeHandle.DangerousAddRef(ref added);
            fd = EpollNative.accept4(Descriptor, address, &length, EpollNative.SOCK_NONBLOCK | EpollNative.SOCK_CLOEXEC);
            errno = fd < 0 ? EpollNative.LastError : 0;
        }
        catch (ObjectDisposedException)
        {
            return (null, 9);
        }
        finally
        {
            if (added)
            {
                _socket.SafeHandle.DangerousRelease();
            }
        }

        if (fd < 0)
        {
            return (null, errno);
        }

        var remote = EpollNative.ToEndPoint(new ReadOnlySpan<byte>(address, Math.Min(length, 128)));
        return (EpollRelayConnection.Create(fd, remote, _options), 0);
    }

    private ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        short version;
        lock (this)
        {
            if (_signaled || Volatile.Read(ref _disposed) != 0)
            {
                return ValueTask.CompletedTask;
            }

            version = _wait.Begin(cancellationToken);
        }

        _wait.Register(static state => ((EpollRelayListener)state!).Wake(canceled: true), this);
        return new ValueTask(this, version);
    }

    /// <summary>Wakes a waiting accept; an edge that comes while none waits is remembered, so the next one tries at once.</summary>
    private void Wake(bool canceled)
    {
        bool wake;
        lock (this)
        {
            wake = _wait.Take(canceled);
            _signaled |= !wake && !canceled;
        }

        if (wake)
        {
            _wait.Complete();
        }
    }
}
