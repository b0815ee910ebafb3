using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Rendezvous.Host.Logging;

/// <summary>
/// Writes every record it is given to a <see cref="LogFileSink"/>, formatted by the same console formatter
/// (<c>simple</c> or <c>json</c>) and its options as the console, so the file holds the console's lines
/// (without colours). Formatting happens on the caller's thread, the disk write on the sink's. After records were
/// dropped, the next record is preceded by one that says how many.
/// Filter it on its own with <c>Logging:File:LogLevel</c>.
/// </summary>
[ProviderAlias("File")]
internal sealed class FileLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    /// <summary>The event of the record that says how many records were dropped.</summary>
    public static readonly EventId RecordsDropped = new(5101, "LogRecordsDropped");

    private const int KeptBuilderCapacity = 1024;

    [ThreadStatic]
    private static StringWriter? t_writer;

    private readonly LogFileSink _file;
    private readonly ConsoleFormatter _formatter;
    private IExternalScopeProvider? _scopes;

    /// <summary>Starts writing to <paramref name="file"/>, which the provider owns from now on.</summary>
    public FileLoggerProvider(LogFileSink file, ConsoleFormatter formatter)
    {
        _file = file;
        _formatter = formatter;
    }

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose() => _file.Dispose();

    private void Write<TState>(in LogEntry<TState> entry)
    {
        var text = Format(entry);
        if (text.Length > 0)
        {
            if (_file.TakeDropped() is var dropped and > 0)
            {
                _file.Write(FormatDropNotice(dropped));
            }

            _file.Write(text);
        }
    }

    private string Format<TState>(in LogEntry<TState> entry)
    {
        var writer = t_writer ??= new StringWriter(CultureInfo.InvariantCulture);
        var builder = writer.GetStringBuilder();
        try
        {
            _formatter.Write(entry, _scopes, writer);
            return WithoutColours(builder);
        }
        finally
        {
            builder.Clear();
            if (builder.Capacity > KeptBuilderCapacity)
            {
                builder.Capacity = KeptBuilderCapacity;
            }
        }
    }

    private string FormatDropNotice(long count) =>
        Format(new LogEntry<long>(
            LogLevel.Warning,
            typeof(FileLoggerProvider).FullName!,
            RecordsDropped,
            count,
            null,
            static (dropped, _) => string.Create(CultureInfo.InvariantCulture, $"{dropped} log records were dropped: the log file's queue was full or the file could not be written.")));

    /// <summary>The text with the ANSI colour sequences the simple formatter adds when the console is a terminal removed.</summary>
    internal static string WithoutColours(StringBuilder builder)
    {
        var text = builder.ToString();
        var escape = text.IndexOf('\u001b', StringComparison.Ordinal);
        if (escape < 0)
        {
            return text;
        }

        var plain = new StringBuilder(text.Length);
        var i = 0;
        while (escape >= 0)
        {
            plain.Append(text, i, escape - i);
            i = escape + 1;
            if (i < text.Length && text[i] == '[')
            {
                // CSI: parameters and intermediates up to a final byte in '@'..'~'.
                i++;
                while (i < text.Length && text[i] is < '@' or > '~')
                {
                    i++;
                }

                i = Math.Min(i + 1, text.Length);
            }

            escape = text.IndexOf('\u001b', i);
        }

        plain.Append(text, i, text.Length - i);
        return plain.ToString();
    }

    private sealed class FileLogger(FileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider._scopes?.Push(state) ?? NullScope.Instance;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter));
            }
        }
    }

    private sealed class NullScope : IDisposable
    {
        public static readonly NullScope Instance = new();

        public void Dispose()
        {
        }
    }
}
