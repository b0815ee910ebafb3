using System.Collections.Concurrent;
using System.Diagnostics;
using OtpNet;
using Rendezvous.Benchmarks.LoadGen;
using Rendezvous.Client;
using Rendezvous.Client.Registrar;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// Registrations and lookups per second through one or more registrars (the nodes of a cluster, or one node):
/// <see cref="LoadOptions.Concurrency"/> workers register the users of <see cref="LoadOptions.UsersFile"/> (one
/// <c>UUID BASE32SECRET</c> per line, each registered once, so no code is replayed) through the registrars in turn
/// for at most <see cref="LoadOptions.Seconds"/>, then look the registered UUIDs up through the registrars in turn
/// for <see cref="LoadOptions.Seconds"/>. Every answer is checked: a triple for each, an <c>R</c> cookie for a
/// registration and an <c>I</c> cookie for a lookup. With a concurrency of 1 the medians are the latency of one
/// request, so a cluster's figures against one node's say what Redis adds.
/// </summary>
internal static class Registrar
{
    public static async Task<ScenarioResult> RunAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        if (options.Registrars.Count == 0 || options.UsersFile is null)
        {
            throw new ArgumentException("--registrar URL[,URL...] and --users FILE are required for the registrar scenario");
        }

        var users = (await File.ReadAllLinesAsync(options.UsersFile, cancellationToken).ConfigureAwait(false))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(parts => parts.Length == 2)
            .Select(parts => (Uuid: parts[0], Totp: new Totp(Base32Encoding.ToBytes(parts[1]))))
            .ToArray();
        var trust = new RegistrarTrust { PinnedFingerprint = options.Pin, TrustSystemStore = options.Pin is null };
        var clients = options.Registrars.Select(url => new RegistrarClient(url, trust)).ToArray();
        try
        {
            var result = new ScenarioResult("registrar", options.Target);
            var errors = new ErrorLog();
            var registered = new ConcurrentQueue<string>();
            var next = -1;
            var (registrations, registrationSeconds, registrationTicks) = await RunPhaseAsync(options, async (worker, count) =>
            {
                var index = Interlocked.Increment(ref next);
                if (index >= users.Length)
                {
                    return false;
                }

                var (uuid, totp) = users[index];
                var triple = await clients[index % clients.Length].RegisterAsync(uuid, totp.ComputeTotp(), cancellationToken).ConfigureAwait(false);
                if (!triple.Cookie.StartsWith('R'))
                {
                    throw new DataMismatchException($"a registration answered the cookie '{triple.Cookie}'");
                }

                registered.Enqueue(uuid);
                return true;
            }, errors, cancellationToken).ConfigureAwait(false);

            var uuids = registered.ToArray();
            (long lookups, double lookupSeconds, long[] lookupTicks) = uuids.Length == 0 ? (0L, 0.0, []) : await RunPhaseAsync(options, async (worker, count) =>
            {
                var uuid = uuids[(int)((worker * 7919L + count) % uuids.Length)];
                var triple = await clients[(int)(count % clients.Length)].LookupAsync(uuid, cancellationToken).ConfigureAwait(false);
                if (!triple.Cookie.StartsWith('I'))
                {
                    throw new DataMismatchException($"a lookup answered the cookie '{triple.Cookie}'");
                }

                return true;
            }, errors, cancellationToken).ConfigureAwait(false);

            result.Operations = registrations + lookups;
            result.Errors = errors.Count;
            result.FirstError = errors.First;
            result.Add("registrars", clients.Length);
            result.Add("concurrency", options.Concurrency);
            result.Add("registrations", registrations);
            result.Add("registrationsPerSecond", registrationSeconds > 0 ? registrations / registrationSeconds : null);
            result.Add("registrationMedianMicroseconds", Latency.Percentile(registrationTicks, 0.50));
            result.Add("registrationP99Microseconds", Latency.Percentile(registrationTicks, 0.99));
            result.Add("lookups", lookups);
            result.Add("lookupsPerSecond", lookupSeconds > 0 ? lookups / lookupSeconds : null);
            result.Add("lookupMedianMicroseconds", Latency.Percentile(lookupTicks, 0.50));
            result.Add("lookupP99Microseconds", Latency.Percentile(lookupTicks, 0.99));
            return result;
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on every worker until <see cref="LoadOptions.Seconds"/> pass or it answers
    /// <see langword="false"/> (nothing left to do); returns how many succeeded, in how long, and each one's duration, sorted.
    /// </summary>
    private static async Task<(long Count, double Seconds, long[] Ticks)> RunPhaseAsync(
        LoadOptions options,
        Func<int, long, Task<bool>> operation,
        ErrorLog errors,
        CancellationToken cancellationToken)
    {
        var durations = new ConcurrentBag<long[]>();
        long completed = 0;
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(options.Seconds * Stopwatch.Frequency);
        var workers = Enumerable.Range(0, options.Concurrency).Select(worker => Task.Run(
            async () =>
            {
                var mine = new List<long>();
                for (long count = 0; Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested; count++)
                {
                    var before = Stopwatch.GetTimestamp();
                    try
                    {
                        if (!await operation(worker, count).ConfigureAwait(false))
                        {
                            break;
                        }

                        mine.Add(Stopwatch.GetTimestamp() - before);
                        Interlocked.Increment(ref completed);
                    }
                    catch (Exception exception) when (exception is RendezvousException or DataMismatchException or HttpRequestException)
                    {
                        errors.Record(exception);
                    }
                }

                durations.Add([.. mine]);
            },
            cancellationToken)).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var ticks = durations.SelectMany(d => d).ToArray();
        Array.Sort(ticks);
        return (completed, seconds, ticks);
    }
}
