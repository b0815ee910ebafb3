using OtpNet;

namespace Rendezvous.Client.Agent;

/// <summary>
/// The default <see cref="IRegistrationCodeSource"/>: TOTP codes (RFC 6238, HMAC-SHA1) from the shared secret,
/// for the registrar's default TOTP policy and for the original node-rendezvous.
/// </summary>
/// <remarks>
/// It works against any registrar that accepts the current TOTP step's code, such as the original
/// node-rendezvous (current step only, a code reusable within its step): it always gives the current
/// step's code, also to register again within the step of its last accepted registration. After a refusal
/// it gives nothing more in that step and gives the next step's code 2 seconds (or a quarter of a shorter
/// step) into the next step, so that a registrar whose clock is a little behind is in that step too (a
/// registrar that refuses reuse, as ours does, accepts that one). One exception: when the code of the step it
/// registered with successfully is refused (a registrar that refuses reuse within a step, as ours does, to
/// register again after a relay died), it gives the next step's code at once, once per step, which such a
/// registrar accepts (ours accepts one step of skew); the original reuses the current code and never gets there.
/// So a hidden server registers again within seconds, not at the next step. A code the agent did not report as
/// accepted or refused (the request did not reach the registrar) is given again within its step. One instance
/// serves one agent.
/// </remarks>
public sealed class TotpRegistrationCodeSource : IRegistrationCodeSource
{
    private readonly Totp _totp;
    private readonly int _step;
    private readonly TimeProvider _time;
    private long _givenStep = long.MinValue;
    private long _refusedStep = long.MinValue;
    private long _acceptedStep = long.MinValue;
    private long _aheadTriedInStep = long.MinValue;

    /// <summary>Creates a source of TOTP codes.</summary>
    /// <param name="secret">The shared secret, base32, at least 10 bytes (80 bits). Never logged.</param>
    /// <param name="step">The time step in seconds, as provisioned (1 to 300).</param>
    /// <param name="digits">The code length, as provisioned (6 to 8).</param>
    /// <param name="time">The clock; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">A value is invalid; the message names it and what is accepted.</exception>
    public TotpRegistrationCodeSource(string secret, int step = 30, int digits = 6, TimeProvider? time = null)
    {
        if (!HiddenServerAgentOptions.TryDecodeSecret(secret, out var bytes))
        {
            throw new ArgumentException("The secret is not valid base32 of at least 10 bytes (80 bits).", nameof(secret));
        }

        if (step is < 1 or > 300)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, $"The step is {step}; it must be between 1 and 300 seconds.");
        }

        if (digits is < 6 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(digits), digits, $"Digits is {digits}; it must be between 6 and 8.");
        }

        _totp = new Totp(bytes, step, OtpHashMode.Sha1, digits);
        _step = step;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// The current step's code. Only when the registrar refused the current step's code does this wait for
    /// the next step to begin (plus the margin). A future step's code is never given: a registrar that
    /// accepts only the current step would refuse it every time.
    /// </summary>
    /// <inheritdoc />
    public async ValueTask<string> GetCodeAsync(string uuid, CancellationToken cancellationToken)
    {
        while (true)
        {
            var now = _time.GetUtcNow();
            var current = now.ToUnixTimeSeconds() / _step;
            if (current != _refusedStep)
            {
                _givenStep = current;
                return _totp.ComputeTotp(StepStart(current).UtcDateTime);
            }

            if (CanGoAhead(current))
            {
                // The code of the step registered with was refused: a registrar that refuses reuse. Try the next step's once.
                _aheadTriedInStep = current;
                _givenStep = current + 1;
                return _totp.ComputeTotp(StepStart(current + 1).UtcDateTime);
            }

            var wait = StepStart(current + 1) + RetryMargin - now;
            await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(10), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public void OnAccepted(string uuid, string code)
    {
        _acceptedStep = _givenStep;
        _refusedStep = long.MinValue;
    }

    /// <summary>
    /// Sending the refused step's code again cannot help, and a future step's code is no way out (a registrar
    /// that accepts only the current step refuses it too): the next try is the successor step, at its start
    /// plus the margin.
    /// </summary>
    /// <inheritdoc />
    public TimeSpan OnRefused(string uuid, string code)
    {
        var current = _time.GetUtcNow().ToUnixTimeSeconds() / _step;
        _refusedStep = Math.Min(_givenStep, current);
        if (CanGoAhead(current))
        {
            return TimeSpan.Zero;
        }

        var delay = StepStart(_refusedStep + 1) + RetryMargin - _time.GetUtcNow();
        return delay > TimeSpan.Zero ? delay : TimeSpan.Zero;
    }

    /// <summary>Whether the next step's code may be tried now: this step's code was accepted before and refused now, and no next code was tried in this step.</summary>
    private bool CanGoAhead(long current) => _refusedStep == current && _acceptedStep == current && _aheadTriedInStep != current;

    private DateTimeOffset StepStart(long step) => DateTimeOffset.FromUnixTimeSeconds(step * _step);

    /// <summary>
    /// How far into a step a retry after a refusal waits, so that a registrar whose clock is up to this
    /// much behind is in the new step too: 2 seconds, or a quarter of a shorter step.
    /// </summary>
    private TimeSpan RetryMargin => TimeSpan.FromSeconds(Math.Min(2.0, _step / 4.0));
}
