using System.Globalization;

namespace Rendezvous.Server.Internal;

/// <summary>The process's file descriptor limit and, when it ran out, which limit it was (Linux; elsewhere unknown).</summary>
internal static class DescriptorLimit
{
    /// <summary>What EMFILE means, for logs (.NET's message for both errors is ENFILE's "Too many open files in system").</summary>
    public const string Emfile = "EMFILE: this process's descriptor limit (RLIMIT_NOFILE) is reached";

    /// <summary>What ENFILE means, for logs.</summary>
    public const string Enfile = "ENFILE: the system-wide file table (fs.file-max) is full";

    /// <summary>This process's descriptor limit (the soft RLIMIT_NOFILE, which .NET raises to the hard one at start), from <c>/proc/self/limits</c>; <see langword="null"/> where that file does not exist or says "unlimited".</summary>
    public static long? Read()
    {
        try
        {
            const string Label = "Max open files";
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith(Label, StringComparison.Ordinal))
                {
                    var fields = line[Label.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>How many descriptors this process has open now (.NET keeps every loaded assembly open), from <c>/proc/self/fd</c>; <see langword="null"/> where it cannot be read.</summary>
    public static int? CountOpen()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Which limit a "too many open files" error (<c>SocketError.TooManyOpenSockets</c>, EMFILE or ENFILE alike) hit:
    /// ENFILE when the system's file table is (nearly) full or reading it fails with ENFILE, else EMFILE.
    /// </summary>
    public static string DescribeExhaustion()
    {
        try
        {
            // "allocated unused max"
            var fields = File.ReadAllText("/proc/sys/fs/file-nr").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 3
                && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var allocated)
                && long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var max)
                && allocated >= max - 64)
            {
                return Enfile;
            }
        }
        catch (IOException ex) when (ex.Message.Contains("in system", StringComparison.Ordinal))
        {
            // strerror(ENFILE), as .NET reports errors of file operations.
            return Enfile;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return Emfile;
    }
}
