using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Policy;
using Rendezvous.Security.Internal;

namespace Rendezvous.Security;

/// <summary>
/// The default registration policy: the <c>response</c> must be the RFC 6238 TOTP code (HMAC-SHA1) of the
/// UUID's stored secret for the current time step or one within <see cref="TotpSecurityOptions.AllowedSkewSteps"/>
/// of it, and later than any step accepted before for that UUID (codes are single-use, also across restarts, and across
/// the nodes of a cluster whose store is shared). Unknown UUIDs, wrong, malformed and replayed codes are all refused
/// alike. Repeated failures per UUID or per remote address (an IPv6 /64) are throttled by failure counters
/// (<see cref="IFailureCounterFactory"/>: in this process by default, shared in a cluster), and a throttled attempt is
/// answered without checking its code. An address that registered the UUID successfully before (see
/// <see cref="TotpSecurityOptions.KnownAddressLifetime"/>) has a per-UUID budget of its own, so failures from other
/// addresses cannot lock it out; which addresses are known is remembered by each node for itself. Every attempt takes
/// its failure slots before anything is looked up, so concurrent attempts never exceed a limit. A replayed code (the
/// right code of a step already accepted) is refused but is not a guess, so it does not count as a failure. When the
/// secret store or a failure counter fails (a damaged database, Redis down), the attempt is answered
/// <see cref="RegistrationDecision.Unavailable"/> (the registrar answers 503 with Retry-After) and not counted.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027", Justification = "The 0.1.0 constructor keeps its optional logger and meter factory; the one with failure counters, which DI uses, takes them as required.")]
public sealed class TotpRegistrationPolicy : IRegistrationPolicy
{
    private const int MaxUuidKeyLength = 64;

    private static readonly byte[] DecoySecret = SecretFormat.CreateRandomSecret();

    private readonly SecretStore _store;
    private readonly TotpSecurityOptions _options;
    private readonly TotpVerifier _verifier;
    private readonly IFailureCounter _uuidFailures;
    private readonly IFailureCounter _addressFailures;
    private readonly IFailureCounter _knownAddressFailures;
    private readonly KnownAddresses _knownAddresses;
    private readonly ILogger _logger;
    private readonly SecurityMetrics _metrics;

    /// <summary>Creates the policy with failure counters in this process (<see cref="MemoryFailureCounterFactory"/>).</summary>
    /// <param name="store">Where the secrets and last accepted steps are kept.</param>
    /// <param name="options">The policy settings.</param>
    /// <param name="timeProvider">The clock codes are checked against.</param>
    /// <param name="logger">Logs outcomes (UUIDs and outcomes only, never codes); optional.</param>
    /// <param name="meterFactory">Creates the <c>Rendezvous.Security</c> meter; optional, a shared meter is used without it.</param>
    public TotpRegistrationPolicy(
        SecretStore store,
        IOptions<TotpSecurityOptions> options,
        TimeProvider timeProvider,
        ILogger<TotpRegistrationPolicy>? logger = null,
        IMeterFactory? meterFactory = null)
        : this(store, options, timeProvider, new MemoryFailureCounterFactory(timeProvider ?? throw new ArgumentNullException(nameof(timeProvider))), logger, meterFactory)
    {
    }

    /// <summary>
    /// Creates the policy with the failure counters of <paramref name="failureCounters"/>: counters named <c>uuid</c>,
    /// <c>address</c> and <c>known-address</c>, shared by every node when the factory keeps them in a shared store.
    /// </summary>
    /// <param name="store">Where the secrets and last accepted steps are kept.</param>
    /// <param name="options">The policy settings.</param>
    /// <param name="timeProvider">The clock codes are checked against.</param>
    /// <param name="failureCounters">Creates the failure counters per UUID, per address and per known address.</param>
    /// <param name="logger">Logs outcomes (UUIDs and outcomes only, never codes); may be <see langword="null"/>.</param>
    /// <param name="meterFactory">Creates the <c>Rendezvous.Security</c> meter; may be <see langword="null"/> (a shared meter is used).</param>
    public TotpRegistrationPolicy(
        SecretStore store,
        IOptions<TotpSecurityOptions> options,
        TimeProvider timeProvider,
        IFailureCounterFactory failureCounters,
        ILogger<TotpRegistrationPolicy>? logger,
        IMeterFactory? meterFactory)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(failureCounters);
        _store = store;
        _options = options.Value;
        _verifier = new TotpVerifier(timeProvider);
        _uuidFailures = failureCounters.Create("uuid", _options.MaxFailuresPerUuid, _options.FailureWindow, _options.MaxTrackedKeys);
        _addressFailures = failureCounters.Create("address", _options.MaxFailuresPerAddress, _options.FailureWindow, _options.MaxTrackedKeys);
        _knownAddressFailures = failureCounters.Create("known-address", _options.MaxFailuresPerUuid, _options.FailureWindow, _options.MaxTrackedKeys);
        _knownAddresses = new KnownAddresses(timeProvider, _options.KnownAddressLifetime, _options.MaxKnownAddressesPerUuid, _options.MaxKnownAddresses);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _metrics = new SecurityMetrics(meterFactory);
    }

    /// <summary>How many UUIDs and addresses have failures tracked now by in-process counters (for tests and diagnostics).</summary>
    internal int TrackedKeyCount => Count(_uuidFailures) + Count(_addressFailures) + Count(_knownAddressFailures);

    /// <summary>How many addresses are remembered as having registered a UUID successfully (for tests and diagnostics).</summary>
    internal int KnownAddressCount => _knownAddresses.Count;

    /// <summary>How many TOTP codes (one HMAC each) the policy has computed, for tests that check every refusal costs the same.</summary>
    internal long CodesComputed => _verifier.CodesComputed;

    /// <inheritdoc/>
    public async ValueTask<RegistrationDecision> AuthorizeAsync(RegistrationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        string uuidKey = SecretFormat.TryNormalizeUuid(request.Uuid, out string? uuid)
            ? uuid
            : Truncate(request.Uuid ?? string.Empty);
        string? addressKey = FailureThrottle.AddressKey(request.RemoteAddress);

        // Only a well-formed UUID is logged: the raw text is the caller's and may hold anything.
        string uuidForLog = uuid ?? "(malformed)";

        // A known address is judged by its own budget for the UUID; any other by the UUID's shared one.
        bool known = uuid is not null && addressKey is not null && _knownAddresses.Contains(uuid, addressKey);
        IFailureCounter guessFailures = known ? _knownAddressFailures : _uuidFailures;
        string guessKey = known ? KnownAddressKey(uuid!, addressKey!) : uuidKey;

        // The failure slots are taken first, before anything is looked up: checking and counting are one step in the
        // counter, so however many attempts arrive at once (at however many nodes), at most the limits are ever checked.
        // Success and replay give them back.
        var slots = new Slots(guessFailures, _addressFailures);
        try
        {
            if (await TryReserveAsync(slots, guessKey, addressKey, cancellationToken).ConfigureAwait(false) is { } retryAfter)
            {
                _metrics.Throttled();
                SecurityLog.RegistrationThrottled(_logger, uuidForLog, retryAfter);
                return RegistrationDecision.Throttle(retryAfter);
            }

            if (await CheckAsync(request, uuid, addressKey, slots, cancellationToken).ConfigureAwait(false) is { } decision)
            {
                return decision;
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The store or a counter failed (a removed or damaged database, Redis down; the store logs that once). Nothing
            // was judged, so the attempt is not counted: the slots go back as far as the counters still work, and the
            // registrar answers "unavailable, retry later" rather than a refusal the hidden server would take as final.
            await slots.ReleaseQuietlyAsync().ConfigureAwait(false);
            _metrics.Unavailable();
            SecurityLog.RegistrationStoreFailed(_logger, uuidForLog, exception.GetType().Name);
            return RegistrationDecision.Unavailable();
        }

        // The failure is already counted by the reserved slots. A known address's failure counts toward the UUID's
        // shared budget as well: guessing stays limited per UUID whichever address it comes from.
        if (known)
        {
            await QuietlyAsync(() => _uuidFailures.RecordFailureAsync(uuidKey, CancellationToken.None)).ConfigureAwait(false);
        }

        _metrics.Rejected();
        SecurityLog.RegistrationRejected(_logger, uuidForLog);
        return RegistrationDecision.Reject();
    }

    /// <summary>
    /// Checks the code against the store once the failure slots are taken: the decision when the code is right
    /// (accepted) or replayed, with the slots given back; <see langword="null"/> for a failure.
    /// </summary>
    private async ValueTask<RegistrationDecision?> CheckAsync(
        RegistrationRequest request,
        string? uuid,
        string? addressKey,
        Slots slots,
        CancellationToken cancellationToken)
    {
        if (uuid is not null && TotpVerifier.IsWellFormed(request.Response))
        {
            SecretEntry? entry = await _store.TryGetAsync(uuid, cancellationToken).ConfigureAwait(false);

            // An unknown UUID is checked against a decoy entry, and the verifier computes every candidate code of a
            // well-formed response whatever its length against the entry's digits: every refusal costs the same code
            // computations, so timing tells neither whether the UUID exists nor how many digits its codes have.
            SecretEntry checkedEntry = entry ?? new SecretEntry(uuid, DecoySecret, SecretFormat.DefaultStep, SecretFormat.DefaultDigits, default);
            bool verified = _verifier.TryVerify(checkedEntry, request.Response, _options.AllowedSkewSteps, out long step);
            if (entry is not null && verified)
            {
                if (await _store.TryAdvanceLastStepAsync(uuid, step, cancellationToken).ConfigureAwait(false))
                {
                    // The code is spent now: the answer is an acceptance even if giving the slots back fails. Failures
                    // from other addresses stay counted: a success must not refresh a guesser's budget.
                    await slots.ReleaseQuietlyAsync().ConfigureAwait(false);
                    if (addressKey is not null)
                    {
                        string knownKey = KnownAddressKey(uuid, addressKey);
                        await QuietlyAsync(() => _knownAddressFailures.ClearAsync(knownKey, CancellationToken.None)).ConfigureAwait(false);
                        _knownAddresses.Remember(uuid, addressKey);
                    }

                    _metrics.Accepted();
                    SecurityLog.RegistrationAccepted(_logger, uuid);
                    return RegistrationDecision.Accept();
                }

                // The right code of a step already accepted (or older): refused like any other failure, but it is
                // not a guess, so it does not count toward throttling (RFC 4226 section 7.3 throttles guessing).
                // A legacy hidden server that registers again with its code after our restart is then refused
                // only until the next step instead of being locked out for the whole failure window.
                await slots.ReleaseQuietlyAsync().ConfigureAwait(false);
                _metrics.Replayed();
                SecurityLog.RegistrationReplayed(_logger, uuid);
                return RegistrationDecision.Reject();
            }
        }

        return null;
    }

    /// <summary>
    /// Takes a failure slot of the guess budget and of the address, or neither: when either is throttled the other's
    /// slot is given back and the answer is the longer of the two waits; <see langword="null"/> when both are taken.
    /// </summary>
    private static async ValueTask<TimeSpan?> TryReserveAsync(Slots slots, string guessKey, string? addressKey, CancellationToken cancellationToken)
    {
        FailureSlot guess = await slots.Guess.TryReserveAsync(guessKey, cancellationToken).ConfigureAwait(false);
        if (!guess.IsReserved)
        {
            TimeSpan retryAfter = guess.RetryAfter;
            if (addressKey is not null && await slots.Address.GetRetryAfterAsync(addressKey, cancellationToken).ConfigureAwait(false) is var addressWait && addressWait > retryAfter)
            {
                retryAfter = addressWait;
            }

            return retryAfter;
        }

        slots.GuessSlot = guess;
        if (addressKey is null)
        {
            return null;
        }

        FailureSlot address = await slots.Address.TryReserveAsync(addressKey, cancellationToken).ConfigureAwait(false);
        if (!address.IsReserved)
        {
            await slots.ReleaseQuietlyAsync().ConfigureAwait(false);
            return address.RetryAfter;
        }

        slots.AddressSlot = address;
        return null;
    }

    /// <summary>Runs bookkeeping that must not change the answer: a counter that fails now is logged, not thrown.</summary>
    private async ValueTask QuietlyAsync(Func<ValueTask> operation)
    {
        try
        {
            await operation().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            SecurityLog.FailureCounterUpdateFailed(_logger, exception.GetType().Name);
        }
    }

    private static int Count(IFailureCounter counter) => counter is FailureThrottle throttle ? throttle.Count : 0;

    private static string KnownAddressKey(string uuid, string addressKey) => uuid + " " + addressKey;

    private static string Truncate(string value) => value.Length <= MaxUuidKeyLength ? value : value[..MaxUuidKeyLength];

    /// <summary>The failure slots one attempt holds, given back (at most once each) when it turns out not to be a failure.</summary>
    private sealed class Slots(IFailureCounter guess, IFailureCounter address)
    {
        public IFailureCounter Guess { get; } = guess;

        public IFailureCounter Address { get; } = address;

        public FailureSlot GuessSlot { get; set; }

        public FailureSlot AddressSlot { get; set; }

        /// <summary>Gives back the slots taken; a counter that fails meanwhile keeps its slot (it expires with its window).</summary>
        public async ValueTask ReleaseQuietlyAsync()
        {
            FailureSlot guessSlot = GuessSlot;
            FailureSlot addressSlot = AddressSlot;
            GuessSlot = default;
            AddressSlot = default;
            await ReleaseAsync(Guess, guessSlot).ConfigureAwait(false);
            await ReleaseAsync(Address, addressSlot).ConfigureAwait(false);
        }

        private static async ValueTask ReleaseAsync(IFailureCounter counter, FailureSlot slot)
        {
            if (!slot.IsReserved)
            {
                return;
            }

            try
            {
                await counter.ReleaseAsync(slot, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // The slot stays counted until its window ends: at worst one failure too many, never one too few.
            }
        }
    }
}
