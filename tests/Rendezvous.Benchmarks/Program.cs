using BenchmarkDotNet.Running;
using Rendezvous.Benchmarks.LoadGen;
using Rendezvous.Benchmarks.Micro;
using Rendezvous.Benchmarks.Scenarios;

namespace Rendezvous.Benchmarks;

/// <summary>
/// <c>loadgen &lt;throughput|latency|rate|idle|soak|slowloris|tlschurn|pool|register|registrar&gt; --target relay|haproxy|direct [options]</c> prints one
/// JSON line; <c>loadgen micro [BenchmarkDotNet arguments]</c> runs the micro-benchmarks.
/// Exit codes: 0 ok, 1 the run had errors (data mismatch, failed sessions), 2 bad arguments or timeout.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "micro")
        {
            BenchmarkSwitcher.FromTypes([typeof(HandshakeParserBenchmarks), typeof(SplicerBenchmarks), typeof(RendezvousHandlerBenchmarks)]).Run(args[1..]);
            return 0;
        }

        if (args.Length == 2 && args[0] == "report")
        {
            Console.Write(Report.Build(await File.ReadAllLinesAsync(args[1]).ConfigureAwait(false)));
            return 0;
        }

        LoadOptions options;
        try
        {
            options = LoadOptions.Parse(args);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or UriFormatException)
        {
            await Console.Error.WriteLineAsync($"loadgen: {ex.Message}").ConfigureAwait(false);
            await Console.Error.WriteLineAsync("usage: loadgen <throughput|latency|rate|idle|parked|soak|slowloris|tlschurn|pool|register|registrar|micro> --target relay|haproxy|direct [--registrar URL[,URL...] --pin FP --uuid U --secret S | --cookie C --relay HOST:PORT] [registrar: --users FILE] [--front HOST:PORT --backend-port P] [--pairs N --seconds T --size B --count N --sessions N --concurrency C --server-pid PID --timeout S] [soak: --max-size B --faults none|kill|restart|all --kill-share F --read-pause MS --seed N --restart-request FILE --restart-done FILE --settle S] [parked: --cookies C1,C2,... --relay HOST:PORT --sessions N --check N --ready-file F --go-file F] [slowloris, tlschurn: --addresses N --partial B --after 10,30,60]").ConfigureAwait(false);
            return 2;
        }

        try
        {
            var result = await LoadGenerator.RunAsync(options).ConfigureAwait(false);
            Console.WriteLine(result.ToJson());
            if (options.Scenario == "soak")
            {
                Console.Write(Soak.Describe(result));
            }
            if (result.Errors > 0)
            {
                await Console.Error.WriteLineAsync($"loadgen: {result.Errors} error(s) in {options.Scenario} against {options.Target}; first: {result.FirstError}").ConfigureAwait(false);
                return 1;
            }

            return 0;
        }
        catch (Exception ex) when (ex is TimeoutException or ArgumentException or IOException or System.Net.Sockets.SocketException or Rendezvous.Client.RendezvousException or DataMismatchException)
        {
            await Console.Error.WriteLineAsync($"loadgen: {options.Scenario} against {options.Target} failed: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return ex is DataMismatchException or IOException or System.Net.Sockets.SocketException ? 1 : 2;
        }
    }
}
