using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Rendezvous.Server.Internal;

namespace Rendezvous.Host.Logging;

/// <summary>The logs of <c>rendezvous serve</c>: the console in the chosen format, systemd integration, and an optional log file.</summary>
internal static class ServeLogging
{
    /// <summary>UTC timestamps with milliseconds, in both formats.</summary>
    private const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";

    /// <summary>
    /// The generic host's "Hosting failed to start" record (an Error with the stack trace). <c>serve</c> prints
    /// the failure as one line on standard error; the record shows at Debug only.
    /// </summary>
    private static readonly LogDemotion HostStartFailure = new("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Error, 11);

    /// <summary>
    /// Reads and checks <c>Rendezvous:Logging</c>, sets up the console (one line per record, UTC timestamps),
    /// adds systemd's lifetime and console format when systemd runs the process (an explicit format still wins),
    /// and opens the log file when one is configured.
    /// </summary>
    /// <exception cref="OptionsValidationException">A setting is invalid, or the log file cannot be opened for writing; one failure per problem, naming the key and value.</exception>
    public static void Configure(HostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(ServeLoggingOptions.Section).Get<ServeLoggingOptions>() ?? new ServeLoggingOptions();
        var validation = new ServeLoggingOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(ServeLoggingOptions.Section, typeof(ServeLoggingOptions), validation.Failures);
        }

        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = TimestampFormat + " ";
            console.UseUtcTimestamp = true;
        });
        builder.Services.Configure<JsonConsoleFormatterOptions>(json =>
        {
            json.TimestampFormat = TimestampFormat;
            json.UseUtcTimestamp = true;
            json.JsonWriterOptions = new JsonWriterOptions { Indented = false };
        });

        // A console that cannot keep up (a slow terminal or journald) drops records and says how many, instead of holding up the relay.
        builder.Services.Configure<ConsoleLoggerOptions>(console => console.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite);

        // A listener that cannot start is reported as one line on standard error (serve's exit code 3); the host's
        // own "Hosting failed to start" record repeats it with a stack trace, so it shows at Debug only.
        builder.Services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(services => new DemotingLoggerFactory(
            new LoggerFactory(
                services.GetServices<ILoggerProvider>(),
                services.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
                services.GetService<IOptions<LoggerFactoryOptions>>(),
                services.GetService<IExternalScopeProvider>()),
            ownsInner: true,
            HostStartFailure)));

        // Under systemd (Type=notify): READY=1 once every listener is bound, STOPPING=1 on stop, and journald's console format.
        builder.Services.AddSystemd();

        // One line at start: the garbage collector the runtime set up (whether DOTNET_GCgen0size took effect).
        builder.Services.AddHostedService<RuntimeReport>();
        if (options.Format is { } format)
        {
            builder.Services.Configure<ConsoleLoggerOptions>(console => console.FormatterName = format.ToLowerInvariant());
        }

        if (options.File is { } path)
        {
            var file = OpenLogFile(path, options);
            var formatterName = options.FileFormatterName;
            builder.Services.AddSingleton<ILoggerProvider>(services => new FileLoggerProvider(
                file,
                services.GetServices<ConsoleFormatter>().First(f => string.Equals(f.Name, formatterName, StringComparison.Ordinal))));
        }
    }

    private static LogFileSink OpenLogFile(string path, ServeLoggingOptions options)
    {
        try
        {
            return new LogFileSink(path, options.FileSizeLimit, options.FileCount, options.FileQueueLength, Console.Error);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new OptionsValidationException(
                ServeLoggingOptions.Section,
                typeof(ServeLoggingOptions),
                [$"{ServeLoggingOptions.Section}:File (--log-file) is '{path}', which cannot be opened for writing ({ex.Message}); it must be a file in a folder this user may write to, or that it may create."]);
        }
    }
}
