namespace Rendezvous.Protocol.Policy;

/// <summary>What a <see cref="IRegistrationPolicy"/> decided.</summary>
public enum RegistrationOutcome
{
    /// <summary>The caller may register; a fresh cookie is issued.</summary>
    Accepted,

    /// <summary>Unknown UUID, wrong, malformed or replayed code: answered with the uniform <c>invalid request</c>.</summary>
    Rejected,

    /// <summary>Too many failures recently: answered with status 429 and <c>Retry-After</c>.</summary>
    Throttled,

    /// <summary>
    /// The policy cannot decide now (its store cannot be reached): answered with status 503, <c>Retry-After</c> and a
    /// <c>permanent: false</c> error body, so the caller retries shortly instead of taking its code for a wrong one.
    /// </summary>
    Unavailable,
}

/// <summary>The answer of a <see cref="IRegistrationPolicy"/> to one registration attempt.</summary>
public readonly record struct RegistrationDecision
{
    private RegistrationDecision(RegistrationOutcome outcome, TimeSpan retryAfter)
    {
        Outcome = outcome;
        RetryAfter = retryAfter;
    }

    /// <summary>The outcome.</summary>
    public RegistrationOutcome Outcome { get; }

    /// <summary>For <see cref="RegistrationOutcome.Throttled"/>, how long the caller should wait.</summary>
    public TimeSpan RetryAfter { get; }

    /// <summary>The registration is accepted.</summary>
    public static RegistrationDecision Accept() => new(RegistrationOutcome.Accepted, TimeSpan.Zero);

    /// <summary>The registration is refused with the uniform answer.</summary>
    public static RegistrationDecision Reject() => new(RegistrationOutcome.Rejected, TimeSpan.Zero);

    /// <summary>The policy cannot decide now (its store is unreachable); the caller is told to retry shortly.</summary>
    /// <returns>The decision.</returns>
    public static RegistrationDecision Unavailable() => new(RegistrationOutcome.Unavailable, TimeSpan.Zero);

    /// <summary>The caller failed too often and must wait <paramref name="retryAfter"/>.</summary>
    /// <param name="retryAfter">How long to wait before trying again; rounded up to whole seconds on the wire.</param>
    public static RegistrationDecision Throttle(TimeSpan retryAfter) =>
        new(RegistrationOutcome.Throttled, retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter);
}
