using System.Text;
using System.Threading.Channels;

namespace Rendezvous.Host.Logging;

/// <summary>
/// Appends formatted log records to a file from a background task, so that no logging caller ever waits for the
/// disk. The queue is bounded: when it is full a record is dropped and counted, and the count is written to the
/// file (as a record of its own) once there is room. The file is renamed to <c>FILE.1</c> (older ones move up to
/// <c>FILE.2</c> and so on, the oldest deleted) when the next record would take it past the size limit.
/// </summary>
internal sealed class LogFileWriter : IDisposable
{
    /// <summary>Mode of a new log file: owner read-write, group read (0640).</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    /// <summary>Mode of a folder created for it: 0750.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    // On dispose, how long queued records may take to reach the disk before the process goes on without them.
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private const int KeptBufferSize = 64 * 1024;

    private readonly long _sizeLimit;
    private readonly int _fileCount;
    private readonly Channel<string> _queue;
    private Func<long, string> _dropNotice = static count => $"{count} log records were dropped.{Environment.NewLine}";
    private Task _writer = Task.CompletedTask;
    private FileStream? _stream;
    private long _length;
    private long _dropped;
    private byte[] _buffer = new byte[4096];

    /// <summary>Opens (or creates) the file, and its folder, at once, so that a path that cannot be written fails here.</summary>
    /// <param name="path">The log file.</param>
    /// <param name="sizeLimit">Bytes at which the file is rolled over.</param>
    /// <param name="fileCount">Files kept, the current one included.</param>
    /// <param name="queueLength">Records that may wait to be written; more are dropped and counted.</param>
    /// <exception cref="IOException">The file or its folder cannot be created or opened.</exception>
    /// <exception cref="UnauthorizedAccessException">Permission to write there is denied.</exception>
    public LogFileWriter(string path, long sizeLimit, int fileCount, int queueLength)
    {
        Path = System.IO.Path.GetFullPath(path);
        _sizeLimit = sizeLimit;
        _fileCount = fileCount;
        _queue = Channel.CreateBounded<string>(new BoundedChannelOptions(queueLength)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        var directory = System.IO.Path.GetDirectoryName(Path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, DirectoryMode);
        }

        _stream = Open();
    }

    /// <summary>The full path of the log file.</summary>
    public string Path { get; }

    /// <summary>Starts writing queued records.</summary>
    /// <param name="dropNotice">Formats the record that says how many records were dropped.</param>
    public void Start(Func<long, string> dropNotice)
    {
        _dropNotice = dropNotice;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Queues a formatted record (ending with a line break); drops and counts it when the queue is full.</summary>
    public void Enqueue(string record)
    {
        if (!_queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Writes what is queued (for a few seconds at most) and closes the file.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        try
        {
            _writer.Wait(DrainTimeout);
        }
        catch (AggregateException)
        {
            // The loop only fails on an unexpected exception; the file is closed below either way.
        }

        _stream?.Dispose();
    }

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var record))
            {
                Write(record);
            }

            // Records are dropped when the queue is full, so after the ones that filled it.
            WriteDropNotice();
            Flush();
        }

        WriteDropNotice();
        Flush();
    }

    private void WriteDropNotice()
    {
        var dropped = Interlocked.Exchange(ref _dropped, 0);
        if (dropped > 0)
        {
            Write(_dropNotice(dropped));
        }
    }

    private void Write(string record)
    {
        try
        {
            _stream ??= Open();
            var count = Utf8.GetByteCount(record);
            if (count > _buffer.Length)
            {
                _buffer = new byte[Math.Max(count, _buffer.Length * 2)];
            }

            Utf8.GetBytes(record, _buffer);
            if (_length > 0 && _length + count > _sizeLimit)
            {
                RollOver();
            }

            _stream.Write(_buffer, 0, count);
            _length += count;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // A full disk or a file removed from under us: count the record and try a fresh file next time.
            Interlocked.Increment(ref _dropped);
            Close();
        }
        finally
        {
            if (_buffer.Length > KeptBufferSize)
            {
                _buffer = new byte[KeptBufferSize];
            }
        }
    }

    private void Flush()
    {
        try
        {
            _stream?.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            Close();
        }
    }

    private void RollOver()
    {
        Close();
        if (_fileCount == 1)
        {
            File.Delete(Path);
        }
        else
        {
            File.Delete(Archive(_fileCount - 1));
            for (var i = _fileCount - 2; i >= 1; i--)
            {
                if (File.Exists(Archive(i)))
                {
                    File.Move(Archive(i), Archive(i + 1), overwrite: true);
                }
            }

            File.Move(Path, Archive(1), overwrite: true);
        }

        _stream = Open();
    }

    private string Archive(int number) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Path}.{number}");

    private FileStream Open()
    {
        var options = new FileStreamOptions
        {
            Mode = System.IO.FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.Read | FileShare.Delete,
            BufferSize = 64 * 1024,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        var stream = new FileStream(Path, options);
        if (!OperatingSystem.IsWindows())
        {
            // A file that existed before keeps its mode unless that lets more people read it than 0640 does.
            var mode = File.GetUnixFileMode(stream.SafeFileHandle);
            if ((mode & ~FileMode) != 0)
            {
                File.SetUnixFileMode(stream.SafeFileHandle, mode & FileMode);
            }
        }

        _length = stream.Length;
        return stream;
    }

    private void Close()
    {
        try
        {
            _stream?.Dispose();
        }
        catch (IOException)
        {
            // Buffered bytes that cannot be written are lost with the file; the next record opens a new one.
        }

        _stream = null;
    }
}
