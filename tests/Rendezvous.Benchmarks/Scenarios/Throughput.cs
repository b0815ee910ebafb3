using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// N sessions, each sending a verified stream both ways in writes of <see cref="LoadOptions.WriteSize"/>
/// for T seconds; then each side half-closes and reads the rest. Reports verified bytes per second and
/// the server's CPU seconds per GB relayed.
/// </summary>
internal static class Throughput
{
    public static async Task<ScenarioResult> RunAsync(Target target, LoadOptions options, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult("throughput", target.Name);
        var errors = new ErrorLog();
        var opener = new SessionOpener(target);
        var sessions = new (Socket I, Socket R)[options.Pairs];
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i] = await opener.OpenAsync((ulong)i, cancellationToken).ConfigureAwait(false);
        }

        long verified = 0;
        var cpuBefore = options.ServerPid > 0 ? ProcessStats.CpuSeconds(options.ServerPid) : null;
        var selfBefore = ProcessStats.CpuSeconds(Environment.ProcessId);
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(options.Seconds * Stopwatch.Frequency);
        var loops = new List<Task>(sessions.Length * 4);
        for (var i = 0; i < sessions.Length; i++)
        {
            var (initiator, responder) = sessions[i];
            var up = (ulong)i * 2;
            var down = up + 1;
            loops.Add(SendAsync(initiator, up, options.WriteSize, deadline, errors, cancellationToken));
            loops.Add(ReceiveAsync(responder, up, errors, b => Interlocked.Add(ref verified, b), cancellationToken));
            loops.Add(SendAsync(responder, down, options.WriteSize, deadline, errors, cancellationToken));
            loops.Add(ReceiveAsync(initiator, down, errors, b => Interlocked.Add(ref verified, b), cancellationToken));
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpuAfter = options.ServerPid > 0 ? ProcessStats.CpuSeconds(options.ServerPid) : null;
        var selfAfter = ProcessStats.CpuSeconds(Environment.ProcessId);
        foreach (var (initiator, responder) in sessions)
        {
            initiator.Dispose();
            responder.Dispose();
        }

        result.BytesVerified = verified;
        result.Operations = sessions.Length;
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Add("pairs", options.Pairs);
        result.Add("writeSize", options.WriteSize);
        result.Add("seconds", elapsed);
        result.Add("bytesPerSecond", verified / elapsed);
        result.Add("mibPerSecond", verified / elapsed / (1024 * 1024));
        if (cpuBefore is { } before && cpuAfter is { } after)
        {
            result.Add("serverCpuSeconds", after - before);
            result.Add("serverCpuSecondsPerGB", verified > 0 ? (after - before) / (verified / 1e9) : null);
        }

        if (selfBefore is { } sb && selfAfter is { } sa)
        {
            result.Add("generatorCpuShare", (sa - sb) / elapsed);
        }

        return result;
    }

    private static async Task SendAsync(Socket socket, ulong seed, int writeSize, long deadline, ErrorLog errors, CancellationToken cancellationToken)
    {
        var stream = new PatternStream(seed);
        try
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var sent = await socket.SendAsync(stream.Peek(writeSize), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                stream.Advance(sent);
            }

            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            errors.Record(ex);
        }
    }

    private static async Task ReceiveAsync(Socket socket, ulong seed, ErrorLog errors, Action<long> onVerified, CancellationToken cancellationToken)
    {
        var stream = new PatternStream(seed);
        var buffer = ArrayPool<byte>.Shared.Rent(PatternStream.MaxChunk);
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(0, PatternStream.MaxChunk), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                stream.Verify(buffer.AsSpan(0, read));
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or DataMismatchException)
        {
            errors.Record(ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            onVerified(stream.Offset);
        }
    }
}
