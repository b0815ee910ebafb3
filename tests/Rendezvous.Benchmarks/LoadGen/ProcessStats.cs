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
}
