using System.Globalization;
using System.Text;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Sinks.Async;
using Serilog.Sinks.File;

namespace Rendezvous.Host.Logging;

/// <summary>
/// The log file of <c>serve</c>: lines already formatted are handed to Serilog's file sink (Serilog.Sinks.File)
/// through its bounded background queue (Serilog.Sinks.Async), so that no logging caller ever waits for the disk.
/// The sink rolls the file over at the size limit (<c>server.log</c>, then <c>server_001.log</c>,
/// <c>server_002.log</c>, ...: the newest is the one written) and deletes the oldest beyond the file count.
/// When the queue is full a record is dropped and counted (<see cref="TakeDropped"/>); when the disk cannot be
/// written, one line on standard error says so and the records are dropped while that lasts.
/// </summary>
internal sealed class LogFileSink : IDisposable
{
    /// <summary>Mode of a log file: owner read-write, group read (0640).</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    /// <summary>Mode of a folder created for it: 0750.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    // On dispose, how long queued records may take to reach the disk before the process goes on without them.
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private readonly Logger _logger;
    private readonly TextWriter _error;
    private readonly Lock _dropLock = new();
    private IAsyncLogEventSinkInspector? _queue;
    private long _droppedReported;
    private int _failureReported;

    /// <summary>Creates the file, and its folder, at once, so that a path that cannot be written fails here.</summary>
    /// <param name="path">The log file.</param>
    /// <param name="sizeLimit">Bytes at which the file is rolled over.</param>
    /// <param name="fileCount">Files kept, the current one included.</param>
    /// <param name="queueLength">Records that may wait to be written; more are dropped and counted.</param>
    /// <param name="error">Where the one line saying that the file cannot be written goes (standard error).</param>
    /// <param name="hooks">What else to do with each file opened (the tests' slow disk); none by default.</param>
    /// <exception cref="IOException">The file or its folder cannot be created or opened.</exception>
    /// <exception cref="UnauthorizedAccessException">Permission to write there is denied.</exception>
    public LogFileSink(string path, long sizeLimit, int fileCount, int queueLength, TextWriter error, FileLifecycleHooks? hooks = null)
    {
        Path = System.IO.Path.GetFullPath(path);
        _error = error;
        Create(Path);
        var onOpened = hooks is null ? new RestrictModeHooks() : new RestrictModeHooks().Then(hooks);
        _logger = new LoggerConfiguration()
            .MinimumLevel.Verbose()
            .WriteTo.Async(
                queue => queue.Fallible(
                    file => file.File(
                        new LineFormatter(),
                        Path,
                        fileSizeLimitBytes: sizeLimit,
                        rollOnFileSizeLimit: true,
                        retainedFileCountLimit: fileCount,
                        buffered: false,
                        encoding: new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
                        hooks: onOpened),
                    new FailureListener(this)),
                bufferSize: queueLength,
                blockWhenFull: false,
                monitor: new QueueMonitor(this))
            .CreateLogger();
    }

    /// <summary>The full path of the log file (the first one; later ones have a number before the extension).</summary>
    public string Path { get; }

    /// <summary>Records waiting to be written.</summary>
    public int Queued => _queue?.Count ?? 0;

    /// <summary>Queues a formatted record (ending with a line break); it is dropped and counted when the queue is full.</summary>
    public void Write(string line) =>
        _logger.Write(new LogEvent(DateTimeOffset.UtcNow, LogEventLevel.Information, null, new MessageTemplate(line, []), []));

    /// <summary>
    /// How many records were dropped since the last call that returned more than 0; 0 as well while the queue is
    /// more than half full, so that the record saying how many is not dropped in its turn.
    /// </summary>
    public long TakeDropped()
    {
        if (_queue is not { } queue || queue.Count > queue.BufferSize / 2)
        {
            return 0;
        }

        var total = queue.DroppedMessagesCount;
        if (total == Volatile.Read(ref _droppedReported))
        {
            return 0;
        }

        lock (_dropLock)
        {
            var dropped = total - _droppedReported;
            if (dropped <= 0)
            {
                return 0;
            }

            Volatile.Write(ref _droppedReported, total);
            return dropped;
        }
    }

    /// <summary>Writes what is queued (for a few seconds at most) and closes the file.</summary>
    public void Dispose()
    {
        try
        {
            Task.Run(_logger.Dispose).Wait(DrainTimeout);
        }
        catch (AggregateException)
        {
            // The sink reports its own failures; the process goes on without the file either way.
        }
    }

    private static void Create(string path)
    {
        var directory = System.IO.Path.GetDirectoryName(path)!;
        var options = new FileStreamOptions { Mode = System.IO.FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete };
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, DirectoryMode);
            options.UnixCreateMode = FileMode;
        }

        using var file = new FileStream(path, options);
        RestrictModeHooks.Restrict(path);
    }

    private void ReportFailure(string message, Exception? exception)
    {
        if (Interlocked.Exchange(ref _failureReported, 1) == 0)
        {
            _error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"rendezvous serve: the log file {Path} cannot be written ({exception?.Message ?? message}); its records are dropped while that lasts, the console still has them. This is said once."));
        }
    }

    /// <summary>
    /// Writes the line a record carries as it is: the text of its template, which has no token to render (the
    /// cheapest record Serilog takes: no property, no parsing).
    /// </summary>
    private sealed class LineFormatter : ITextFormatter
    {
        public void Format(LogEvent logEvent, TextWriter output) => output.Write(logEvent.MessageTemplate.Text);
    }

    /// <summary>Narrows every file the sink opens (the first and each rolled-over one) to 0640.</summary>
    private sealed class RestrictModeHooks : FileLifecycleHooks
    {
        public static void Restrict(string path)
        {
            if (!OperatingSystem.IsWindows())
            {
                // A file that existed before keeps its mode unless that lets more people read it than 0640 does.
                var mode = File.GetUnixFileMode(path);
                if ((mode & ~FileMode) != 0)
                {
                    File.SetUnixFileMode(path, mode & FileMode);
                }
            }
        }

        public override Stream OnFileOpened(string path, Stream underlyingStream, Encoding encoding)
        {
            Restrict(path);
            return underlyingStream;
        }
    }

    private sealed class FailureListener(LogFileSink sink) : ILoggingFailureListener
    {
        public void OnLoggingFailed(object sender, LoggingFailureKind kind, string message, IReadOnlyCollection<LogEvent>? events, Exception? exception) =>
            sink.ReportFailure(message, exception);
    }

    private sealed class QueueMonitor(LogFileSink sink) : IAsyncLogEventSinkMonitor
    {
        public void StartMonitoring(IAsyncLogEventSinkInspector inspector) => sink._queue = inspector;

        public void StopMonitoring(IAsyncLogEventSinkInspector inspector)
        {
        }
    }
}
