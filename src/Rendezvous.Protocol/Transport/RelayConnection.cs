using System.IO.Pipelines;
using System.Net;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// One end of a relayed session: bytes received from the peer come out of <see cref="Input"/>,
/// bytes written to <see cref="Output"/> go to the peer. Completing <see cref="Output"/> ends only the
/// sending direction (a half-close, TCP FIN); <see cref="Abort"/> tears the connection down at once
/// (TCP RST). A clean end of the peer's sending direction completes <see cref="Input"/>; a reset or
/// error completes it with an exception.
/// </summary>
/// <remarks>
/// A transport (see <see cref="IRelayListenerFactory"/>) derives from this class; it calls <see cref="ReportClosed"/>
/// once the connection has released what it holds (its socket), so that whoever counts connections
/// (<see cref="OnClosed"/>) sees every one end. Optional abilities are asked for with <see cref="GetFeature{TFeature}"/>,
/// such as <see cref="IDirectSpliceFeature"/>.
/// </remarks>
public abstract class RelayConnection : IDuplexPipe, IAsyncDisposable
{
    /// <summary>Stands in <see cref="_onClosed"/> once the connection reported its close before a callback was registered.</summary>
    private static readonly Action s_closed = static () => { };

    /// <summary>Stands in <see cref="_onClosed"/> once the callback ran.</summary>
    private static readonly Action s_reported = static () => { };

    /// <summary>
    /// The close callback: <see langword="null"/> while none is registered and the connection is open, <see cref="s_closed"/>
    /// when it closed first, <see cref="s_reported"/> once a callback ran.
    /// </summary>
    private Action? _onClosed;

    /// <summary>Bytes from the peer.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>Bytes to the peer. Completing it sends a half-close once everything written was sent.</summary>
    public abstract PipeWriter Output { get; }

    /// <summary>The peer's address, when known.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// Once the sending direction has ended (<see cref="Output"/> completed, or a direct splice passed the end on),
    /// waits until the peer has acknowledged every byte sent to it, for at most <paramref name="timeout"/>: closing
    /// earlier would leave those bytes to the operating system, which may drop them (under memory pressure it resets
    /// closed connections that still hold data). The base implementation has nothing of its own to wait for and
    /// returns 0 at once.
    /// </summary>
    /// <param name="timeout">How long to wait at most.</param>
    /// <param name="timeProvider">The clock for <paramref name="timeout"/> and the waits between checks.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>
    /// 0 when everything was acknowledged (or the transport cannot tell); otherwise how many bytes were still
    /// unacknowledged when the time ran out or the connection failed.
    /// </returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public virtual ValueTask<long> WaitForDeliveryAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(0L);
    }

    /// <summary>
    /// Registers <paramref name="callback"/> to run exactly once when the connection has released its transport
    /// resources (after <see cref="Abort"/>, <see cref="DisposeAsync"/>, or a failure that closed it), on the thread
    /// that closed it; at once when that already happened. This is the accounting hook of the transport contract: a
    /// server counts its open connections with it. One callback per connection; pass a cached delegate so that
    /// registering allocates nothing.
    /// </summary>
    /// <param name="callback">What to run; it must not throw.</param>
    /// <exception cref="InvalidOperationException">A callback is registered already.</exception>
    public void OnClosed(Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var previous = Interlocked.CompareExchange(ref _onClosed, callback, null);
        if (previous is null)
        {
            return;
        }

        if (ReferenceEquals(previous, s_closed) && ReferenceEquals(Interlocked.CompareExchange(ref _onClosed, s_reported, s_closed), s_closed))
        {
            callback();
        }
        else
        {
            throw new InvalidOperationException("The connection has a close callback already; register one callback per connection.");
        }
    }

    /// <summary>
    /// Asks the connection for an optional ability of its transport. The base implementation returns the connection
    /// itself when it implements <typeparamref name="TFeature"/>, otherwise <see langword="null"/>.
    /// </summary>
    /// <typeparam name="TFeature">The feature interface, such as <see cref="IDirectSpliceFeature"/>.</typeparam>
    /// <returns>The feature, or <see langword="null"/> when the transport does not offer it.</returns>
    public virtual TFeature? GetFeature<TFeature>()
        where TFeature : class => this as TFeature;

    /// <summary>Tears the connection down at once, discarding unsent bytes (TCP RST for sockets).</summary>
    public abstract void Abort();

    /// <summary>
    /// Closes the connection gracefully: what was written is sent, the sending direction is ended,
    /// the transport's loops are awaited and resources are released.
    /// </summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Runs the <see cref="OnClosed"/> callback (once; later calls do nothing). A transport calls it as soon as the
    /// connection has released its resources.
    /// </summary>
    protected void ReportClosed()
    {
        var callback = Interlocked.CompareExchange(ref _onClosed, s_closed, null);
        if (callback is null || ReferenceEquals(callback, s_closed) || ReferenceEquals(callback, s_reported))
        {
            // Closed before a callback was registered (OnClosed runs it then), or reported already.
            return;
        }

        // A registered callback is only ever replaced here: one caller wins and runs it.
        if (ReferenceEquals(Interlocked.CompareExchange(ref _onClosed, s_reported, callback), callback))
        {
            callback();
        }
    }
}
