using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// Parks <see cref="LoadOptions.Sessions"/> responders at the relay (<c>R&lt;cookie&gt;\n</c>, the cookies of
/// <c>--cookies</c> in turn) and holds them while a script samples the server's memory (<c>--ready-file</c>/<c>--go-file</c>,
/// as <see cref="Idle"/>). A parked responder hears nothing until it is paired, so the relay has closed one that is
/// readable before that: each such one is an error. Then <see cref="LoadOptions.CheckCount"/> initiators pair with
/// parked responders (the relay picks which), each passing a verified byte each way and closing cleanly.
/// </summary>
internal static class Parked
{
    private static readonly byte[] Ok = "+OK\n"u8.ToArray();

    public static async Task<ScenarioResult> RunAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        var relay = options.Relay ?? throw new ArgumentException("--relay HOST:PORT is required for the parked scenario");
        IReadOnlyList<string> cookies = options.Cookies.Count > 0 ? options.Cookies
            : options.Cookie is { } cookie ? [cookie]
            : throw new ArgumentException("--cookies C1,C2,... (or --cookie C) is required for the parked scenario");
        if (cookies.Any(c => c.Length < 2 || c[0] != 'R'))
        {
            throw new ArgumentException("--cookies takes R cookies");
        }

        var result = new ScenarioResult("parked", "relay");
        var errors = new ErrorLog();
        var lines = cookies.Select(c => Encoding.ASCII.GetBytes(c + "\n")).ToArray();
        var parked = new Socket?[options.Sessions];
        var started = Stopwatch.GetTimestamp();
        await Idle.ForEachAsync(parked.Length, options.Concurrency, async i =>
        {
            var socket = await Target.ConnectAsync(relay, cancellationToken).ConfigureAwait(false);
            try
            {
                await Target.SendAllAsync(socket, lines[i % lines.Length], cancellationToken).ConfigureAwait(false);
                parked[i] = socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }, errors).ConfigureAwait(false);

        var parkSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var opened = parked.Count(s => s is not null);
        await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds), cancellationToken).ConfigureAwait(false);
        if (options.ReadyFile is { } ready)
        {
            await File.WriteAllTextAsync(ready, opened.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        }

        if (options.GoFile is { } go)
        {
            while (!File.Exists(go))
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
        }

        var closed = CloseDropped(parked, errors);
        var waiting = new ConcurrentDictionary<ulong, TaskCompletionSource<Socket>>();
        var check = Math.Min(options.CheckCount, opened - closed);
        for (var i = 0; i < check; i++)
        {
            waiting[(ulong)i] = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        long checkedOk = 0;
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            // Every parked responder reads what a pairing brings it: +OK and the initiator's session id.
            var listeners = parked.OfType<Socket>().Select(s => ListenAsync(s, waiting, errors, stop.Token)).ToArray();
            var targets = cookies.Select(c => Target.Relay(relay, c)).ToArray();
            await Idle.ForEachAsync(check, Math.Min(options.Concurrency, 16), async i =>
            {
                var id = (ulong)i;
                var idBytes = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(idBytes, id);
                using var initiator = await targets[i % targets.Length].ConnectInitiatorAsync(idBytes, cancellationToken).ConfigureAwait(false);
                Socket responder;
                try
                {
                    responder = await waiting[id].Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    throw new IOException($"no parked responder received session id {id} within 10 s of its +OK");
                }

                await Idle.ExchangeAsync(initiator, responder, id, cancellationToken).ConfigureAwait(false);
                await Idle.CloseAsync(initiator, responder, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref checkedOk);
            }, errors).ConfigureAwait(false);

            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(listeners).ConfigureAwait(false);
        }

        foreach (var socket in parked)
        {
            socket?.Dispose();
        }

        result.Operations = checkedOk;
        result.BytesVerified = checkedOk * 2;
        result.Errors = Math.Max(errors.Count, options.Sessions - opened + closed + (check - checkedOk));
        result.FirstError = errors.First;
        result.Add("sessions", options.Sessions);
        result.Add("cookies", cookies.Count);
        result.Add("parked", opened);
        result.Add("closedWhileParked", closed);
        result.Add("check", check);
        result.Add("checked", checkedOk);
        result.Add("parkSeconds", parkSeconds);
        return result;
    }

    /// <summary>Disposes and counts the parked responders that are readable (the relay closed them or wrote an error), recording each.</summary>
    private static int CloseDropped(Socket?[] parked, ErrorLog errors)
    {
        var closed = 0;
        for (var i = 0; i < parked.Length; i++)
        {
            if (parked[i] is not { } socket)
            {
                continue;
            }

            try
            {
                if (!socket.Poll(0, SelectMode.SelectRead))
                {
                    continue;
                }

                var available = socket.Available;
                errors.Record(new IOException(available == 0
                    ? "the relay closed a parked responder before it was paired"
                    : $"a parked responder received {available} byte(s) before it was paired"));
            }
            catch (SocketException ex)
            {
                errors.Record(ex);
            }

            closed++;
            socket.Dispose();
            parked[i] = null;
        }

        return closed;
    }

    /// <summary>Waits for a pairing: <c>+OK\n</c> then an 8-byte session id, handed to the initiator waiting for it. Ends quietly once stopped.</summary>
    private static async Task ListenAsync(Socket socket, ConcurrentDictionary<ulong, TaskCompletionSource<Socket>> waiting, ErrorLog errors, CancellationToken stop)
    {
        var received = new byte[Ok.Length + 8];
        try
        {
            await Target.ReceiveExactlyAsync(socket, received, stop).ConfigureAwait(false);
            if (!received.AsSpan(0, Ok.Length).SequenceEqual(Ok))
            {
                throw new DataMismatchException($"a parked responder received '{Encoding.ASCII.GetString(received).TrimEnd()}' instead of +OK");
            }

            var id = BinaryPrimitives.ReadUInt64LittleEndian(received.AsSpan(Ok.Length));
            if (!waiting.TryGetValue(id, out var owner) || !owner.TrySetResult(socket))
            {
                throw new DataMismatchException($"a parked responder received session id {id}, which no initiator is waiting for");
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Still parked when the check ended: as it should be.
        }
        catch (Exception ex) when (ex is SocketException or IOException or DataMismatchException)
        {
            if (!stop.IsCancellationRequested)
            {
                errors.Record(ex);
            }
        }
    }
}
