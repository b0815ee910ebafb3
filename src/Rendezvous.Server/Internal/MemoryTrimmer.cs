using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Gives memory back after a flood of connections. The garbage collector runs only when something allocates, so a
/// server that goes quiet after thousands of connections closed keeps their memory (RSS stayed at 2× its level
/// before a slowloris flood, issue 11). Every <see cref="CheckInterval"/> this looks at how many connections (relay
/// and registrar) closed since the last trim; from <see cref="RendezvousServerOptions.TrimMemoryAfterConnections"/>
/// on, once a check interval is quiet (the flood is over) and at most once per <see cref="MinimumSpacing"/>, it runs
/// one full compacting collection that gives free memory back to the system, then asks the C library to give back
/// its free pages (TLS handshakes allocate there).
/// </summary>
internal sealed class MemoryTrimmer(IOptions<RendezvousServerOptions> options, TimeProvider time, ILogger<MemoryTrimmer> logger) : IHostedService, IDisposable
{
    /// <summary>How often the count of closed connections is looked at.</summary>
    internal static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(5);

    /// <summary>The shortest time between two trims.</summary>
    internal static readonly TimeSpan MinimumSpacing = TimeSpan.FromSeconds(20);

    /// <summary>
    /// A check interval counts as quiet when at most this share (one in ten) of the setting's connections closed in
    /// it; trims wait for a quiet interval, so steady traffic never triggers one.
    /// </summary>
    internal const int QuietShare = 10;

    private long _closed;
    private long _closedAtCheck;
    private long _closedAtTrim;
    private long? _lastTrim;
    private int _trimming;
    private int _trims;
    private ITimer? _timer;

    /// <summary>Test seam: what a trim does; the real one collects and trims the C library's heap.</summary>
    internal Action TrimAction { get; set; } = TrimProcessMemory;

    /// <summary>How many trims ran.</summary>
    internal int Trims => Volatile.Read(ref _trims);

    /// <summary>How many connections closed since the server started.</summary>
    internal long ConnectionsClosed => Interlocked.Read(ref _closed);

    /// <summary>Counts one closed connection (relay or registrar).</summary>
    public void ConnectionClosed() => Interlocked.Increment(ref _closed);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.TrimMemoryAfterConnections > 0)
        {
            _timer = time.CreateTimer(static state => ((MemoryTrimmer)state!).Check(), this, CheckInterval, CheckInterval);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    /// <summary>Trims when enough connections closed since the last trim and it was long enough ago.</summary>
    internal void Check()
    {
        if (Interlocked.Exchange(ref _trimming, 1) != 0)
        {
            return;
        }

        try
        {
            var closed = ConnectionsClosed;
            var recent = closed - _closedAtCheck;
            _closedAtCheck = closed;
            var since = closed - _closedAtTrim;
            var threshold = options.Value.TrimMemoryAfterConnections;

            // Only once the churn has died down: while connections keep coming the collector runs by itself, and
            // a busy server must not pay a blocking full collection (and the re-commit after it) every spacing.
            if (since < threshold
                || recent > threshold / QuietShare
                || (_lastTrim is { } last && time.GetElapsedTime(last) < MinimumSpacing))
            {
                return;
            }

            _closedAtTrim = closed;
            _lastTrim = time.GetTimestamp();
            var before = GC.GetTotalMemory(forceFullCollection: false);
            TrimAction();
            Interlocked.Increment(ref _trims);
            ServerLog.MemoryTrimmed(logger, since, before, GC.GetTotalMemory(forceFullCollection: false));
        }
        finally
        {
            Volatile.Write(ref _trimming, 0);
        }
    }

    private static void TrimProcessMemory()
    {
        // Aggressive: compacts everything and decommits the free space at once instead of keeping it for later allocations.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = MallocTrim(0);
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                // Not glibc (musl has no malloc_trim): its allocator gives memory back on its own terms.
            }
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallocTrim(nuint pad);
}
