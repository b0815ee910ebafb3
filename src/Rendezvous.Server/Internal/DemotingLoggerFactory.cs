using Microsoft.Extensions.Logging;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Wraps a logger factory so that the records matched by its <see cref="LogDemotion"/>s are logged at Debug: they
/// still appear, with their exception, when Debug is on for their category, and are left out otherwise. Every
/// other record passes unchanged.
/// </summary>
internal sealed class DemotingLoggerFactory : ILoggerFactory
{
    private readonly ILoggerFactory _inner;
    private readonly bool _ownsInner;
    private readonly IReadOnlyList<LogDemotion> _demotions;

    /// <summary>Wraps <paramref name="inner"/>; disposing this disposes it only when <paramref name="ownsInner"/>.</summary>
    public DemotingLoggerFactory(ILoggerFactory inner, bool ownsInner, params IReadOnlyList<LogDemotion> demotions)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _ownsInner = ownsInner;
        _demotions = demotions;
    }

    public ILogger CreateLogger(string categoryName)
    {
        var logger = _inner.CreateLogger(categoryName);
        var matching = _demotions.Where(d => string.Equals(d.Category, categoryName, StringComparison.Ordinal)).ToArray();
        return matching.Length == 0 ? logger : new DemotingLogger(logger, matching);
    }

    public void AddProvider(ILoggerProvider provider) => _inner.AddProvider(provider);

    public void Dispose()
    {
        if (_ownsInner)
        {
            _inner.Dispose();
        }
    }

    private sealed class DemotingLogger(ILogger inner, LogDemotion[] demotions) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        // A demotion of every event of the level decides here; one of a single event only in Log, which sees the event.
        public bool IsEnabled(LogLevel logLevel) =>
            Array.Exists(demotions, d => d.EventId is null && d.Matches(logLevel, default))
                ? inner.IsEnabled(LogLevel.Debug)
                : inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (Array.Exists(demotions, d => d.Matches(logLevel, eventId)))
            {
                logLevel = LogLevel.Debug;
            }

            if (inner.IsEnabled(logLevel))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
