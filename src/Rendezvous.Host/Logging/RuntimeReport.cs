using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Rendezvous.Host.Logging;

/// <summary>
/// Says at start which garbage collector the runtime set up, so that an operator sees whether the environment the
/// unit file gives (<c>DOTNET_GCgen0size</c>, deploy/rendezvous.service) took effect. The young generation's budget
/// is what an idle relay's memory depends on most after its sessions: by default the runtime sizes it after the L3
/// cache (16 MiB on a 32 MiB cache), which every relay process keeps committed.
/// </summary>
internal sealed partial class RuntimeReport(ILogger<RuntimeReport> logger) : IHostedService
{
    /// <summary>The young generation's largest budget, in bytes, as the runtime reports it (0 when it does not).</summary>
    internal static long Gen0MaxBudget() =>
        GC.GetConfigurationVariables().TryGetValue("GCGen0MaxBudget", out var value) && value is IConvertible number
            ? number.ToInt64(System.Globalization.CultureInfo.InvariantCulture)
            : 0;

    /// <summary>How the log line describes the collector: its mode and the young generation's largest budget.</summary>
    internal static string Describe(bool server, bool concurrent, long gen0MaxBudget)
    {
        var mode = (server ? "server" : "workstation") + (concurrent ? ", concurrent" : ", non-concurrent");
        return gen0MaxBudget > 0 ? $"{mode}, young generation budget up to {gen0MaxBudget / 1024} KiB" : mode;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var variables = GC.GetConfigurationVariables();
        var server = variables.TryGetValue("ServerGC", out var s) && s is true;
        var concurrent = variables.TryGetValue("ConcurrentGC", out var c) && c is true;
        var configured = Environment.GetEnvironmentVariable("DOTNET_GCgen0size") ?? Environment.GetEnvironmentVariable("COMPlus_GCgen0size");
        GarbageCollector(logger, Describe(server, concurrent, Gen0MaxBudget()), configured is null ? "the runtime's default" : $"DOTNET_GCgen0size={configured}");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1, LogLevel.Information, "Garbage collector: {Collector} ({Source})", EventName = "GarbageCollector")]
    private static partial void GarbageCollector(ILogger logger, string collector, string source);
}
