using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Listens on the rendezvous port and runs a <see cref="RendezvousConnectionHandler"/> per connection.
/// On stop: no more accepts, parked connections closed, live sessions given the drain time, then closed.
/// </summary>
internal sealed class RelayListenerService(
    IRelayListenerFactory transport,
    RendezvousConnectionHandler handler,
    RendezvousBroker broker,
    RendezvousEndpoint endpoint,
    IOptions<RendezvousServerOptions> serverOptions,
    TimeProvider time,
    RendezvousMetrics metrics,
    StartedListeners startedListeners,
    ConnectionCaps caps,
    MemoryTrimmer trimmer,
    ILogger<RelayListenerService> logger) : IHostedService, IAsyncDisposable
{
    private readonly CancellationTokenSource _hardStop = new();

    /// <summary>Whether a handler starts on the accepting thread (see <see cref="RunAsync"/>).</summary>
    private readonly bool _startsInline = transport is EpollRelayListenerFactory;

    /// <summary>Completes when no handler runs any more, once stopping started (see <see cref="HandlerDone"/>).</summary>
    private readonly TaskCompletionSource _handlersDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Action? _connectionClosed;
    private Func<RelayConnection, bool>? _accept;
    private Action<SocketException, int>? _acceptFailed;
    private int _maxConnections;
    private int _open;

    /// <summary>Running handlers, plus one while the service is not stopping (so the count reaches 0 only then).</summary>
    private int _handlers = 1;
    private int _stopping;
    private IRelayListener? _listener;
    private Task? _acceptLoop;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!EndpointText.TryParseListen(serverOptions.Value.RendezvousEndpoint, out var bindTo, out var endpointError))
        {
            throw new InvalidOperationException($"Rendezvous:RendezvousEndpoint {endpointError}.");
        }

        // Fits the caps in the descriptor limit (or refuses) before anything is bound.
        caps.Apply();
        try
        {
            _listener = await transport.BindAsync(bindTo, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new InvalidOperationException($"Cannot listen for rendezvous connections on {bindTo}: {ex.Message}. Choose another Rendezvous:RendezvousEndpoint (--rendezvous-endpoint).", ex);
        }

        startedListeners.Add(_listener);
        var local = _listener.LocalEndPoint;
        if (local is IPEndPoint ip)
        {
            endpoint.Port = ip.Port;
        }

        ServerLog.RelayListening(logger, local, TransportName(transport));
        _acceptLoop = AcceptLoopAsync(_listener);
    }

    /// <summary>How the log names a transport: <c>epoll</c>, <c>socket</c>, or the type of an application's own.</summary>
    internal static string TransportName(IRelayListenerFactory transport) => transport switch
    {
        EpollRelayListenerFactory => "epoll",
        SocketRelayListenerFactory => "socket",
        _ => transport.GetType().Name,
    };

    /// <summary>
    /// The transport <see cref="RendezvousRelayOptions.Transport"/> names, with the relay's buffer limits and keep-alive
    /// settings: the default <see cref="IRelayListenerFactory"/>.
    /// </summary>
    public static IRelayListenerFactory CreateTransport(RendezvousRelayOptions relay) => UsesEpoll(relay.Transport)
        ? new EpollRelayListenerFactory(TransportOptions(relay))
        : new SocketRelayListenerFactory(TransportOptions(relay));

    /// <summary>Whether <paramref name="transport"/> means the epoll transport on this machine.</summary>
    public static bool UsesEpoll(RelayTransport transport) =>
        transport == RelayTransport.Epoll || (transport == RelayTransport.Auto && EpollRelayListenerFactory.IsSupported);

    private static SocketTransportOptions TransportOptions(RendezvousRelayOptions relay) => new()
    {
        MaxReceiveBufferSize = relay.MaxBufferedBytesPerDirection,
        MaxSendBufferSize = relay.MaxBufferedBytesPerDirection,
        MaxUnsentBytes = relay.MaxUnsentBytesPerSocket,
        KeepAlive = relay.KeepAlive,
        KeepAliveTime = relay.KeepAliveTime,
        KeepAliveInterval = relay.KeepAliveInterval,
        KeepAliveRetryCount = relay.KeepAliveRetryCount,
    };

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is { } listener)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }

        if (_acceptLoop is { } accept)
        {
            try
            {
                await accept.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Logged when it happened (AcceptLoopFailed); the stop goes on so parked and spliced sessions drain.
            }
        }

        broker.CloseAll();
        var drain = serverOptions.Value.DrainTimeout;

        // No more handlers start: drop the service's own count (once), so the last handler to end completes the wait.
        if (Interlocked.Exchange(ref _stopping, 1) == 0)
        {
            HandlerDone();
        }

        var running = Volatile.Read(ref _handlers);
        if (running > 0)
        {
            ServerLog.Draining(logger, running, drain);
            try
            {
                await _handlersDone.Task.WaitAsync(drain, time, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                ServerLog.DrainTimedOut(logger, Volatile.Read(ref _handlers));
            }
        }

        await _hardStop.CancelAsync().ConfigureAwait(false);
        try
        {
            // Aborted sessions end at once; this only bounds a handler stuck on something unforeseen.
            await _handlersDone.Task.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            ServerLog.DrainTimedOut(logger, Volatile.Read(ref _handlers));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_listener is { } listener)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }

        _hardStop.Dispose();
    }

    /// <summary>How many accepted sockets are open now (parked, waiting, spliced or handshaking).</summary>
    internal int OpenConnections => Volatile.Read(ref _open);

    /// <summary>Test seam: sees each accepted connection before its handler runs (to read its socket options back).</summary>
    internal Action<RelayConnection>? ConnectionAccepted { get; set; }

    /// <summary>
    /// The relay's accept loop (<see cref="RelayAcceptLoop"/>): backs off and logs when accepting fails, and hands each
    /// connection to <see cref="Accept"/>. Its callbacks are made once, so accepting allocates nothing per connection here.
    /// </summary>
    private Task AcceptLoopAsync(IRelayListener listener)
    {
        _maxConnections = caps.RelayMaxConnections;
        _connectionClosed ??= ConnectionClosed;
        return WatchAsync(RelayAcceptLoop.RunAsync(listener, _accept ??= Accept, _acceptFailed ??= AcceptFailed, timeProvider: time));

        // A loop that fails (a transport's listener or a bug in Accept throwing anything but a failed accept) is said
        // at once, not only when the server stops.
        async Task WatchAsync(Task loop)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                ServerLog.AcceptLoopFailed(logger, ex);
                throw;
            }
        }
    }

    /// <summary>
    /// Counts the connection open (and closed again through its close hook, <see cref="RelayConnection.OnClosed"/>),
    /// refuses it over the cap, and runs a handler for it.
    /// </summary>
    private bool Accept(RelayConnection connection)
    {
        if (Interlocked.Increment(ref _open) > _maxConnections)
        {
            // Over the cap: the loop closes it at once (a reset, so nothing lingers); counted here.
            Interlocked.Decrement(ref _open);
            metrics.HandshakeFailed("too_many_connections");
            ServerLog.ConnectionRefusedOverCap(logger, _maxConnections);
            return false;
        }

        // Runs at once when the connection was reset meanwhile.
        connection.OnClosed(_connectionClosed!);
        ConnectionAccepted?.Invoke(connection);
        Interlocked.Increment(ref _handlers);
        _ = RunAsync(connection);
        return true;
    }

    private void ConnectionClosed()
    {
        Interlocked.Decrement(ref _open);
        trimmer.ConnectionClosed();
    }

    /// <summary>Out of file descriptors (EMFILE/ENFILE) and the like: logged at most once per <see cref="RelayAcceptLoop.ReportInterval"/>.</summary>
    private void AcceptFailed(SocketException exception, int failures) => AcceptFailures.Report(logger, exception, failures);

    private void HandlerDone()
    {
        if (Interlocked.Decrement(ref _handlers) == 0)
        {
            _handlersDone.TrySetResult();
        }
    }

    private async Task RunAsync(RelayConnection connection)
    {
        // The epoll transport accepts on its loop's thread and has read what came with the connect already, so the
        // handler starts there: it usually runs through the line and the pairing at once, with no thread-pool hop
        // (and no worker to wake) per connection. Another transport's handler starts on the thread pool, so that a
        // slow handler never holds up its accept loop. Either way the per-address handshake cap counts only the
        // connections whose line is not there (the handler's first look).
        if (!_startsInline)
        {
            await Task.Yield();
        }

        try
        {
            await handler.HandleAsync(connection, _hardStop.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ServerLog.ConnectionCrashed(logger, ex);
            connection.Abort();
        }
        finally
        {
            HandlerDone();
        }
    }
}
