using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Rendezvous.Tests.Common;

/// <summary>One log record: level, event, formatted message, and every structured value as text.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyList<string> Values, Exception? Exception)
{
    /// <summary>Everything that was logged, as one text to search.</summary>
    public string AllText => string.Join("\n", [Message, .. Values, Exception?.ToString() ?? string.Empty]);
}

/// <summary>A logger provider that keeps every record at every level.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _records = new();
    private readonly ILoggerFactory _factory;

    public LogCapture()
    {
        _factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(this));
    }

    public IReadOnlyList<CapturedLog> Records => [.. _records];

    public string AllText => string.Join("\n", _records.Select(r => r.AllText));

    public ILogger<T> CreateLogger<T>() => _factory.CreateLogger<T>();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _records);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> records) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.Select(p => $"{p.Key}={p.Value}").ToList()
                : [];
            records.Enqueue(new CapturedLog(category, logLevel, eventId, formatter(state, exception), values, exception));
        }
    }
}
