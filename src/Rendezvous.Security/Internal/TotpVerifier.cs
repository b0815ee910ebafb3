using System.Security.Cryptography;
using OtpNet;

namespace Rendezvous.Security.Internal;

/// <summary>Checks RFC 6238 codes (HMAC-SHA1) against a secret entry at the time of an injected clock.</summary>
internal sealed class TotpVerifier
{
    private readonly TimeProvider _timeProvider;
    private long _codesComputed;

    public TotpVerifier(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _timeProvider = timeProvider;
    }

    /// <summary>How many codes (one HMAC each) this verifier has computed: a seam for tests that check every refusal costs the same.</summary>
    internal long CodesComputed => Interlocked.Read(ref _codesComputed);

    /// <summary>Whether a response has the shape of a code: 6 to 8 ASCII digits.</summary>
    public static bool IsWellFormed(string? response) =>
        response is not null
        && response.Length is >= SecretFormat.MinimumDigits and <= SecretFormat.MaximumDigits
        && response.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>
    /// Checks <paramref name="response"/> against the steps from <paramref name="allowedSkewSteps"/> before the
    /// current one to as many after it.
    /// </summary>
    /// <param name="entry">The secret entry.</param>
    /// <param name="response">The code the caller sent.</param>
    /// <param name="allowedSkewSteps">How many steps either side are accepted.</param>
    /// <param name="matchedStep">The time step the code belongs to, when it matches.</param>
    /// <returns><see langword="true"/> when the code matches one of the accepted steps.</returns>
    /// <remarks>
    /// A well-formed code costs the same whatever the entry: one of another length than the entry's digits (or an
    /// entry with an invalid step) is still computed and compared for every candidate step, then refused, so the
    /// time taken tells neither the entry's length from another nor a real entry from the policy's decoy.
    /// </remarks>
    public bool TryVerify(SecretEntry entry, string? response, int allowedSkewSteps, out long matchedStep)
    {
        ArgumentNullException.ThrowIfNull(entry);
        matchedStep = -1;
        if (!IsWellFormed(response))
        {
            return false;
        }

        bool acceptable = response!.Length == entry.Digits && SecretFormat.IsValidStep(entry.Step);
        int stepSeconds = SecretFormat.IsValidStep(entry.Step) ? entry.Step : SecretFormat.DefaultStep;
        long currentStep = _timeProvider.GetUtcNow().ToUnixTimeSeconds() / stepSeconds;
        var totp = new Totp(entry.Secret, stepSeconds, OtpHashMode.Sha1, response.Length);
        Span<byte> expected = stackalloc byte[SecretFormat.MaximumDigits];
        Span<byte> actual = stackalloc byte[SecretFormat.MaximumDigits];
        actual = actual[..response.Length];
        for (int i = 0; i < response.Length; i++)
        {
            actual[i] = (byte)response[i];
        }

        // Every candidate step is computed and compared, matched or not, so timing does not tell which one matched.
        bool matched = false;
        for (long step = currentStep - allowedSkewSteps; step <= currentStep + allowedSkewSteps; step++)
        {
            if (step < 0)
            {
                continue;
            }

            string code = totp.ComputeTotp(DateTimeOffset.FromUnixTimeSeconds(step * stepSeconds).UtcDateTime);
            Interlocked.Increment(ref _codesComputed);
            Span<byte> candidate = expected[..code.Length];
            for (int i = 0; i < code.Length; i++)
            {
                candidate[i] = (byte)code[i];
            }

            if (CryptographicOperations.FixedTimeEquals(candidate, actual))
            {
                matched = true;
                matchedStep = step;
            }
        }

        if (!acceptable)
        {
            matchedStep = -1;
            return false;
        }

        return matched;
    }
}
