using Rendezvous.Benchmarks.Scenarios;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>Runs one scenario against one target; used by the command line and by the smoke tests in-process.</summary>
internal static class LoadGenerator
{
    /// <summary>Runs <see cref="LoadOptions.Scenario"/>; the soak scenario's restart fault uses <paramref name="restarter"/>, or else the files named by the options.</summary>
    public static async Task<ScenarioResult> RunAsync(LoadOptions options, ServerRestarter? restarter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(options.Timeout);
        if (options.Scenario == "register")
        {
            var triple = await Target.RegisterAsync(options, bound.Token).ConfigureAwait(false);
            var registered = new ScenarioResult("register", "relay");
            registered.Add("host", triple.Host);
            registered.Add("port", triple.Port);
            registered.Add("cookie", triple.Cookie);
            return registered;
        }

        if (options.Scenario == "registrar")
        {
            return await Registrar.RunAsync(options, bound.Token).ConfigureAwait(false);
        }

        if (options.Scenario == "pool")
        {
            try
            {
                return await Pool.RunAsync(options, bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the pool scenario did not finish within {options.Timeout.TotalSeconds:0} s");
            }
        }

        if (options.Scenario == "parked")
        {
            try
            {
                return await Parked.RunAsync(options, bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the parked scenario did not finish within {options.Timeout.TotalSeconds:0} s");
            }
        }

        if (options.Scenario is "slowloris" or "tlschurn")
        {
            try
            {
                return options.Scenario == "slowloris"
                    ? await Flood.SlowlorisAsync(options, bound.Token).ConfigureAwait(false)
                    : await Flood.TlsChurnAsync(options, bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the {options.Scenario} scenario did not finish within {options.Timeout.TotalSeconds:0} s");
            }
        }

        await using var target = await Target.CreateAsync(options, bound.Token).ConfigureAwait(false);
        try
        {
            return options.Scenario switch
            {
                "throughput" => await Throughput.RunAsync(target, options, bound.Token).ConfigureAwait(false),
                "latency" => await Latency.RunAsync(target, options, bound.Token).ConfigureAwait(false),
                "rate" => await Rate.RunAsync(target, options, bound.Token).ConfigureAwait(false),
                "idle" => await Idle.RunAsync(target, options, bound.Token).ConfigureAwait(false),
                "soak" => await Soak.RunAsync(target, options, restarter ?? FileRestarter(options), bound.Token).ConfigureAwait(false),
                _ => throw new ArgumentException($"unknown scenario '{options.Scenario}'; expected throughput, latency, rate, idle, parked, soak, slowloris, tlschurn, pool, register, registrar or micro"),
            };
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the {options.Scenario} scenario did not finish within {options.Timeout.TotalSeconds:0} s");
        }
    }

    private static ServerRestarter? FileRestarter(LoadOptions options) =>
        options.RestartRequestFile is { } request && options.RestartDoneFile is { } done ? ServerRestarters.ThroughFiles(request, done) : null;
}
