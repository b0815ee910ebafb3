using System.Net;
using System.Threading.Channels;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A relay transport without sockets, through the same seam as the socket one (<see cref="IRelayListenerFactory"/>):
/// <see cref="ConnectAsync"/> makes a <see cref="PipeRelayConnection"/> and queues it for the bound listener, and the
/// test plays the remote peer on it. Binding records the endpoint asked for; one listener at a time.
/// </summary>
public sealed class InMemoryRelayTransport : IRelayListenerFactory
{
    private readonly TaskCompletionSource<Listener> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _connections;

    /// <summary>How many times <see cref="BindAsync"/> was called.</summary>
    public int BindCount { get; private set; }

    /// <summary>How many accepts the bound listener was asked for, failed ones included; 0 before it is bound.</summary>
    public int AcceptCount => _bound.Task.IsCompletedSuccessfully ? Volatile.Read(ref _bound.Task.Result.Accepts) : 0;

    /// <summary>The endpoint the last <see cref="BindAsync"/> was given.</summary>
    public EndPoint? BoundTo { get; private set; }

    /// <inheritdoc />
    public ValueTask<IRelayListener> BindAsync(EndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        BindCount++;
        BoundTo = endPoint;
        var listener = new Listener(endPoint);
        if (!_bound.TrySetResult(listener))
        {
            throw new InvalidOperationException("The in-memory transport is bound already.");
        }

        return ValueTask.FromResult<IRelayListener>(listener);
    }

    /// <summary>
    /// Connects to the bound listener (waiting for the bind): the returned connection is the server's end, which the
    /// listener hands out; the test writes the peer's bytes to it and reads what the server sent.
    /// </summary>
    /// <returns>The connection, as the server sees it.</returns>
    /// <exception cref="InvalidOperationException">The listener was closed.</exception>
    public async Task<PipeRelayConnection> ConnectAsync()
    {
        var listener = await _bound.Task.WaitAsync(TestTimeouts.Short).ConfigureAwait(false);
        var port = 50000 + Interlocked.Increment(ref _connections);
        var connection = new PipeRelayConnection(remoteEndPoint: new IPEndPoint(IPAddress.Loopback, port));
        if (!listener.Pending.Writer.TryWrite(connection))
        {
            throw new InvalidOperationException("The in-memory relay listener is closed.");
        }

        return connection;
    }

    /// <summary>
    /// Makes the next <paramref name="count"/> accepts of the bound listener fail with <paramref name="error"/>, as a
    /// socket listener's do when the process is out of file descriptors (or, with another exception, as a broken
    /// transport's would); connections queued meanwhile stay queued.
    /// </summary>
    /// <param name="error">What each failed accept throws.</param>
    /// <param name="count">How many accepts fail.</param>
    /// <returns>A task that completes once the listener is bound and armed.</returns>
    public async Task FailAcceptsAsync(Exception error, int count)
    {
        var listener = await _bound.Task.WaitAsync(TestTimeouts.Short).ConfigureAwait(false);
        listener.Failure = error;
        Interlocked.Exchange(ref listener.FailuresLeft, count);
    }

    private sealed class Listener(EndPoint endPoint) : IRelayListener
    {
        public int FailuresLeft;

        public Channel<RelayConnection> Pending { get; } = Channel.CreateUnbounded<RelayConnection>();

        public EndPoint LocalEndPoint { get; } = endPoint;

        public Exception? Failure { get; set; }

        /// <summary>How many accepts were tried, failed ones included.</summary>
        public int Accepts;

        public async ValueTask<RelayConnection?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Accepts);
            if (Interlocked.Decrement(ref FailuresLeft) >= 0)
            {
                throw Failure!;
            }

            Interlocked.Exchange(ref FailuresLeft, 0);
            return await Pending.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) && Pending.Reader.TryRead(out var connection)
                ? connection
                : null;
        }

        public ValueTask DisposeAsync()
        {
            Pending.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }
    }
}
