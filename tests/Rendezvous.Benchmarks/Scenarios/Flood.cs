using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// Memory under hostile connection floods, sampled from the server's RSS (<c>--server-pid</c>):
/// <list type="bullet">
/// <item><c>slowloris</c>: <see cref="LoadOptions.Sessions"/> connections to the relay (<c>--relay</c>) from
/// <see cref="LoadOptions.Addresses"/> source addresses (127.0.0.2 upwards), each sending
/// <see cref="LoadOptions.Partial"/> bytes of a first line (0: nothing) and then nothing more; RSS before, with
/// all of them open (bytes per stalled connection), then every connection is closed and RSS sampled
/// <see cref="LoadOptions.AfterSeconds"/> later.</item>
/// <item><c>tlschurn</c>: <see cref="LoadOptions.Count"/> connections to the registrar (<c>--registrar</c>), each a
/// full TLS handshake, one <c>GET /healthz</c> and a close, <see cref="LoadOptions.Concurrency"/> at a time from the
/// same source addresses; RSS before, at the end, and the same samples after.</item>
/// </list>
/// </summary>
internal static class Flood
{
    public static async Task<ScenarioResult> SlowlorisAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        var relay = options.Relay ?? throw new ArgumentException("--relay HOST:PORT is required for slowloris");
        var result = new ScenarioResult("slowloris", "relay");
        var errors = new ErrorLog();
        var sockets = new Socket?[options.Sessions];
        var partial = Encoding.ASCII.GetBytes(("R" + new string('A', 64))[..Math.Min(options.Partial, 65)]);
        var rssBefore = Rss(options);
        var started = Stopwatch.GetTimestamp();
        await Idle.ForEachAsync(sockets.Length, options.Concurrency, async i =>
        {
            var socket = await ConnectFromAsync(SourceAddress(i, options.Addresses), relay, cancellationToken).ConfigureAwait(false);
            sockets[i] = socket;
            if (partial.Length > 0)
            {
                await Target.SendAllAsync(socket, partial, cancellationToken).ConfigureAwait(false);
            }
        }, errors).ConfigureAwait(false);
        var openSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var open = sockets.Count(s => s is not null);

        await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds), cancellationToken).ConfigureAwait(false);
        var rssPeak = Rss(options);

        // Still open: none was answered or closed by the server meanwhile (a too short first-line timeout or a cap).
        var stillOpen = sockets.Count(s => s is not null && !(s.Poll(0, SelectMode.SelectRead) && s.Available == 0));
        foreach (var socket in sockets)
        {
            socket?.Dispose();
        }

        result.Operations = open;
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Add("sessions", options.Sessions);
        result.Add("addresses", options.Addresses);
        result.Add("partialBytes", partial.Length);
        result.Add("opened", open);
        result.Add("stillOpen", stillOpen);
        result.Add("openSeconds", openSeconds);
        result.Add("rssBeforeKiB", rssBefore);
        result.Add("rssPeakKiB", rssPeak);
        if (rssBefore is { } before && rssPeak is { } peak && open > 0)
        {
            result.Add("rssBytesPerConnection", (peak - before) * 1024.0 / open);
        }

        await SampleAfterAsync(result, options, rssBefore, cancellationToken).ConfigureAwait(false);
        return result;
    }

    public static async Task<ScenarioResult> TlsChurnAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        var registrar = options.RegistrarUrl ?? throw new ArgumentException("--registrar URL is required for tlschurn");
        var endPoint = new IPEndPoint(IPAddress.Parse(registrar.Host), registrar.Port);
        var request = Encoding.ASCII.GetBytes($"GET /healthz HTTP/1.1\r\nHost: {registrar.Authority}\r\nConnection: close\r\n\r\n");
        var result = new ScenarioResult("tlschurn", "registrar");
        var errors = new ErrorLog();
        long completed = 0;
        long rssPeak = 0;
        var rssBefore = Rss(options);
        var started = Stopwatch.GetTimestamp();
        await Idle.ForEachAsync(options.Count, options.Concurrency, async i =>
        {
            using var socket = await ConnectFromAsync(SourceAddress(i, options.Addresses), endPoint, cancellationToken).ConfigureAwait(false);
            await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = registrar.Host,
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true, // a measurement of the server, not of trust
                },
                cancellationToken).ConfigureAwait(false);
            await tls.WriteAsync(request, cancellationToken).ConfigureAwait(false);
            var buffer = new byte[4096];
            var first = true;
            int read;
            while ((read = await tls.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (first && !Encoding.ASCII.GetString(buffer, 0, Math.Min(read, 12)).StartsWith("HTTP/1.1 ", StringComparison.Ordinal))
                {
                    throw new IOException("the registrar did not answer with HTTP/1.1");
                }

                first = false;
            }

            if (Interlocked.Increment(ref completed) % 1000 == 0 && Rss(options) is { } rss)
            {
                InterlockedMax(ref rssPeak, rss);
            }
        }, errors).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (Rss(options) is { } end)
        {
            InterlockedMax(ref rssPeak, end);
        }

        result.Operations = completed;
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Add("connections", options.Count);
        result.Add("addresses", options.Addresses);
        result.Add("concurrency", options.Concurrency);
        result.Add("seconds", elapsed);
        result.Add("perSecond", completed / elapsed);
        result.Add("rssBeforeKiB", rssBefore);
        result.Add("rssPeakKiB", rssPeak);
        await SampleAfterAsync(result, options, rssBefore, cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>127.0.0.2, 127.0.0.3, ...: connection <paramref name="index"/> of a flood from <paramref name="addresses"/> addresses.</summary>
    private static IPAddress SourceAddress(int index, int addresses) => new([127, 0, (byte)((2 + (index % addresses)) >> 8), (byte)(2 + (index % addresses))]);

    private static async Task<Socket> ConnectFromAsync(IPAddress source, IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Samples RSS at each of <see cref="LoadOptions.AfterSeconds"/> (seconds after the flood ended) and the ratio to before.</summary>
    private static async Task SampleAfterAsync(ScenarioResult result, LoadOptions options, long? before, CancellationToken cancellationToken)
    {
        var ended = Stopwatch.GetTimestamp();
        foreach (var seconds in options.AfterSeconds)
        {
            var wait = TimeSpan.FromSeconds(seconds) - Stopwatch.GetElapsedTime(ended);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            }

            var rss = Rss(options);
            var label = seconds.ToString(CultureInfo.InvariantCulture);
            result.Add($"rssAfter{label}sKiB", rss);
            if (before is > 0 && rss is { } after)
            {
                result.Add($"rssAfter{label}sToBefore", (double)after / before.Value);
            }
        }
    }

    private static long? Rss(LoadOptions options) => options.ServerPid > 0 ? ProcessStats.RssKiB(options.ServerPid) : null;

    private static void InterlockedMax(ref long target, long value)
    {
        long seen;
        while (value > (seen = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
