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
using Rendezvous.Protocol.Registrar;

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
    private readonly RegistrarSet _registrars;
    private readonly AgentMetrics _metrics;
    private readonly IRegistrationCodeSource _codes;
    private readonly string _uuid;
    private readonly ConcurrentDictionary<long, Task> _sessions = new();
    private readonly Lock _statusLock = new();
    private HiddenServerStatus _status = new(HiddenServerState.Starting, 0, 0, 0, 0, null, null);
    private int _consecutiveRefusals;
    private long _nextSessionId;
    private Generation? _generation;
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
        _registrars = new RegistrarSet(options.AllRegistrarUrls(), options.Trust, options.ConnectTimeout);
        _metrics = new AgentMetrics(() => Status, _uuid, meterFactory);
    }

    /// <summary>Raised whenever <see cref="Status"/> changes (on the thread that changed it).</summary>
    public event EventHandler<HiddenServerStatus>? StatusChanged;

    /// <summary>
    /// How many connections the agent aims to keep parked at the owner relay of its current registration: the pool
    /// advice (or <see cref="HiddenServerAgentOptions.PoolSize"/>) within the configured bounds, grown after bursts and
    /// shrunk after quiet periods, and at most what the relay keeps per UUID. 0 while not registered.
    /// </summary>
    public int TargetPoolSize => Volatile.Read(ref _generation)?.EffectivePool ?? 0;

    /// <summary>The registrar that answered last, of <see cref="HiddenServerAgentOptions.RegistrarUrl"/> and <see cref="HiddenServerAgentOptions.RegistrarUrls"/>.</summary>
    public Uri CurrentRegistrar => _registrars.Current;

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

                // A new registration starts from its advised (or configured) pool; the relay's limit is learnt again.
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
                else if (end == GenerationEnd.OwnerLost)
                {
                    ClientLog.OwnerRelayLost(_logger, _uuid, triple.ToString(), _options.OwnerRelayLostAfter);
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
        _registrars.Dispose();
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
                var triple = await _registrars.RegisterAsync(_uuid, code, cancellationToken).ConfigureAwait(false);
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
        using var generation = new Generation(triple, cancellationToken, _options.BasePool(triple.PoolAdvice), _time.GetTimestamp());
        Volatile.Write(ref _generation, generation);
        EnsureOwnerSlots(generation);

        // The alternates get half the pool each (at least one): they serve only while the owner relay is gone, and the
        // agent registers again for a live owner soon after.
        var alternatePool = (generation.BasePool + 1) / 2;
        foreach (var alternate in triple.Alternates)
        {
            for (var i = 0; i < alternatePool; i++)
            {
                generation.Track(RunAlternateSlotAsync(generation, alternate));
            }
        }

        generation.Track(WatchOwnershipAsync(generation));
        GenerationEnd end;
        try
        {
            end = await generation.Ended.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Also on stop: no slot may outlive the run (they use the registrar client).
            await generation.CancelAsync().ConfigureAwait(false);
            await generation.WhenAllStoppedAsync().ConfigureAwait(false);
            Interlocked.CompareExchange(ref _generation, null, generation);
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

    /// <summary>Starts the owner slots the pool lacks (all of them for a new registration, one when it grew).</summary>
    private void EnsureOwnerSlots(Generation generation)
    {
        foreach (var index in generation.ClaimMissingSlots())
        {
            generation.Track(RunSlotAsync(generation, index));
        }
    }

    private async Task RunSlotAsync(Generation generation, int index)
    {
        var backoff = new Backoff(_options.InitialBackoff, _options.MaxBackoff);
        var token = generation.Token;
        while (!token.IsCancellationRequested && !generation.TryRetire(index))
        {
            var (reply, socket, parkedFor) = await ParkOnceAsync(generation.Triple, token, generation).ConfigureAwait(false);
            if (token.IsCancellationRequested)
            {
                socket?.Dispose();
                generation.Retired(index);
                return;
            }

            if (reply == ParkReply.Unreachable)
            {
                if (generation.Triple.Alternates.Count > 0
                    && _time.GetElapsedTime(generation.OwnerUnreachable(_time.GetTimestamp())) >= _options.OwnerRelayLostAfter)
                {
                    // The owner relay is gone while alternates serve: register again, through a live registrar, for a live owner.
                    generation.End(GenerationEnd.OwnerLost);
                    generation.Retired(index);
                    return;
                }
            }
            else
            {
                generation.OwnerReached();
            }

            switch (reply)
            {
                case ParkReply.Paired:
                    backoff.Reset();
                    StartSession(socket!);
                    if (generation.OnPaired(_time.GetTimestamp(), _time.TimestampFrequency, _options) is { } grown)
                    {
                        ClientLog.PoolGrew(_logger, _uuid, grown);
                        EnsureOwnerSlots(generation);
                    }

                    ShrinkWhenQuiet(generation);
                    continue;

                case ParkReply.Repark:
                    socket?.Dispose();
                    ShrinkWhenQuiet(generation);
                    continue;

                case ParkReply.NotRegistered:
                    socket?.Dispose();
                    generation.End(GenerationEnd.NotRegistered);
                    generation.Retired(index);
                    return;

                case ParkReply.ClosedByRelay or ParkReply.Reset:
                    // Closed or reset without +OK: the relay restarted, forgot the registration, keeps
                    // fewer per UUID, or (the original) another hidden server took the UUID over.
                    socket?.Dispose();
                    var parkedNow = generation.OwnerParked;
                    var ownership = await CheckRegistrationAsync(generation.Triple, token).ConfigureAwait(false);
                    if (EndUnlessOurs(generation, ownership))
                    {
                        generation.Retired(index);
                        return;
                    }

                    if (ownership == Ownership.Ours && reply == ParkReply.ClosedByRelay && parkedFor < TimeSpan.FromSeconds(5))
                    {
                        // Still ours, and closed right after parking: the relay keeps fewer per UUID,
                        // and it was full, so it keeps as many as are parked now.
                        if (generation.ReduceRelayLimit(parkedNow) is { } kept)
                        {
                            ClientLog.PoolReduced(_logger, kept);
                        }
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
                generation.Retired(index);
                return;
            }
        }

        if (token.IsCancellationRequested)
        {
            generation.Retired(index);
        }
    }

    /// <summary>Shrinks a grown pool by one once it has not grown for <see cref="HiddenServerAgentOptions.PoolShrinkAfter"/>.</summary>
    private void ShrinkWhenQuiet(Generation generation)
    {
        if (generation.ShrinkWhenQuiet(_time.GetTimestamp(), _time.TimestampFrequency, _options.PoolShrinkAfter) is { } shrunk)
        {
            ClientLog.PoolShrank(_logger, _uuid, shrunk);
        }
    }

    /// <summary>
    /// Keeps one connection parked at an alternate relay of a cluster's registration, with the same <c>R</c> cookie, so
    /// that clients that fall back there are served when the owner relay is gone. Whatever the alternate answers other
    /// than a pairing (not registered there yet, closed, unreachable) is retried after a backoff: the owner's slots and
    /// the ownership check decide about the registration, not the alternates.
    /// </summary>
    private async Task RunAlternateSlotAsync(Generation generation, RelayAddress alternate)
    {
        var backoff = new Backoff(_options.InitialBackoff, _options.MaxBackoff);
        var token = generation.Token;
        var at = generation.Triple with { Host = alternate.Host, Port = alternate.Port };
        while (!token.IsCancellationRequested)
        {
            var (reply, socket, _) = await ParkOnceAsync(at, token, null).ConfigureAwait(false);
            if (token.IsCancellationRequested)
            {
                socket?.Dispose();
                return;
            }

            if (reply == ParkReply.Paired)
            {
                backoff.Reset();
                StartSession(socket!);
                continue;
            }

            socket?.Dispose();
            if (reply == ParkReply.Repark)
            {
                continue;
            }

            var delay = backoff.Next();
            ClientLog.ParkFailed(_logger, at.ToString(), reply.ToString(), delay);
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

    /// <summary>Parks one connection at the triple's relay and waits for its end; <paramref name="owner"/> counts the connections parked at the owner relay.</summary>
    private async Task<(ParkReply Reply, Socket? Socket, TimeSpan ParkedFor)> ParkOnceAsync(RendezvousTriple triple, CancellationToken token, Generation? owner)
    {
        // Counted from before its line goes out: a relay that keeps fewer per UUID closes the oldest as soon as it
        // reads the line, and that close may reach its slot before this one's send returns. The slot that sees it
        // then counts this connection among those the relay keeps, not one fewer.
        owner?.CountParked(1);
        Socket socket;
        try
        {
            socket = await RelayHandshake.ConnectAndSendLineAsync(triple, _options.ConnectTimeout, token).ConfigureAwait(false);
        }
        catch (RendezvousException ex)
        {
            owner?.CountParked(-1);
            Update(s => s with { LastError = ex.Message });
            return (ParkReply.Unreachable, null, TimeSpan.Zero);
        }
        catch (OperationCanceledException)
        {
            owner?.CountParked(-1);
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
            owner?.CountParked(-1);
            Update(s => s with { Parked = Math.Max(0, s.Parked - 1) });
        }
    }

    private async Task<Ownership> CheckRegistrationAsync(RendezvousTriple ours, CancellationToken token)
    {
        try
        {
            var current = await _registrars.LookupAsync(_uuid, token).ConfigureAwait(false);
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
        OwnerLost,
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

    /// <summary>
    /// One registration's worth of parking: its triple, a signal for when to stop, its tasks, and its owner pool: the
    /// target (advice, grown and shrunk), the relay's limit, which owner slots run, and when the owner relay was last
    /// unreachable.
    /// </summary>
    private sealed class Generation : IDisposable
    {
        private const int MaxSlots = 64;

        private readonly CancellationTokenSource _cancel;
        private readonly TaskCompletionSource<GenerationEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Lock _lock = new();
        private readonly List<Task> _tasks = [];
        private readonly bool[] _running = new bool[MaxSlots];
        private readonly Queue<long> _pairings = new();
        private int _target;
        private int _relayLimit = MaxSlots;
        private long _changedAt;
        private long _unreachableSince;
        private int _ownerParked;

        public Generation(RendezvousTriple triple, CancellationToken stopping, int basePool, long now)
        {
            Triple = triple;
            BasePool = basePool;
            _target = basePool;
            _changedAt = now;
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        }

        public RendezvousTriple Triple { get; }

        /// <summary>The pool the registration started with (advice or configured, within the bounds); it shrinks back to it.</summary>
        public int BasePool { get; }

        public CancellationToken Token => _cancel.Token;

        public Task<GenerationEnd> Ended => _ended.Task;

        /// <summary>The owner slots that should run: the target, at most the relay's limit.</summary>
        public int EffectivePool
        {
            get
            {
                lock (_lock)
                {
                    return Math.Min(_target, _relayLimit);
                }
            }
        }

        /// <summary>Connections parked at the owner relay now, or on their way (their line sent or being sent).</summary>
        public int OwnerParked => Volatile.Read(ref _ownerParked);

        public void CountParked(int change) => Interlocked.Add(ref _ownerParked, change);

        public void End(GenerationEnd end) => _ended.TrySetResult(end);

        public Task CancelAsync() => _cancel.CancelAsync();

        public void Track(Task task)
        {
            lock (_lock)
            {
                _tasks.Add(task);
            }
        }

        /// <summary>Awaits every task, also those started while waiting (a slot started as the pool grew).</summary>
        public async Task WhenAllStoppedAsync()
        {
            for (var awaited = 0; ;)
            {
                Task[] tasks;
                lock (_lock)
                {
                    if (_tasks.Count == awaited)
                    {
                        return;
                    }

                    tasks = [.. _tasks];
                }

                await Task.WhenAll(tasks).ConfigureAwait(false);
                awaited = tasks.Length;
            }
        }

        /// <summary>Marks the owner slots below the effective pool that do not run as running, and returns them, to be started.</summary>
        public List<int> ClaimMissingSlots()
        {
            var missing = new List<int>();
            lock (_lock)
            {
                if (_cancel.IsCancellationRequested)
                {
                    return missing;
                }

                for (var i = 0; i < Math.Min(_target, _relayLimit); i++)
                {
                    if (!_running[i])
                    {
                        _running[i] = true;
                        missing.Add(i);
                    }
                }
            }

            return missing;
        }

        /// <summary>Whether slot <paramref name="index"/> is beyond the effective pool; if so it is marked as stopped, and stops.</summary>
        public bool TryRetire(int index)
        {
            lock (_lock)
            {
                if (index < Math.Min(_target, _relayLimit))
                {
                    return false;
                }

                _running[index] = false;
                return true;
            }
        }

        /// <summary>Marks slot <paramref name="index"/> as stopped (the generation ended).</summary>
        public void Retired(int index)
        {
            lock (_lock)
            {
                _running[index] = false;
            }
        }

        /// <summary>
        /// Records a pairing at the owner relay; when as many pairings as the pool came within the growth window, grows
        /// the target by one (up to the largest pool and the relay's limit).
        /// </summary>
        /// <returns>The new target when it grew.</returns>
        public int? OnPaired(long now, long frequency, HiddenServerAgentOptions options)
        {
            var window = (long)(options.PoolGrowthWindow.TotalSeconds * frequency);
            lock (_lock)
            {
                _pairings.Enqueue(now);
                while (_pairings.Count > 0 && now - _pairings.Peek() > window)
                {
                    _pairings.Dequeue();
                }

                var effective = Math.Min(_target, _relayLimit);
                if (_pairings.Count < effective || _target >= options.EffectiveMaxPoolSize || _target >= _relayLimit)
                {
                    // Bounded: never more than the pool's worth of pairings kept.
                    while (_pairings.Count > effective)
                    {
                        _pairings.Dequeue();
                    }

                    return null;
                }

                _pairings.Clear();
                _target++;
                _changedAt = now;
                return _target;
            }
        }

        /// <summary>Shrinks a target above the base pool by one once it has not changed for <paramref name="quiet"/>.</summary>
        /// <returns>The new target when it shrank.</returns>
        public int? ShrinkWhenQuiet(long now, long frequency, TimeSpan quiet)
        {
            lock (_lock)
            {
                if (_target <= BasePool || now - _changedAt < (long)(quiet.TotalSeconds * frequency))
                {
                    return null;
                }

                _target--;
                _changedAt = now;
                return _target;
            }
        }

        /// <summary>The relay closed a fresh park while <paramref name="kept"/> were parked: it keeps that many per UUID.</summary>
        /// <returns>The new limit when it went down.</returns>
        public int? ReduceRelayLimit(int kept)
        {
            var limit = Math.Max(1, kept);
            lock (_lock)
            {
                if (Math.Min(_target, _relayLimit) <= limit)
                {
                    return null;
                }

                _relayLimit = limit;
                return limit;
            }
        }

        /// <summary>Records that the owner relay could not be reached; returns when that started (the first failure since it was last reached).</summary>
        public long OwnerUnreachable(long now)
        {
            Interlocked.CompareExchange(ref _unreachableSince, now, 0);
            return Volatile.Read(ref _unreachableSince);
        }

        /// <summary>Records that the owner relay answered.</summary>
        public void OwnerReached() => Volatile.Write(ref _unreachableSince, 0);

        public void Dispose() => _cancel.Dispose();
    }
}
