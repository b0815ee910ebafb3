using System.Diagnostics;
using System.Net.Sockets;
using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// One session; the initiator sends <see cref="LoadOptions.Size"/> bytes, the responder checks and echoes
/// them, the initiator checks the echo. Reports round-trip percentiles in microseconds (after a warm-up).
/// </summary>
internal static class Latency
{
    public static async Task<ScenarioResult> RunAsync(Target target, LoadOptions options, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult("latency", target.Name);
        var errors = new ErrorLog();
        var (initiator, responder) = await new SessionOpener(target).OpenAsync(1, cancellationToken).ConfigureAwait(false);
        var size = options.Size;
        var warmup = Math.Min(1000, Math.Max(10, options.Count / 10));
        var total = warmup + options.Count;
        var samples = new long[options.Count];
        var echo = EchoAsync(responder, size, total, errors, cancellationToken);

        var sent = new PatternStream(7);
        var check = new PatternStream(7);
        var buffer = new byte[size];
        var done = 0;
        try
        {
            for (var i = 0; i < total; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await Target.SendAllAsync(initiator, sent.Peek(size), cancellationToken).ConfigureAwait(false);
                sent.Advance(size);
                await Target.ReceiveExactlyAsync(initiator, buffer, cancellationToken).ConfigureAwait(false);
                var end = Stopwatch.GetTimestamp();
                check.Verify(buffer);
                if (i >= warmup)
                {
                    samples[i - warmup] = end - start;
                    done++;
                }
            }

            initiator.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or IOException or DataMismatchException)
        {
            errors.Record(ex);
        }

        await echo.ConfigureAwait(false);
        initiator.Dispose();
        responder.Dispose();

        var measured = samples.AsSpan(0, done);
        measured.Sort();
        result.BytesVerified = check.Offset * 2;
        result.Operations = done;
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Add("size", size);
        result.Add("medianMicroseconds", Percentile(measured, 0.50));
        result.Add("p90Microseconds", Percentile(measured, 0.90));
        result.Add("p99Microseconds", Percentile(measured, 0.99));
        result.Add("meanMicroseconds", done == 0 ? null : ToMicroseconds(Sum(measured) / done));
        return result;
    }

    internal static double? Percentile(ReadOnlySpan<long> sorted, double q) =>
        sorted.IsEmpty ? null : ToMicroseconds(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)]);

    private static double ToMicroseconds(double ticks) => ticks * 1e6 / Stopwatch.Frequency;

    private static double Sum(ReadOnlySpan<long> values)
    {
        double sum = 0;
        foreach (var v in values)
        {
            sum += v;
        }

        return sum;
    }

    private static async Task EchoAsync(Socket socket, int size, int count, ErrorLog errors, CancellationToken cancellationToken)
    {
        var check = new PatternStream(7);
        var buffer = new byte[size];
        try
        {
            for (var i = 0; i < count; i++)
            {
                await Target.ReceiveExactlyAsync(socket, buffer, cancellationToken).ConfigureAwait(false);
                check.Verify(buffer);
                await Target.SendAllAsync(socket, buffer, cancellationToken).ConfigureAwait(false);
            }

            if (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false) != 0)
            {
                throw new DataMismatchException("bytes after the last ping");
            }

            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or IOException or DataMismatchException)
        {
            errors.Record(ex);
        }
    }
}
