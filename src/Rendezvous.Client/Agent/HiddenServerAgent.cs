using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rendezvous.Client.Internal;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol;

namespace Rendezvous.Client.Agent;

/// <summary>Why <see cref="HiddenServerAgent.RunAsync"/> returned.</summary>
public enum HiddenServerStopReason
{
    /// <summary>Stopped on request (the token was cancelled).</summary>
    Stopped,

    /// <summary>Another hidden server registered the same UUID; this one stepped back rather than fight over it.</summary>
    Superseded,
}

/// <summary>
/// The hidden-server side: registers with a code from its <see cref="IRegistrationCodeSource"/> (TOTP codes
/// from the shared secret by default), keeps
/// <see cref="HiddenServerAgentOptions.PoolSize"/> connections parked at the relay, hands each paired
/// session to the application and parks a replacement at once. It registers again when the relay
/// forgets it (restart), steps back when another hidden server takes the UUID over, retries with
/// jittered exponential backoff, keeps parked connections alive (TCP keep-alive, periodic re-park) and
/// never logs the secret or codes. Use it as a hosted <see cref="BackgroundService"/> or call
/// <see cref="RunAsync"/> yourself.
/// </summary>
/// <remarks>
/// <para>
/// Which code it sends, and when it may send one, is the code source's business
/// (<see cref="HiddenServerAgentOptions.CodeSource"/>): the default, <see cref="TotpRegistrationCodeSource"/>,
/// works against any registrar that accepts the current TOTP step's code, such as the original
/// node-rendezvous, and after a refusal waits for the next step; it never sends a future step's code.
/// A request that did not reach the registrar does not spend the code. After
/// <see cref="RefusalsBeforeBackoff"/> refusals in a row it says what to check and waits minutes
/// between attempts.
/// </para>
/// <para>
/// A takeover of the UUID by another hidden server is noticed when a parked connection is closed or
/// reset without <c>+OK</c>, and by a lookup every <see cref="HiddenServerAgentOptions.OwnershipCheckInterval"/>,
/// for relays that leave a superseded registration's parked connections open.
/// </para>
/// </remarks>
public sealed class HiddenServerAgent : BackgroundService
{
    private readonly HiddenServerAgentOptions _options;
    private readonly Func<RendezvousSession, CancellationToken, Task> _handler;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RegistrarClient _registrar;
    private readonly AgentMetrics _metrics;
    private readonly IRegistrationCodeSource _codes;
    private readonly string _uuid;
    private readonly ConcurrentDictionary<long, Task> _sessions = new();
    private readonly Lock _statusLock = new();
    private HiddenServerStatus _status = new(HiddenServerState.Starting, 0, 0, 0, 0, null, null);
    private int _consecutiveRefusals;
    private long _nextSessionId;
    private int _effectivePool;
    private CancellationToken _stoppingToken;

    /// <summary>
    /// After this many refusals of its code in a row the agent says what to check (UUID, secret, clock) and
    /// waits minutes between attempts (up to <see cref="HiddenServerAgentOptions.MaxRefusalBackoff"/>)
    /// instead of trying again at each new time step.
    /// </summary>
    public const int RefusalsBeforeBackoff = 3;

    private static readonly TimeSpan ClockSkewWorthReporting = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait after a refusal that the agent takes from its code source.</summary>
    private static readonly TimeSpan MaxSourceDelay = TimeSpan.FromDays(1);

    /// <summary>Creates an agent.</summary>
    /// <param name="options">Registrar, identity (a secret or a <see cref="HiddenServerAgentOptions.CodeSource"/>), pool and timing. Validated here.</param>
    /// <param name="handler">Serves one session; the session is disposed when it returns.</param>
    /// <param name="time">The clock for backoff, re-parking and the default TOTP codes; the system clock when <see langword="null"/>.</param>
    /// <param name="logger">Where to log; nowhere when <see langword="null"/>.</param>
    /// <param name="meterFactory">Creates the <c>Rendezvous.Client</c> meter; a meter of its own when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    public HiddenServerAgent(
        HiddenServerAgentOptions options,
        Func<RendezvousSession, CancellationToken, Task> handler,
        TimeProvider? time = null,
        ILogger<HiddenServerAgent>? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        options.Validate();
        _options = options;
        _handler = handler;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        UuidText.TryNormalize(options.Uuid, out var uuid);
        _uuid = uuid!;
        _codes = options.CodeSource ?? new TotpRegistrationCodeSource(options.Secret!, options.Step, options.Digits, _time);
        _registrar = new RegistrarClient(options.RegistrarUrl!, options.Trust, options.ConnectTimeout);
        _effectivePool = options.PoolSize;
        _metrics = new AgentMetrics(() => Status, _uuid, meterFactory);
    }

    /// <summary>Raised whenever <see cref="Status"/> changes (on the thread that changed it).</summary>
    public event EventHandler<HiddenServerStatus>? StatusChanged;

    /// <summary>The agent's state now.</summary>
    public HiddenServerStatus Status
    {
        get
        {
            lock (_statusLock)
            {
                return _status;
            }
        }
    }

    /// <summary>
    /// Runs the agent until <paramref name="cancellationToken"/> is cancelled or another hidden server
    /// takes the UUID over. Sessions still running when it stops get the cancellation and are awaited.
    /// </summary>
    /// <param name="cancellationToken">Stops the agent.</param>
    /// <returns>Why it stopped.</returns>
    /// <exception cref="RendezvousException">An error retrying cannot fix, such as a registrar certificate that is not the pinned one or a <c>permanent</c> refusal.</exception>
    public async Task<HiddenServerStopReason> RunAsync(CancellationToken cancellationToken = default)
    {
        _stoppingToken = cancellationToken;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var triple = await RegisterAsync(cancellationToken).ConfigureAwait(false);

                // A new registration starts from the configured pool; the relay's limit is learnt again.
                Volatile.Write(ref _effectivePool, _options.PoolSize);
                var end = await RunGenerationAsync(triple, cancellationToken).ConfigureAwait(false);
                if (end == GenerationEnd.Superseded)
                {
                    ClientLog.Superseded(_logger, _uuid);
                    Update(s => s with { State = HiddenServerState.Superseded, LastError = $"{_uuid} was registered by another hidden server; stepping back." });
                    return HiddenServerStopReason.Superseded;
                }

                if (end == GenerationEnd.NotRegistered)
                {
                    ClientLog.Reregistering(_logger, _uuid);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (RendezvousException ex)
        {
            ClientLog.AgentFailed(_logger, _uuid, ex.Message);
            Update(s => s with { State = HiddenServerState.Failed, LastError = ex.Message });
            throw;
        }
        finally
        {
            await Task.WhenAll(_sessions.Values.ToArray()).ConfigureAwait(false);
        }

        Update(s => s with { State = HiddenServerState.Stopped, Parked = 0 });
        return HiddenServerStopReason.Stopped;
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _metrics.Dispose();
        _registrar.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken) => await RunAsync(stoppingToken).ConfigureAwait(false);

    private async Task<RendezvousTriple> RegisterAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(_options.InitialBackoff, _options.MaxBackoff);
        var refusalBackoff = new Backoff(TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(1).Ticks, _options.MaxRefusalBackoff.Ticks)), _options.MaxRefusalBackoff);
        Update(s => s with { State = HiddenServerState.Registering });
        while (true)
        {
            var code = await NextCodeAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var triple = await _registrar.RegisterAsync(_uuid, code, cancellationToken).ConfigureAwait(false);
                _codes.OnAccepted(_uuid, code);
                _consecutiveRefusals = 0;
                ClientLog.Registered(_logger, _uuid, triple.ToString());
                Update(s => s with
                {
                    State = HiddenServerState.Registered,
                    Registrations = s.Registrations + 1,
                    LastRegistration = _time.GetUtcNow(),
                    LastError = null,
                    NextAttempt = null,
                });
                return triple;
            }
            catch (RendezvousException ex) when (!ex.Permanent)
            {
                TimeSpan delay;
                var problem = ex.Message;
                if (ex.Error is RendezvousError.InvalidRequest or RendezvousError.Refused)
                {
                    // The registrar checked the code and refused it: the source says when a next code may
                    // be tried (TOTP: at the start of the next step), unless refusals keep coming.
                    var sourceDelay = _codes.OnRefused(_uuid, code);
                    _consecutiveRefusals++;
                    if (_consecutiveRefusals >= RefusalsBeforeBackoff)
                    {
                        delay = refusalBackoff.Next();
                        problem = DescribeRefusals(ex);
                    }
                    else
                    {
                        delay = sourceDelay < MaxSourceDelay ? sourceDelay : MaxSourceDelay;
                    }
                }
                else
                {
                    // Throttled, unreachable, timed out: the code was not refused, so the source may give it
                    // again (TOTP: the registrar may accept a code again within its step; if it refuses it
                    // as a replay, that refusal moves the source on to the next step).
                    delay = ex.RetryAfter is { } retryAfter && retryAfter > TimeSpan.Zero ? retryAfter : backoff.Next();
                }

                delay = delay > TimeSpan.Zero ? delay : TimeSpan.Zero;
                ClientLog.RegistrationFailed(_logger, _uuid, problem, delay);
                var next = _time.GetUtcNow() + delay;
                Update(s => s with { State = HiddenServerState.Registering, LastError = problem, NextAttempt = next });
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The source's next code, which must not be empty (an empty response is no registration at all).</summary>
    private async Task<string> NextCodeAsync(CancellationToken cancellationToken)
    {
        var code = await _codes.GetCodeAsync(_uuid, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(code))
        {
            throw new RendezvousException(
                RendezvousError.Permanent,
                $"The registration code source {_codes.GetType().FullName} gave an empty code for {_uuid}; it must give the non-empty response the registrar's policy expects.",
                permanent: true);
        }

        return code;
    }

    /// <summary>What to check after repeated refusals: the UUID and secret, and the clock, with its offset from the registrar's when that is large.</summary>
    private string DescribeRefusals(RendezvousException refusal)
    {
        var refused = $"{refusal.Message.TrimEnd('.')}, {_consecutiveRefusals} times in a row.";
        var identity = _codes is TotpRegistrationCodeSource
            ? $"that the UUID {_uuid} and its secret are the ones provisioned on the registrar (uuid and secret in the config file)"
            : $"that the UUID {_uuid} is known to the registrar and that the codes of {_codes.GetType().FullName} are what its registration policy accepts";
        if (refusal.RegistrarDate is not { } registrarDate)
        {
            return $"{refused} Check {identity}, and that this machine's clock is right.";
        }

        // The Date header has whole seconds: compare the local time truncated the same way.
        var now = _time.GetUtcNow();
        var offset = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds()) - registrarDate;
        if (offset.Duration() <= ClockSkewWorthReporting)
        {
            return $"{refused} Check {identity}; this machine's clock agrees with the registrar's within {ClockSkewWorthReporting.TotalSeconds:0} s.";
        }

        return $"{refused} This machine's clock is {DescribeDuration(offset.Duration())} {(offset > TimeSpan.Zero ? "ahead of" : "behind")} the registrar's "
            + $"(here {now.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, the registrar {registrarDate.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC) and codes depend on the time: "
            + $"set the clock right (e.g. with NTP). Also check {identity}.";
    }

    private static string DescribeDuration(TimeSpan duration) => duration.TotalSeconds switch
    {
        < 120 => $"{duration.TotalSeconds:0} s",
        < 7200 => $"{(int)duration.TotalMinutes} min {duration.Seconds} s",
        _ => $"{(int)duration.TotalHours} h {duration.Minutes} min",
    };

    private async Task<GenerationEnd> RunGenerationAsync(RendezvousTriple triple, CancellationToken cancellationToken)
    {
        using var generation = new Generation(triple, cancellationToken);
        var slots = Enumerable.Range(0, _options.PoolSize).Select(i => RunSlotAsync(generation, i)).Append(WatchOwnershipAsync(generation)).ToArray();
        GenerationEnd end;
        try
        {
            end = await generation.Ended.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Also on stop: no slot may outlive the run (they use the registrar client).
            await generation.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(slots).ConfigureAwait(false);
        }

        if (end == GenerationEnd.NotRegistered)
        {
            // Not current any more: either the relay restarted (nobody holds the UUID), or another
            // hidden server registered it. Only the first is a reason to register again.
            end = await CheckRegistrationAsync(generation.Triple, cancellationToken).ConfigureAwait(false) switch
            {
                Ownership.Other => GenerationEnd.Superseded,
                _ => GenerationEnd.NotRegistered,
            };
        }

        return end;
    }

    private async Task RunSlotAsync(Generation generation, int index)
    {
        var backoff = new Backoff(_options.InitialBackoff, _options.MaxBackoff);
        var token = generation.Token;
        while (!token.IsCancellationRequested && index < Volatile.Read(ref _effectivePool))
        {
            var (reply, socket, parkedFor) = await ParkOnceAsync(generation.Triple, token).ConfigureAwait(false);
            if (token.IsCancellationRequested)
            {
                socket?.Dispose();
                return;
            }

            switch (reply)
            {
                case ParkReply.Paired:
                    backoff.Reset();
                    StartSession(socket!);
                    continue;

                case ParkReply.Repark:
                    socket?.Dispose();
                    continue;

                case ParkReply.NotRegistered:
                    socket?.Dispose();
                    generation.End(GenerationEnd.NotRegistered);
                    return;

                case ParkReply.ClosedByRelay or ParkReply.Reset:
                    // Closed or reset without +OK: the relay restarted, forgot the registration, keeps
                    // fewer per UUID, or (the original) another hidden server took the UUID over.
                    socket?.Dispose();
                    var parkedNow = Status.Parked;
                    var ownership = await CheckRegistrationAsync(generation.Triple, token).ConfigureAwait(false);
                    if (EndUnlessOurs(generation, ownership))
                    {
                        return;
                    }

                    if (ownership == Ownership.Ours && reply == ParkReply.ClosedByRelay && parkedFor < TimeSpan.FromSeconds(5))
                    {
                        // Still ours, and closed right after parking: the relay keeps fewer per UUID,
                        // and it was full, so it keeps as many as are parked now.
                        ReducePool(parkedNow);
                    }

                    break;

                default:
                    socket?.Dispose();
                    break;
            }

            var delay = backoff.Next();
            ClientLog.ParkFailed(_logger, generation.Triple.ToString(), reply.ToString(), delay);
            try
            {
                await Task.Delay(delay, _time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Looks the UUID up every <see cref="HiddenServerAgentOptions.OwnershipCheckInterval"/> while the
    /// generation runs: the original node-rendezvous leaves a superseded registration's parked connections
    /// open, so without this the agent would notice a takeover only when it re-parks.
    /// </summary>
    private async Task WatchOwnershipAsync(Generation generation)
    {
        if (_options.OwnershipCheckInterval == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        var token = generation.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await Task.Delay(_options.OwnershipCheckInterval, _time, token).ConfigureAwait(false);
                if (EndUnlessOurs(generation, await CheckRegistrationAsync(generation.Triple, token).ConfigureAwait(false)))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Ends the generation when the registrar says the UUID is another's (superseded) or nobody's (register again).</summary>
    /// <returns>Whether it ended the generation.</returns>
    private static bool EndUnlessOurs(Generation generation, Ownership ownership)
    {
        GenerationEnd? end = ownership switch
        {
            Ownership.Other => GenerationEnd.Superseded,
            Ownership.Nobody => GenerationEnd.NotRegistered,
            _ => null,
        };
        if (end is { } ended)
        {
            generation.End(ended);
        }

        return end is not null;
    }

    private async Task<(ParkReply Reply, Socket? Socket, TimeSpan ParkedFor)> ParkOnceAsync(RendezvousTriple triple, CancellationToken token)
    {
        Socket socket;
        try
        {
            socket = await RelayHandshake.ConnectAndSendLineAsync(triple, _options.ConnectTimeout, token).ConfigureAwait(false);
        }
        catch (RendezvousException ex)
        {
            Update(s => s with { LastError = ex.Message });
            return (ParkReply.Unreachable, null, TimeSpan.Zero);
        }
        catch (OperationCanceledException)
        {
            return (ParkReply.Unreachable, null, TimeSpan.Zero);
        }

        EnableKeepAlive(socket);
        var parkedAt = _time.GetTimestamp();
        Update(s => s with { Parked = s.Parked + 1 });
        try
        {
            using var repark = new CancellationTokenSource(_options.ReparkInterval, _time);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(token, repark.Token);
            var line = await RelayHandshake.ReadReplyAsync(socket, wait.Token).ConfigureAwait(false);
            var reply = line switch
            {
                "+OK" => ParkReply.Paired,
                "-ERR not registered" => ParkReply.NotRegistered,
                null => ParkReply.ClosedByRelay,
                _ => ParkReply.Refused,
            };
            if (reply == ParkReply.Refused)
            {
                var answer = AnswerText.Quote(System.Text.Encoding.Latin1.GetBytes(line!));
                Update(s => s with { LastError = $"The relay at {triple.Host}:{triple.Port} refused the parked connection: it answered {answer}." });
            }

            return (reply, socket, _time.GetElapsedTime(parkedAt));
        }
        catch (OperationCanceledException)
        {
            return (token.IsCancellationRequested ? ParkReply.Unreachable : ParkReply.Repark, socket, _time.GetElapsedTime(parkedAt));
        }
        catch (SocketException)
        {
            return (ParkReply.Reset, socket, _time.GetElapsedTime(parkedAt));
        }
        finally
        {
            Update(s => s with { Parked = Math.Max(0, s.Parked - 1) });
        }
    }

    private async Task<Ownership> CheckRegistrationAsync(RendezvousTriple ours, CancellationToken token)
    {
        try
        {
            var current = await _registrar.LookupAsync(_uuid, token).ConfigureAwait(false);
            return IsOwnRegistration(current.CookieValue, ours.CookieValue) ? Ownership.Ours : Ownership.Other;
        }
        catch (RendezvousException ex) when (ex.Error == RendezvousError.NotRegistered)
        {
            return Ownership.Nobody;
        }
        catch (RendezvousException ex) when (!ex.Permanent)
        {
            return Ownership.Unknown;
        }
        catch (OperationCanceledException)
        {
            return Ownership.Unknown;
        }
    }

    /// <summary>
    /// Whether a lookup's <c>I</c> value belongs to the registration whose <c>R</c> value we hold: the same
    /// value (the original node-rendezvous hands out one value for both modes) or the value derived from ours
    /// by <see cref="RendezvousCookies.InitiatorValueFor"/> (ours keeps the <c>R</c> value for the registrant).
    /// </summary>
    /// <param name="lookedUp">The cookie value a lookup of our UUID returned, without its mode letter.</param>
    /// <param name="responderValue">The <c>R</c> value of our registration, without its mode letter.</param>
    /// <returns>Whether the lookup found our registration.</returns>
    internal static bool IsOwnRegistration(string lookedUp, string responderValue) =>
        string.Equals(lookedUp, responderValue, StringComparison.Ordinal)
        || string.Equals(lookedUp, RendezvousCookies.InitiatorValueFor(responderValue), StringComparison.Ordinal);

    private void ReducePool(int kept)
    {
        var target = Math.Max(1, kept);
        while (true)
        {
            var pool = Volatile.Read(ref _effectivePool);
            if (pool <= target)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _effectivePool, target, pool) == pool)
            {
                ClientLog.PoolReduced(_logger, target);
                return;
            }
        }
    }

    private void EnableKeepAlive(Socket socket)
    {
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)Math.Max(1, _options.KeepAliveTime.TotalSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)Math.Max(1, _options.KeepAliveTime.TotalSeconds / 3));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
        }
        catch (SocketException)
        {
            // Keep-alive is an optimisation; re-parking still keeps the connection fresh.
        }
    }

    private void StartSession(Socket socket)
    {
        var id = Interlocked.Increment(ref _nextSessionId);
        _sessions[id] = ServeAsync(id, socket);
    }

    private async Task ServeAsync(long id, Socket socket)
    {
        await Task.Yield();
        Update(s => s with { ActiveSessions = s.ActiveSessions + 1, TotalSessions = s.TotalSessions + 1 });
        ClientLog.SessionStarted(_logger, id);
        var session = new RendezvousSession(socket, new NetworkStream(socket, ownsSocket: false), new RendezvousSessionInfo(_uuid, RendezvousRole.HiddenServer, RelayHandshake.TryGetRemoteEndPoint(socket)));
        var stopping = _stoppingToken;
        try
        {
            if (_options.Authenticator is { } authenticator)
            {
                await session.AuthenticateAsync(authenticator, _options.AuthenticationTimeout, stopping).ConfigureAwait(false);
            }

            await _handler(session, stopping).ConfigureAwait(false);
        }
        catch (RendezvousException ex)
        {
            ClientLog.SessionRejected(_logger, id, ex.Message);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            ClientLog.SessionFailed(_logger, id, ex);
        }
        finally
        {
            await session.DisposeAsync().ConfigureAwait(false);
            ClientLog.SessionEnded(_logger, id);
            Update(s => s with { ActiveSessions = Math.Max(0, s.ActiveSessions - 1) });
            _sessions.TryRemove(id, out _);
        }
    }

    private void Update(Func<HiddenServerStatus, HiddenServerStatus> change)
    {
        HiddenServerStatus updated;
        lock (_statusLock)
        {
            updated = change(_status);
            if (updated == _status)
            {
                return;
            }

            _status = updated;
        }

        StatusChanged?.Invoke(this, updated);
    }

    private enum GenerationEnd
    {
        NotRegistered,
        Superseded,
    }

    private enum ParkReply
    {
        Paired,
        NotRegistered,
        ClosedByRelay,
        Reset,
        Refused,
        Unreachable,
        Repark,
    }

    private enum Ownership
    {
        Ours,
        Other,
        Nobody,
        Unknown,
    }

    /// <summary>One registration's worth of parking: its triple, and a signal for when to stop.</summary>
    private sealed class Generation(RendezvousTriple triple, CancellationToken stopping) : IDisposable
    {
        private readonly CancellationTokenSource _cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        private readonly TaskCompletionSource<GenerationEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public RendezvousTriple Triple { get; } = triple;

        public CancellationToken Token => _cancel.Token;

        public Task<GenerationEnd> Ended => _ended.Task;

        public void End(GenerationEnd end) => _ended.TrySetResult(end);

        public Task CancelAsync() => _cancel.CancelAsync();

        public void Dispose() => _cancel.Dispose();
    }
}
