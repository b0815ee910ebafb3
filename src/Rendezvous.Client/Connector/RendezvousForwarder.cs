using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rendezvous.Client.Internal;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Client.Connector;

/// <summary>Why <see cref="RendezvousForwarder.RunAsync"/> returned.</summary>
public enum RendezvousForwarderStopReason
{
    /// <summary>It was asked to: its cancellation token was cancelled, or the forwarder disposed.</summary>
    Stopped,

    /// <summary>
    /// A pinned certificate (the registrar's, or the hidden server's with end-to-end TLS) did not match. No retry
    /// can fix that, so the forwarder stopped accepting, as a single connection attempt would have failed.
    /// </summary>
    CertificateMismatch,

    /// <summary>The listening socket failed; <see cref="RendezvousForwarder.ConnectionFailed"/> was raised with the error.</summary>
    ListenerFailed,
}

/// <summary>
/// A connection the forwarder could not serve, or an accept that failed.
/// </summary>
/// <param name="Client">
/// The local client's address; <see langword="null"/> when accepting failed (then the forwarder goes on listening
/// unless <see cref="RendezvousForwarder.RunAsync"/> returns <see cref="RendezvousForwarderStopReason.ListenerFailed"/>).
/// </param>
/// <param name="Exception">
/// What went wrong: a <see cref="RendezvousException"/> when the rendezvous failed (its message is for people), a
/// <see cref="SocketException"/> or <see cref="IOException"/> when the relay or the listener could not be used.
/// </param>
public sealed record RendezvousForwarderFailure(EndPoint? Client, Exception Exception);

/// <summary>
/// A local port forward to a hidden server (<c>rendezvous connect --listen</c>): accepts TCP connections on a local
/// endpoint and relays each through a rendezvous of its own (<see cref="RendezvousConnector.ConnectAsync"/>, then
/// <see cref="SessionRelay.RelayToConnectionAsync"/>, half-closes passed on). It listens through the relay's transport
/// seam (<see cref="RendezvousForwarderOptions.Transport"/>, TCP sockets by default) and accepts with the relay server's
/// accept loop (<see cref="RelayAcceptLoop"/>). A connection whose rendezvous fails is reset and reported
/// (<see cref="ConnectionFailed"/> and the log); the forwarder goes on listening, except after a pin mismatch. At most
/// <see cref="RendezvousForwarderOptions.MaxConnections"/> are relayed at once.
/// </summary>
public sealed class RendezvousForwarder : IAsyncDisposable
{
    private readonly RendezvousConnector _connector;
    private readonly RendezvousForwarderOptions _options;
    private readonly ILogger _logger;
    private readonly string _uuid;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _disposed = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly Func<RelayConnection, bool> _accept;
    private readonly Action<SocketException, int> _acceptFailed;
    private readonly Func<CancellationToken, ValueTask> _waitForSlot;
    private IRelayListener? _listener;
    private IPEndPoint? _localEndPoint;
    private CancellationTokenSource? _stop;
    private long _next;
    private int _certificateMismatch;
    private int _running;

    /// <summary>Creates a forwarder; nothing listens until <see cref="Start"/> or <see cref="RunAsync"/>.</summary>
    /// <param name="connector">Reaches the hidden server; not disposed by the forwarder.</param>
    /// <param name="options">Where to listen, the hidden server's UUID, and limits.</param>
    /// <param name="logger">Where connections that fail, and the ends of relayed ones, are logged; none when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    public RendezvousForwarder(RendezvousConnector connector, RendezvousForwarderOptions options, ILogger<RendezvousForwarder>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _connector = connector;
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        UuidText.TryNormalize(options.Uuid, out var uuid);
        _uuid = uuid!;
        _slots = new SemaphoreSlim(options.MaxConnections, options.MaxConnections);
        _accept = Accept;
        _acceptFailed = AcceptFailed;
        _waitForSlot = WaitForSlotAsync;
    }

    /// <summary>
    /// Raised, on the connection's own task, for each connection whose rendezvous failed (then reset), and for accepts
    /// that failed (the forwarder waits <see cref="RelayAcceptLoop.RetryDelay"/> and tries again; raised for the first
    /// and then at most once per <see cref="RelayAcceptLoop.ReportInterval"/>). Handlers should return quickly and not
    /// throw.
    /// </summary>
    public event EventHandler<RendezvousForwarderFailure>? ConnectionFailed;

    /// <summary>The endpoint listened on once started (with port 0, the port the system chose); <see langword="null"/> before.</summary>
    public IPEndPoint? LocalEndPoint => _localEndPoint;

    /// <summary>The connections being relayed (or reaching the hidden server) now.</summary>
    public int ActiveConnections => _options.MaxConnections - _slots.CurrentCount;

    /// <summary>
    /// Binds and starts listening, so that the endpoint (and a free port's number) is known before
    /// <see cref="RunAsync"/> accepts; connections that arrive meanwhile wait in the backlog. Once only.
    /// </summary>
    /// <returns>The endpoint listened on.</returns>
    /// <remarks>
    /// A <see cref="RendezvousForwarderOptions.Transport"/> that binds asynchronously is waited for here; the socket
    /// transport binds at once.
    /// </remarks>
    /// <exception cref="SocketException">The endpoint cannot be bound (in use, not an address of this machine).</exception>
    /// <exception cref="InvalidOperationException">The forwarder was started already.</exception>
    /// <exception cref="ObjectDisposedException">The forwarder was disposed.</exception>
    public IPEndPoint Start()
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        if (_listener is not null)
        {
            throw new InvalidOperationException("The forwarder was started already; Start is called once, before RunAsync or instead of its own start.");
        }

        var transport = _options.Transport ?? new SocketRelayListenerFactory(
            new SocketTransportOptions { NoDelay = true, KeepAlive = false },
            _options.ListenBacklog);
        var binding = transport.BindAsync(_options.ListenEndPoint!);
        _listener = binding.IsCompletedSuccessfully ? binding.Result : binding.AsTask().GetAwaiter().GetResult();
        _localEndPoint = _listener.LocalEndPoint as IPEndPoint ?? _options.ListenEndPoint!;
        ClientLog.ForwarderListening(_logger, _localEndPoint, _uuid);
        return _localEndPoint;
    }

    /// <summary>
    /// Accepts and relays connections until <paramref name="cancellationToken"/> is cancelled, a pin mismatch, or the
    /// listener fails; then stops listening, aborts the relayed connections and waits up to
    /// <see cref="RendezvousForwarderOptions.ShutdownTimeout"/> for them to end. Starts listening first unless
    /// <see cref="Start"/> did. Once only.
    /// </summary>
    /// <param name="cancellationToken">Stops the forwarder.</param>
    /// <returns>Why it stopped.</returns>
    /// <exception cref="SocketException">The endpoint cannot be bound (when not started yet).</exception>
    /// <exception cref="InvalidOperationException">The forwarder ran already.</exception>
    /// <exception cref="ObjectDisposedException">The forwarder was disposed.</exception>
    public async Task<RendezvousForwarderStopReason> RunAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            throw new InvalidOperationException("The forwarder ran already; create a new one to forward again.");
        }

        if (_listener is null)
        {
            Start();
        }

        var listener = _listener!;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        _stop = stop;
        var reason = RendezvousForwarderStopReason.Stopped;
        try
        {
            await RelayAcceptLoop.RunAsync(listener, _accept, _acceptFailed, _waitForSlot, cancellationToken: stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            // A transport's listener that broke for good (the socket transport's retries instead).
            ClientLog.ForwarderListenerFailed(_logger, _localEndPoint!, ex);
            Report(null, ex);
            reason = RendezvousForwarderStopReason.ListenerFailed;
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await listener.DisposeAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(_options.ShutdownTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            ClientLog.ForwarderShutdownTimedOut(_logger, _connections.Count, _options.ShutdownTimeout);
        }

        return Volatile.Read(ref _certificateMismatch) != 0 ? RendezvousForwarderStopReason.CertificateMismatch : reason;
    }

    /// <summary>Stops listening and aborts the relayed connections; a running <see cref="RunAsync"/> returns.</summary>
    /// <returns>A task that completes when the listener is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        if (_listener is { } listener)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Before each accept: waits for a free slot without taking it, so that at the limit new connections wait in the
    /// listen backlog rather than in this process. Only <see cref="Accept"/> takes slots, so one stays free until then.
    /// </summary>
    private async ValueTask WaitForSlotAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        _slots.Release();
    }

    private bool Accept(RelayConnection local)
    {
        if (!_slots.Wait(0))
        {
            return false;
        }

        var id = Interlocked.Increment(ref _next);
        var task = ServeAsync(local, local.RemoteEndPoint, _stop!);
        _connections[id] = task;
        _ = task.ContinueWith(_ => _connections.TryRemove(id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return true;
    }

    /// <summary>Out of descriptors or buffers: the connection stays in the backlog while the accept loop waits.</summary>
    private void AcceptFailed(SocketException exception, int failures)
    {
        ClientLog.ForwarderAcceptFailed(_logger, _localEndPoint!, exception.Message, failures, RelayAcceptLoop.RetryDelay);
        Report(null, exception);
    }

    private async Task ServeAsync(RelayConnection local, EndPoint? from, CancellationTokenSource stop)
    {
        await Task.Yield();
        try
        {
            await using (local.ConfigureAwait(false))
            {
                RendezvousSession session;
                try
                {
                    session = await _connector.ConnectAsync(_uuid, stop.Token).ConfigureAwait(false);
                }
                catch (RendezvousException ex)
                {
                    ClientLog.ForwardingFailed(_logger, from, ex.Message);
                    local.Abort();
                    Report(from, ex);
                    if (ex.Error == RendezvousError.CertificateMismatch)
                    {
                        // No retry can help: stop listening, as a single connection attempt would have failed.
                        Interlocked.Exchange(ref _certificateMismatch, 1);
                        await stop.CancelAsync().ConfigureAwait(false);
                    }

                    return;
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception ex) when (ex is SocketException or IOException)
                {
                    ClientLog.ForwardingFailed(_logger, from, $"the connection to the relay failed: {ex.Message}");
                    Report(from, ex);
                    return;
                }

                await using (session)
                {
                    var result = await SessionRelay.RelayToConnectionAsync(session, local, stop.Token).ConfigureAwait(false);
                    ClientLog.ForwardingEnded(_logger, from, result.End, result.BytesSent, result.BytesReceived);
                }
            }
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or OutOfMemoryException))
        {
            // Nothing awaits this task while the forwarder runs: say what ended the connection instead of leaving a
            // faulted task for RunAsync's stop to throw.
            local.Abort();
            ClientLog.ForwardingFailed(_logger, from, $"it failed unexpectedly: {ex.Message}");
            Report(from, ex);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        finally
        {
            _slots.Release();
        }
    }

    private void Report(EndPoint? client, Exception exception)
    {
        try
        {
            ConnectionFailed?.Invoke(this, new RendezvousForwarderFailure(client, exception));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A handler's fault must not end the connection's task with an exception nobody awaits.
            ClientLog.ForwarderHandlerFailed(_logger, ex);
        }
    }
}
