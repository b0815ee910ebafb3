using System.Diagnostics;
using System.Net.Sockets;
using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// Opens <see cref="LoadOptions.Sessions"/> spliced sessions (each passes a verified byte each way),
/// leaves them idle, samples the server's RSS, then checks that every session still passes a byte each
/// way and closes cleanly (half-close both ways). With <c>--ready-file</c>/<c>--go-file</c> several
/// generator processes can hold their sessions at the same time while a script samples memory.
/// </summary>
internal static class Idle
{
    public static async Task<ScenarioResult> RunAsync(Target target, LoadOptions options, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult("idle", target.Name);
        var errors = new ErrorLog();
        var opener = new SessionOpener(target);
        var sessions = new (Socket I, Socket R)?[options.Sessions];
        var rssBefore = options.ServerPid > 0 ? ProcessStats.RssKiB(options.ServerPid) : null;
        var started = Stopwatch.GetTimestamp();

        await ForEachAsync(sessions.Length, options.Concurrency, async i =>
        {
            var session = await opener.OpenAsync((ulong)i, cancellationToken).ConfigureAwait(false);
            sessions[i] = session;
            await ExchangeAsync(session.Initiator, session.Responder, (ulong)i, cancellationToken).ConfigureAwait(false);
        }, errors).ConfigureAwait(false);

        var openSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var open = sessions.Count(s => s is not null);
        await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds), cancellationToken).ConfigureAwait(false);
        var rssAfter = options.ServerPid > 0 ? ProcessStats.RssKiB(options.ServerPid) : null;
        if (options.ReadyFile is { } ready)
        {
            await File.WriteAllTextAsync(ready, open.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        }

        if (options.GoFile is { } go)
        {
            while (!File.Exists(go))
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
        }

        long checkedOk = 0;
        await ForEachAsync(sessions.Length, options.Concurrency, async i =>
        {
            if (sessions[i] is not var (initiator, responder))
            {
                return;
            }

            try
            {
                await ExchangeAsync(initiator, responder, (ulong)i, cancellationToken, offset: 1).ConfigureAwait(false);
                await CloseAsync(initiator, responder, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref checkedOk);
            }
            finally
            {
                initiator.Dispose();
                responder.Dispose();
            }
        }, errors).ConfigureAwait(false);

        result.Operations = checkedOk;
        result.BytesVerified = checkedOk * 4;
        result.Errors = Math.Max(errors.Count, options.Sessions - checkedOk);
        result.FirstError = errors.First;
        result.Add("sessions", options.Sessions);
        result.Add("opened", open);
        result.Add("checked", checkedOk);
        result.Add("openSeconds", openSeconds);
        result.Add("rssBeforeKiB", rssBefore);
        result.Add("rssIdleKiB", rssAfter);
        if (rssBefore is { } before && rssAfter is { } after && open > 0)
        {
            result.Add("rssBytesPerSession", (after - before) * 1024.0 / open);
        }

        return result;
    }

    /// <summary>The initiator sends one byte of its stream and the responder one of its own; each side checks.</summary>
    internal static async Task ExchangeAsync(Socket initiator, Socket responder, ulong id, CancellationToken cancellationToken, int offset = 0)
    {
        var up = new PatternStream(id * 2);
        var down = new PatternStream((id * 2) + 1);
        up.Advance(offset);
        down.Advance(offset);
        var buffer = new byte[1];
        await Target.SendAllAsync(initiator, up.Peek(1), cancellationToken).ConfigureAwait(false);
        await Target.ReceiveExactlyAsync(responder, buffer, cancellationToken).ConfigureAwait(false);
        up.Verify(buffer);
        await Target.SendAllAsync(responder, down.Peek(1), cancellationToken).ConfigureAwait(false);
        await Target.ReceiveExactlyAsync(initiator, buffer, cancellationToken).ConfigureAwait(false);
        down.Verify(buffer);
    }

    /// <summary>Initiator half-closes, the responder sees the end and half-closes, the initiator sees the end.</summary>
    internal static async Task CloseAsync(Socket initiator, Socket responder, CancellationToken cancellationToken)
    {
        var buffer = new byte[1];
        initiator.Shutdown(SocketShutdown.Send);
        if (await responder.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new DataMismatchException("the responder got bytes instead of the end of the stream");
        }

        responder.Shutdown(SocketShutdown.Send);
        if (await initiator.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new DataMismatchException("the initiator got bytes instead of the end of the stream");
        }
    }

    /// <summary>Runs <paramref name="body"/> for 0..count-1, <paramref name="concurrency"/> at a time; network and data errors are recorded, not thrown.</summary>
    internal static async Task ForEachAsync(int count, int concurrency, Func<int, Task> body, ErrorLog errors)
    {
        var next = -1;
        var workers = new Task[Math.Max(1, Math.Min(concurrency, count))];
        for (var w = 0; w < workers.Length; w++)
        {
            workers[w] = Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count)
                {
                    try
                    {
                        await body(i).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is SocketException or IOException or DataMismatchException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
                    {
                        errors.Record(ex);
                    }
                }
            });
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
    }
}
