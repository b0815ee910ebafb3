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
/// of it, and later than any step accepted before for that UUID (codes are single-use, also across restarts).
/// Unknown UUIDs, wrong, malformed and replayed codes are all refused alike. Repeated failures per UUID or per
/// remote address (an IPv6 /64) are throttled, and a throttled attempt is answered without checking its code. An
/// address that registered the UUID successfully before (see <see cref="TotpSecurityOptions.KnownAddressLifetime"/>)
/// has a per-UUID budget of its own, so failures from other addresses cannot lock it out. Every attempt takes its
/// failure slots before anything is looked up, so concurrent attempts never exceed a limit. A replayed code
/// (the right code of a step already accepted) is refused but is not a guess, so it does not count as a failure.
/// </summary>
public sealed class TotpRegistrationPolicy : IRegistrationPolicy
{
    private const int MaxUuidKeyLength = 64;

    private static readonly byte[] DecoySecret = SecretFormat.CreateRandomSecret();

    private readonly SecretStore _store;
    private readonly TotpSecurityOptions _options;
    private readonly TotpVerifier _verifier;
    private readonly FailureThrottle _uuidFailures;
    private readonly FailureThrottle _addressFailures;
    private readonly FailureThrottle _knownAddressFailures;
    private readonly KnownAddresses _knownAddresses;
    private readonly ILogger _logger;
    private readonly SecurityMetrics _metrics;

    /// <summary>Creates the policy.</summary>
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
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _store = store;
        _options = options.Value;
        _verifier = new TotpVerifier(timeProvider);
        _uuidFailures = new FailureThrottle(timeProvider, _options.MaxFailuresPerUuid, _options.FailureWindow, _options.MaxTrackedKeys);
        _addressFailures = new FailureThrottle(timeProvider, _options.MaxFailuresPerAddress, _options.FailureWindow, _options.MaxTrackedKeys);
        _knownAddressFailures = new FailureThrottle(timeProvider, _options.MaxFailuresPerUuid, _options.FailureWindow, _options.MaxTrackedKeys);
        _knownAddresses = new KnownAddresses(timeProvider, _options.KnownAddressLifetime, _options.MaxKnownAddressesPerUuid, _options.MaxKnownAddresses);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _metrics = new SecurityMetrics(meterFactory);
    }

    /// <summary>How many UUIDs and addresses have failures tracked now (for tests and diagnostics).</summary>
    internal int TrackedKeyCount => _uuidFailures.Count + _addressFailures.Count + _knownAddressFailures.Count;

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
        FailureThrottle guessFailures = known ? _knownAddressFailures : _uuidFailures;
        string guessKey = known ? KnownAddressKey(uuid!, addressKey!) : uuidKey;

        // The failure slots are taken now, before the first await: checking and counting are one step, so however
        // many attempts arrive at once, at most the limits are ever checked. Success and replay give them back.
        if (!TryReserve(guessFailures, guessKey, addressKey, out FailureThrottle.Reservation guessSlot, out FailureThrottle.Reservation addressSlot, out TimeSpan retryAfter))
        {
            _metrics.Throttled();
            SecurityLog.RegistrationThrottled(_logger, uuidForLog, retryAfter);
            return RegistrationDecision.Throttle(retryAfter);
        }

        try
        {
            if (await CheckAsync(request, uuid, addressKey, guessFailures, guessSlot, addressSlot, cancellationToken).ConfigureAwait(false) is { } decision)
            {
                return decision;
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The store failed (a removed or damaged database, say; the store itself logs that once). The attempt is
            // refused like a wrong code and stays counted, so guessing is throttled as ever while the store is down.
            SecurityLog.RegistrationStoreFailed(_logger, uuidForLog, exception.GetType().Name);
        }

        // The failure is already counted by the reserved slots. A known address's failure counts toward the UUID's
        // shared budget as well: guessing stays limited per UUID whichever address it comes from.
        if (known)
        {
            _uuidFailures.RecordFailure(uuidKey);
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
        FailureThrottle guessFailures,
        FailureThrottle.Reservation guessSlot,
        FailureThrottle.Reservation addressSlot,
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
                    // Failures from other addresses stay counted: a success must not refresh a guesser's budget.
                    guessFailures.Release(guessSlot);
                    _addressFailures.Release(addressSlot);
                    if (addressKey is not null)
                    {
                        _knownAddressFailures.Clear(KnownAddressKey(uuid, addressKey));
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
                guessFailures.Release(guessSlot);
                _addressFailures.Release(addressSlot);
                _metrics.Replayed();
                SecurityLog.RegistrationReplayed(_logger, uuid);
                return RegistrationDecision.Reject();
            }
        }

        return null;
    }

    /// <summary>
    /// Takes a failure slot of the guess budget and of the address, or neither: when either is throttled the other's
    /// slot is given back and <paramref name="retryAfter"/> is the longer of the two waits.
    /// </summary>
    private bool TryReserve(
        FailureThrottle guessFailures,
        string guessKey,
        string? addressKey,
        out FailureThrottle.Reservation guessSlot,
        out FailureThrottle.Reservation addressSlot,
        out TimeSpan retryAfter)
    {
        addressSlot = default;
        if (!guessFailures.TryReserve(guessKey, out guessSlot, out retryAfter))
        {
            if (addressKey is not null && _addressFailures.IsThrottled(addressKey, out TimeSpan addressWait) && addressWait > retryAfter)
            {
                retryAfter = addressWait;
            }

            return false;
        }

        if (addressKey is not null && !_addressFailures.TryReserve(addressKey, out addressSlot, out retryAfter))
        {
            guessFailures.Release(guessSlot);
            guessSlot = default;
            return false;
        }

        return true;
    }

    private static string KnownAddressKey(string uuid, string addressKey) => uuid + " " + addressKey;

    private static string Truncate(string value) => value.Length <= MaxUuidKeyLength ? value : value[..MaxUuidKeyLength];
}
