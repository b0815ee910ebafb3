using System.Diagnostics;
using System.Net.Sockets;
using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// Complete rendezvous per second: <see cref="LoadOptions.Concurrency"/> workers each loop for T seconds:
/// a responder parks (relay) or is accepted (haproxy), an initiator connects and sends 1 byte, the
/// responder answers 1 byte derived from it, the initiator checks it and half-closes, the responder
/// sees the end and closes, the initiator sees the end. Then the next one.
/// </summary>
internal static class Rate
{
    public static async Task<ScenarioResult> RunAsync(Target target, LoadOptions options, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult("rate", target.Name);
        var errors = new ErrorLog();
        long completed = 0;
        var cpuBefore = options.ServerPid > 0 ? ProcessStats.CpuTimes(options.ServerPid) : null;
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(options.Seconds * Stopwatch.Frequency);
        var workers = new Task[options.Concurrency];
        for (var w = 0; w < workers.Length; w++)
        {
            var worker = w;
            workers[w] = Task.Run(() => WorkerAsync(target, worker, deadline, errors, () => Interlocked.Increment(ref completed), cancellationToken), cancellationToken);
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpuAfter = options.ServerPid > 0 ? ProcessStats.CpuTimes(options.ServerPid) : null;

        result.Operations = completed;
        result.BytesVerified = completed * 2;
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Add("concurrency", options.Concurrency);
        result.Add("seconds", elapsed);
        result.Add("perSecond", completed / elapsed);
        if (cpuBefore is { } before && cpuAfter is { } after)
        {
            var user = after.User - before.User;
            var system = after.System - before.System;
            result.Add("serverCpuSeconds", user + system);
            result.Add("serverCpuMicrosecondsPerRendezvous", completed > 0 ? (user + system) * 1e6 / completed : null);

            // Kernel time is mostly TCP work both proxies share; user time is each one's own code and runtime.
            result.Add("serverUserMicrosecondsPerRendezvous", completed > 0 ? user * 1e6 / completed : null);
            result.Add("serverSystemMicrosecondsPerRendezvous", completed > 0 ? system * 1e6 / completed : null);
        }

        return result;
    }

    private static async Task WorkerAsync(Target target, int worker, long deadline, ErrorLog errors, Action onCompleted, CancellationToken cancellationToken)
    {
        var ping = new byte[1];
        var pong = new byte[1];
        var rest = new byte[16];
        var sequence = 0;
        while (Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
        {
            ping[0] = (byte)(worker * 31 + sequence++);
            var responder = ResponderAsync(target, cancellationToken);
            try
            {
                using var initiator = await target.ConnectInitiatorAsync(ping, cancellationToken).ConfigureAwait(false);
                await Target.ReceiveExactlyAsync(initiator, pong, cancellationToken).ConfigureAwait(false);
                if (pong[0] != Answer(ping[0]))
                {
                    throw new DataMismatchException($"the answer to 0x{ping[0]:x2} was 0x{pong[0]:x2}, expected 0x{Answer(ping[0]):x2}");
                }

                initiator.Shutdown(SocketShutdown.Send);
                if (await initiator.ReceiveAsync(rest, SocketFlags.None, cancellationToken).ConfigureAwait(false) != 0)
                {
                    throw new DataMismatchException("bytes after the answer");
                }

                await responder.ConfigureAwait(false);
                onCompleted();
            }
            catch (Exception ex) when (ex is SocketException or IOException or DataMismatchException)
            {
                errors.Record(ex);
                await Task.WhenAny(responder, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken)).ConfigureAwait(false);
            }
        }
    }

    private static async Task ResponderAsync(Target target, CancellationToken cancellationToken)
    {
        using var socket = await target.NextResponderAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[16];
        await Target.ReceiveExactlyAsync(socket, buffer.AsMemory(0, 1), cancellationToken).ConfigureAwait(false);
        buffer[1] = Answer(buffer[0]);
        await Target.SendAllAsync(socket, buffer.AsMemory(1, 1), cancellationToken).ConfigureAwait(false);
        if (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new DataMismatchException("bytes after the ping");
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    private static byte Answer(byte ping) => (byte)(ping ^ 0xA5);
}
