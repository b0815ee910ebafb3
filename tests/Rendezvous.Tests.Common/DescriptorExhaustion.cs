using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Rendezvous.Tests.Common;

/// <summary>
/// Runs this process out of file descriptors for a moment (Linux): lowers its soft RLIMIT_NOFILE to a little above what
/// is open (with <c>prlimit</c>), then opens <c>/dev/null</c> until the next descriptor is refused (EMFILE). Disposing
/// closes them and restores the limit. Use it in a [NonParallelizable] test and keep the exhausted stretch short:
/// anything in the process that opens a file meanwhile fails.
/// </summary>
public sealed class DescriptorExhaustion : IAsyncDisposable
{
    /// <summary>How many descriptors above the open ones the lowered limit allows (all taken by fillers).</summary>
    private const int Headroom = 64;

    private readonly List<SafeFileHandle> _fillers = [];
    private readonly string _limit;
    private bool _disposed;

    private DescriptorExhaustion(string limit)
    {
        _limit = limit;
    }

    /// <summary>Lowers the limit and fills every descriptor left.</summary>
    /// <exception cref="InvalidOperationException">The limit could not be read or changed.</exception>
    public static async Task<DescriptorExhaustion> StartAsync()
    {
        var limits = await File.ReadAllLinesAsync("/proc/self/limits").WaitAsync(TestTimeouts.Short);
        var line = limits.Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var exhaustion = new DescriptorExhaustion($"{fields[0]}:{fields[1]}");
        var lowered = Directory.EnumerateFileSystemEntries("/proc/self/fd").Count() + Headroom;
        await SetLimitAsync($"{lowered}:{fields[1]}");
        try
        {
            for (var i = 0; i < 10 * Headroom; i++)
            {
                exhaustion._fillers.Add(File.OpenHandle("/dev/null"));
            }

            throw new InvalidOperationException($"The lowered descriptor limit of {lowered} was never reached.");
        }
        catch (IOException)
        {
            // EMFILE: every descriptor is taken.
            return exhaustion;
        }
        catch
        {
            await exhaustion.DisposeAsync();
            throw;
        }
    }

    /// <summary>Closes a few fillers, so that the process can open that many descriptors again.</summary>
    public void Free(int count)
    {
        for (var i = 0; i < count && _fillers.Count > 0; i++)
        {
            _fillers[^1].Dispose();
            _fillers.RemoveAt(_fillers.Count - 1);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Free(_fillers.Count);
        await SetLimitAsync(_limit);
    }

    private static async Task SetLimitAsync(string limit)
    {
        using var prlimit = Process.Start(new ProcessStartInfo("prlimit", ["--pid", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), $"--nofile={limit}"])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("prlimit did not start.");
        var error = prlimit.StandardError.ReadToEndAsync();
        await prlimit.WaitForExitAsync().WaitAsync(TestTimeouts.Short);
        if (prlimit.ExitCode != 0)
        {
            throw new InvalidOperationException($"prlimit --nofile={limit} failed: {await error}");
        }
    }
}
