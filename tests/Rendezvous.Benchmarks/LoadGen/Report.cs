using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>
/// <c>loadgen report FILE</c>: turns the results eng/bench.sh collected (lines of
/// <c>label TAB repeat TAB json</c>; the repeat may carry a round, as in <c>2.3</c>) into one table of
/// medians over every run of a label: metric, the relay on each transport that ran (labels ending
/// <c>-socket</c> or <c>-epoll</c>, as <c>tp1-epoll</c>), haproxy, each transport's ratio to haproxy, target,
/// met? for each. Results of runs before the transports (labels ending <c>-relay</c>) count as the socket transport's.
/// </summary>
internal static class Report
{
    /// <summary>The relay's transports, in the order of the columns.</summary>
    internal static readonly string[] Transports = ["socket", "epoll"];

    public static string Build(IEnumerable<string> lines)
    {
        var results = new List<(string Label, string Repeat, JsonElement Json)>();
        foreach (var line in lines)
        {
            var parts = line.Split('\t', 3);
            if (parts.Length == 3)
            {
                using var document = JsonDocument.Parse(parts[2]);
                results.Add((LabelOfTransports(parts[0]), parts[1], document.RootElement.Clone()));
            }
        }

        double? Median(string label, string field)
        {
            var values = results.Where(r => r.Label == label && r.Json.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number)
                .Select(r => r.Json.GetProperty(field).GetDouble()).Order().ToArray();
            return values.Length == 0 ? null
                : values.Length % 2 == 1 ? values[values.Length / 2]
                : (values[(values.Length / 2) - 1] + values[values.Length / 2]) / 2;
        }

        static double? PerCpuSecond(double? microseconds) => microseconds is > 0 ? 1e6 / microseconds : null;

        int Repeats(string label) => results.Where(r => r.Label == label).Select(r => r.Repeat).Distinct().Count();

        // The transports that ran (eng/bench.sh --transport); the socket one alone when none did (only pool or cluster ran).
        string[] transports = [.. Transports.Where(t => results.Any(r => r.Label.Split('-').Contains(t)))];
        if (transports.Length == 0)
        {
            transports = [Transports[0]];
        }

        var rows = new List<string[]>();
        void Row(string metric, Func<string, double?> ours, double? theirs, string format, bool higherIsBetter, double limit, string target)
        {
            var values = transports.Select(ours).ToArray();
            var ratios = values.Select(o => o is { } v && theirs is { } t && t != 0 ? v / t : (double?)null).ToArray();
            var met = ratios.Select(ratio => target == "(info)" ? "" : ratio is not { } r ? "?" : (higherIsBetter ? r >= limit : r <= limit) ? "yes" : "**no**");
            rows.Add([
                metric,
                .. values.Select(v => Format(v, format)),
                Format(theirs, format),
                .. ratios.Select(ratio => ratio is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "n/a"),
                target,
                .. met,
            ]);
        }

        foreach (var pairs in new[] { 1, 16 })
        {
            Row($"throughput, {pairs} pair{(pairs == 1 ? "" : "s")}, 64 KiB writes (MiB/s, both directions)",
                t => Median($"tp{pairs}-{t}", "mibPerSecond"), Median($"tp{pairs}-haproxy", "mibPerSecond"), "0", true, 1.0, "≥ 1.0×");
        }

        foreach (var pairs in new[] { 1, 16 })
        {
            Row($"server CPU s per GB relayed, {pairs} pair{(pairs == 1 ? "" : "s")}",
                t => Median($"tp{pairs}-{t}", "serverCpuSecondsPerGB"), Median($"tp{pairs}-haproxy", "serverCpuSecondsPerGB"), "0.000", false, 1.0, "≤ 1.0×");
        }

        foreach (var size in new[] { 1, 1024 })
        {
            var name = size == 1 ? "1 B" : "1 KiB";
            foreach (var (field, what) in new[] { ("medianMicroseconds", "median"), ("p99Microseconds", "p99") })
            {
                var direct = Median($"lat{size}-direct", field);
                var theirs = Median($"lat{size}-haproxy", field);
                Row($"added round trip, {name} ping-pong, {what} (µs over direct {Format(direct, "0.0")} µs)",
                    t => Median($"lat{size}-{t}", field) - direct, theirs - direct, "0.0", false, 1.1, "≤ 1.1×");
                Row($"  round trip through the proxy, {name}, {what} (µs)", t => Median($"lat{size}-{t}", field), theirs, "0.0", false, 1.1, "(info)");
            }
        }

        Row("complete rendezvous per second (haproxy: new connections/s)", t => Median($"rate-{t}", "perSecond"), Median("rate-haproxy", "perSecond"), "0", true, 1.0, "≥ 1.0×");
        Row("  server CPU per rendezvous, user mode (µs)", t => Median($"rate-{t}", "serverUserMicrosecondsPerRendezvous"), Median("rate-haproxy", "serverUserMicrosecondsPerRendezvous"), "0.0", false, 1.0, "(info)");
        Row("  server CPU per rendezvous, kernel mode (µs)", t => Median($"rate-{t}", "serverSystemMicrosecondsPerRendezvous"), Median("rate-haproxy", "serverSystemMicrosecondsPerRendezvous"), "0.0", false, 1.0, "(info)");

        // What one core of the server could carry: the rate is the generator's when the server has time to spare.
        Row("  rendezvous per second of server CPU (1 / CPU per rendezvous)", t => PerCpuSecond(Median($"rate-{t}", "serverCpuMicrosecondsPerRendezvous")), PerCpuSecond(Median("rate-haproxy", "serverCpuMicrosecondsPerRendezvous")), "0", true, 1.0, "(info)");
        Row("RSS per idle spliced session at N sessions (bytes)", t => Median($"idle-{t}-rss", "rssBytesPerSession"), Median("idle-haproxy-rss", "rssBytesPerSession"), "0", false, 1.0, "≤ 1.0×");

        string[] targets = [.. transports, "haproxy"];
        foreach (var target in targets)
        {
            var label = $"idle-{target}";
            var gens = results.Where(r => r.Label == label).ToList();
            var errors = gens.Sum(r => r.Json.GetProperty("errors").GetInt64());
            var checkedSessions = gens.Sum(r => r.Json.TryGetProperty("checked", out var c) ? c.GetInt64() : 0);
            var sessions = gens.Sum(r => r.Json.TryGetProperty("sessions", out var s) ? s.GetInt64() : 0);
            var perRepeat = Repeats(label) == 0 ? 0 : sessions / Repeats(label);
            var passed = sessions > 0 && errors == 0 && checkedSessions == sessions ? "yes" : "**no**";
            rows.Add([
                $"{perRepeat} concurrent spliced sessions ({(target == "haproxy" ? target : "relay, " + target)}, {Repeats(label)} runs): passed data and close",
                .. targets.Select(t => t == target ? $"{checkedSessions}/{sessions}, {errors} errors" : ""),
                .. transports.Select(_ => ""),
                "zero errors",
                .. transports.Select(t => t == target || (target == "haproxy" && t == transports[0]) ? passed : ""),
            ]);
        }

        var allErrors = results.Where(r => !r.Label.EndsWith("-rss", StringComparison.Ordinal))
            .Sum(r => r.Json.TryGetProperty("errors", out var e) ? e.GetInt64() : 0);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| metric | {string.Join(" | ", transports)} | haproxy | {string.Join(" | ", transports.Select(t => t + " ratio"))} | target | {string.Join(" | ", transports.Select(t => "met? " + t))} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| --- |{string.Concat(Enumerable.Repeat(" ---: |", (2 * transports.Length) + 1))} --- |{string.Concat(Enumerable.Repeat(" --- |", transports.Length))}");
        foreach (var row in rows)
        {
            text.AppendLine("| " + string.Join(" | ", row) + " |");
        }

        if (results.Any(r => r.Label.StartsWith("parked-", StringComparison.Ordinal)))
        {
            text.AppendLine();
            AppendParked(text, results, transports, Median);
        }

        if (results.Any(r => r.Label.StartsWith("cluster-", StringComparison.Ordinal)))
        {
            text.AppendLine();
            AppendCluster(text, Median);
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Errors over every run (data mismatches, failed sessions): {allErrors}.");
        AppendPool(text, results.Where(r => r.Label.StartsWith("pool-", StringComparison.Ordinal)).ToList());
        return text.ToString();
    }

    /// <summary>
    /// The cluster scenario's table: three nodes on one Redis against one node (SQLite) on the same machine, in the same run.
    /// Labels: <c>cluster-reg1-single</c>/<c>cluster-reg1-node</c> (one worker: latency), <c>cluster-reg16-single</c>,
    /// <c>cluster-reg16-node</c> (16 workers through one node), <c>cluster-reg16-nodes3</c> (through all three),
    /// <c>cluster-rate-single</c>/<c>cluster-rate-node</c> (complete rendezvous per second).
    /// </summary>
    private static void AppendCluster(StringBuilder text, Func<string, string, double?> median)
    {
        var rows = new List<string[]>();
        void Row(string metric, double? cluster, double? single, string format, double? limit, string target)
        {
            var ratio = cluster is { } c && single is { } s && s != 0 ? c / s : (double?)null;
            var met = limit is not { } l ? "" : ratio is not { } r ? "?" : r >= l ? "yes" : "**no**";
            rows.Add([metric, Format(cluster, format), Format(single, format), ratio is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "n/a", target, met]);
        }

        Row("registrations per second, 16 workers, through 1 node", median("cluster-reg16-node", "registrationsPerSecond"), median("cluster-reg16-single", "registrationsPerSecond"), "0", null, "(info)");
        Row("registrations per second, 16 workers, through 3 nodes", median("cluster-reg16-nodes3", "registrationsPerSecond"), median("cluster-reg16-single", "registrationsPerSecond"), "0", null, "(info)");
        Row("lookups per second, 16 workers, through 1 node", median("cluster-reg16-node", "lookupsPerSecond"), median("cluster-reg16-single", "lookupsPerSecond"), "0", null, "(info)");
        Row("lookups per second, 16 workers, through 3 nodes", median("cluster-reg16-nodes3", "lookupsPerSecond"), median("cluster-reg16-single", "lookupsPerSecond"), "0", null, "(info)");
        foreach (var (what, field) in new[] { ("registration", "registrationMedianMicroseconds"), ("lookup", "lookupMedianMicroseconds") })
        {
            var cluster = median("cluster-reg1-node", field);
            var single = median("cluster-reg1-single", field);
            Row($"{what} latency, 1 worker, median (µs); Redis adds {Format(cluster - single, "0")} µs", cluster, single, "0", null, "(info)");
        }

        Row("complete rendezvous per second on a node (one Redis, 3 nodes) against one node", median("cluster-rate-node", "perSecond"), median("cluster-rate-single", "perSecond"), "0", 0.9, "≥ 0.9×");
        text.AppendLine("| cluster (3 nodes, one redis-server) | cluster | one node | ratio | target | met? |");
        text.AppendLine("| --- | ---: | ---: | ---: | --- | --- |");
        foreach (var row in rows)
        {
            text.AppendLine("| " + string.Join(" | ", row) + " |");
        }
    }

    /// <summary>
    /// The parked scenario's table, the relay's transports only (haproxy has nothing like a parked connection). Labels:
    /// <c>parked-TRANSPORT</c> (one line per generator process and run) and <c>parked-TRANSPORT-rss</c> (one per run:
    /// connections, rssBytesPerConnection, serverFdsBefore, serverFdsParked).
    /// </summary>
    private static void AppendParked(StringBuilder text, List<(string Label, string Repeat, JsonElement Json)> results, string[] transports, Func<string, string, double?> median)
    {
        long Sum(string label, string field) => results.Where(r => r.Label == label)
            .Sum(r => r.Json.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? (long)v.GetDouble() : 0);
        int Runs(string label) => results.Where(r => r.Label == label).Select(r => r.Repeat).Distinct().Count();
        var connections = transports.Select(t => median($"parked-{t}-rss", "connections")).FirstOrDefault(c => c is not null);

        text.AppendLine(CultureInfo.InvariantCulture, $"| parked responders, one server process | {string.Join(" | ", transports)} | target | {string.Join(" | ", transports.Select(t => "met? " + t))} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| --- |{string.Concat(Enumerable.Repeat(" ---: |", transports.Length))} --- |{string.Concat(Enumerable.Repeat(" --- |", transports.Length))}");
        void Row(string metric, IEnumerable<string> values, string target, IEnumerable<string> met) =>
            text.AppendLine("| " + string.Join(" | ", [metric, .. values, target, .. met]) + " |");

        Row($"RSS per parked connection at {Format(connections, "0")} (bytes)", transports.Select(t => Format(median($"parked-{t}-rss", "rssBytesPerConnection"), "0")), "(info)", transports.Select(_ => ""));
        Row("  server's open descriptors while parked (before parking)",
            transports.Select(t => $"{Format(median($"parked-{t}-rss", "serverFdsParked"), "0")} ({Format(median($"parked-{t}-rss", "serverFdsBefore"), "0")})"), "(info)", transports.Select(_ => ""));
        var outcome = transports.Select(t =>
        {
            var label = $"parked-{t}";
            var sessions = Sum(label, "sessions");
            var stillParked = Sum(label, "parked") - Sum(label, "closedWhileParked");
            var check = Sum(label, "check");
            var paired = Sum(label, "checked");
            var errors = Sum(label, "errors");
            var ok = sessions > 0 && errors == 0 && stillParked == sessions && paired == check;
            return (Text: $"{stillParked}/{sessions} parked, {paired}/{check} paired, {errors} errors ({Runs(label)} runs)", Met: ok ? "yes" : "**no**");
        }).ToArray();
        Row($"{Format(connections, "0")} parked: still parked at the end, a sample paired (a byte each way, clean close)", outcome.Select(o => o.Text), "zero errors", outcome.Select(o => o.Met));
    }

    /// <summary>A label of a run from before the transports (<c>tp1-relay</c>, <c>idle-relay-rss</c>) as the socket transport's.</summary>
    private static string LabelOfTransports(string label) =>
        string.Join('-', label.Split('-').Select(part => part == "relay" ? Transports[0] : part));

    /// <summary>The pool scenario's runs (labels <c>pool-KIND-POLICY</c>), one row each: what clients met and what the hidden server held parked.</summary>
    private static void AppendPool(StringBuilder text, List<(string Label, string Repeat, JsonElement Json)> runs)
    {
        if (runs.Count == 0)
        {
            return;
        }

        string Number(JsonElement json, string field, string format) =>
            json.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble().ToString(format, CultureInfo.InvariantCulture) : "-";

        text.AppendLine();
        text.AppendLine("| hidden server, pool | clients | paired | waited | not ready | after the 2nd registration: waited, not ready | parked on average (max) | advice (max) | errors |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (label, _, json) in runs)
        {
            var burst = Number(json, "burst", "0");
            var every = Number(json, "burstIntervalSeconds", "0.#");
            text.AppendLine(CultureInfo.InvariantCulture, $"| {label["pool-".Length..].Replace("-", ", ", StringComparison.Ordinal)} ({burst} at once every {every} s) | {Number(json, "clients", "0")} | {Number(json, "paired", "0")} | {Number(json, "waited", "0")} | {Number(json, "notReady", "0")} | {Number(json, "steadyWaited", "0")}, {Number(json, "steadyNotReady", "0")} | {Number(json, "parkedAverage", "0.0")} ({Number(json, "parkedMax", "0")}) | {Number(json, "adviceMax", "0")} | {Number(json, "errors", "0")} |");
        }
    }

    private static string Format(double? value, string format) => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";
}
