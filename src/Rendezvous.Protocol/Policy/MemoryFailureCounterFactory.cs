namespace Rendezvous.Protocol.Policy;

/// <summary>Creates in-process failure counters (<see cref="FailureThrottle"/>): the default of one node.</summary>
public sealed class MemoryFailureCounterFactory : IFailureCounterFactory
{
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the factory.</summary>
    /// <param name="timeProvider">The clock windows are measured by.</param>
    public MemoryFailureCounterFactory(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _timeProvider = timeProvider;
    }

    /// <inheritdoc/>
    public IFailureCounter Create(string name, int limit, TimeSpan window, int maxKeys)
        => new FailureThrottle(_timeProvider, limit, window, maxKeys);
}
