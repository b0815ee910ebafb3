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
    /// <summary>How the log line describes the collector: its mode and the young generation's largest budget.</summary>
    internal static string Describe(IReadOnlyDictionary<string, object> variables)
    {
        var mode = (variables.TryGetValue("ServerGC", out var server) && server is true ? "server" : "workstation")
            + (variables.TryGetValue("ConcurrentGC", out var concurrent) && concurrent is true ? ", concurrent" : ", non-concurrent");
        return variables.TryGetValue("GCGen0MaxBudget", out var budget) && budget is IConvertible bytes
            ? $"{mode}, young generation budget up to {bytes.ToInt64(System.Globalization.CultureInfo.InvariantCulture) / 1024} KiB"
            : mode;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var source = Environment.GetEnvironmentVariable("DOTNET_GCgen0size") is { } dotnet ? $"DOTNET_GCgen0size={dotnet}"
            : Environment.GetEnvironmentVariable("COMPlus_GCgen0size") is { } complus ? $"COMPlus_GCgen0size={complus}"
            : "the runtime's default";
        GarbageCollector(logger, Describe(GC.GetConfigurationVariables()), source);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1, LogLevel.Information, "Garbage collector: {Collector} ({Source})", EventName = "GarbageCollector")]
    private static partial void GarbageCollector(ILogger logger, string collector, string source);
}
