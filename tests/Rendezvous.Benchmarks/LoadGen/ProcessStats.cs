using System.Globalization;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>CPU time and resident memory of a process, read from /proc (Linux).</summary>
internal static class ProcessStats
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>utime + stime of <paramref name="pid"/> in seconds, or null when unavailable.</summary>
    public static double? CpuSeconds(int pid) => CpuTimes(pid) is { } times ? times.User + times.System : null;

    /// <summary>utime and stime of <paramref name="pid"/> in seconds (user mode, kernel mode), or null when unavailable.</summary>
    public static (double User, double System)? CpuTimes(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command name, which is in parentheses and may contain spaces.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state); utime is field 14, stime field 15.
            var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
            var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
            return (utime / TicksPerSecond, stime / TicksPerSecond);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>VmRSS of <paramref name="pid"/> in KiB, or null when unavailable.</summary>
    public static long? RssKiB(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return null;
    }

    /// <summary>
    /// The kernel's TCP sockets without a process (closed, data or FIN still unsent or unacknowledged) and its TCP
    /// memory in pages, from /proc/net/sockstat (the whole network namespace, not one process); null when unavailable.
    /// </summary>
    public static (long Orphans, long MemoryPages)? KernelTcp()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/net/sockstat"))
            {
                if (line.StartsWith("TCP:", StringComparison.Ordinal))
                {
                    var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    var orphans = Array.IndexOf(fields, "orphan");
                    var memory = Array.IndexOf(fields, "mem");
                    return orphans > 0 && memory > 0
                        ? (long.Parse(fields[orphans + 1], CultureInfo.InvariantCulture), long.Parse(fields[memory + 1], CultureInfo.InvariantCulture))
                        : null;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
        }

        return null;
    }

    /// <summary>The kernel's TCP memory limits in pages (net.ipv4.tcp_mem: low, pressure, high), or null when unavailable.</summary>
    public static string? KernelTcpMemoryLimits()
    {
        try
        {
            return string.Join('/', File.ReadAllText("/proc/sys/net/ipv4/tcp_mem").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>How many descriptors <paramref name="pid"/> has open (entries of /proc/PID/fd), or null when unavailable.</summary>
    public static long? OpenDescriptors(int pid)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").LongCount();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>
/// Samples a server's RSS and open descriptors every 100 ms in the background and keeps the peaks; the
/// process may be replaced (a restart) and sampling goes on with the new one.
/// </summary>
internal sealed class ProcessPeaks : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _pid;
    private long _peakRssKiB;
    private long _peakDescriptors;
    private long _peakTcpOrphans;
    private long _peakTcpMemoryPages;

    public ProcessPeaks(int pid)
    {
        _pid = pid;
        _loop = LoopAsync();
    }

    public long? PeakRssKiB => Interlocked.Read(ref _peakRssKiB) is > 0 and var peak ? peak : null;

    public long? PeakDescriptors => Interlocked.Read(ref _peakDescriptors) is > 0 and var peak ? peak : null;

    /// <summary>The most TCP sockets without a process seen at once (whole network namespace).</summary>
    public long PeakTcpOrphans => Interlocked.Read(ref _peakTcpOrphans);

    /// <summary>The most TCP memory seen in use, in pages (whole network namespace).</summary>
    public long PeakTcpMemoryPages => Interlocked.Read(ref _peakTcpMemoryPages);

    /// <summary>Samples <paramref name="pid"/> from now on.</summary>
    public void Follow(int pid) => Volatile.Write(ref _pid, pid);

    /// <summary>Takes one sample now (also counted toward the peaks).</summary>
    public (long? RssKiB, long? Descriptors) Sample()
    {
        var pid = Volatile.Read(ref _pid);
        var rss = ProcessStats.RssKiB(pid);
        var descriptors = ProcessStats.OpenDescriptors(pid);
        Raise(ref _peakRssKiB, rss);
        Raise(ref _peakDescriptors, descriptors);
        var tcp = ProcessStats.KernelTcp();
        Raise(ref _peakTcpOrphans, tcp?.Orphans);
        Raise(ref _peakTcpMemoryPages, tcp?.MemoryPages);
        return (rss, descriptors);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private static void Raise(ref long peak, long? value)
    {
        if (value is not { } v)
        {
            return;
        }

        long seen;
        while (v > (seen = Interlocked.Read(ref peak)) && Interlocked.CompareExchange(ref peak, v, seen) != seen)
        {
        }
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                Sample();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
