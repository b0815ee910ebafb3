using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// <see cref="LoadOptions.Sessions"/> sessions, <see cref="LoadOptions.Concurrency"/> at a time, for at most
/// <see cref="LoadOptions.Seconds"/> seconds of starting new ones. Each session sends a payload of a random
/// size (log-uniform, 1 B to <see cref="LoadOptions.MaxSize"/>) each way; each side shuts down its sending
/// direction after its payload and reads to the end of the other's; every byte is checked as it arrives
/// and the SHA-256 of what arrived must equal the SHA-256 of what was sent. Faults on request: one side of
/// some sessions aborts its socket (RST) mid-stream, and the server is stopped and started again once,
/// mid-run (sessions sending when it begins go on sending after it, so it cuts them mid-stream).
/// Every session ends as one of:
/// <list type="bullet">
/// <item><b>ok</b>: both payloads arrived whole, then the end of stream, both hashes equal;</item>
/// <item><b>corrupted</b>: a byte arrived that was not sent (or more than was sent, or a hash differs), with or without a fault;</item>
/// <item><b>ended by fault</b>: it ended early after a fault hit it (its killed side, or the restart);</item>
/// <item><b>lost</b>: no fault hit it, yet bytes sent did not all arrive, a side got a reset, or it stalled;
///   also a killed session whose surviving side never saw the end;</item>
/// <item><b>not opened</b>: the rendezvous itself failed while no fault was under way.</item>
/// </list>
/// The server's RSS and open descriptors are sampled before, every 100 ms (peak), and
/// <see cref="LoadOptions.SettleSeconds"/> after the last session.
/// </summary>
internal static class Soak
{
    /// <summary>How long one session may take before it counts as stalled.</summary>
    private static readonly TimeSpan SessionBound = TimeSpan.FromSeconds(60);

    public static async Task<ScenarioResult> RunAsync(
        Target target, LoadOptions options, ServerRestarter? restarter, CancellationToken cancellationToken = default)
    {
        if (options.Faults.HasFlag(SoakFaults.Restart) && restarter is null)
        {
            throw new ArgumentException("--faults restart (or all) needs --restart-request and --restart-done: the script that started the server restarts it");
        }

        var seed = options.Seed ?? Random.Shared.Next();
        await using var peaks = new ProcessPeaks(options.ServerPid);
        var before = peaks.Sample();
        var run = new SoakRun(options, seed, new SessionOpener(target), restarter, peaks);
        var started = Stopwatch.GetTimestamp();
        await run.RunAsync(cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds), cancellationToken).ConfigureAwait(false);
        var after = peaks.Sample();

        var result = new ScenarioResult("soak", target.Name);
        result.Operations = run.Ok;
        result.BytesVerified = run.ReceivedUp + run.ReceivedDown;
        result.Errors = run.Lost + run.Corrupted + run.NotOpened;
        result.FirstError = run.Failures.FirstOrDefault();
        result.Add("seed", seed);
        result.Add("faults", SoakFaultsText.Format(options.Faults));
        result.Add("maxSize", options.MaxSize);
        result.Add("concurrency", options.Concurrency);
        result.Add("readPauseMs", options.ReadPauseMilliseconds);
        result.Add("seconds", elapsed);
        result.Add("sessions", run.Started);
        result.Add("ok", run.Ok);
        result.Add("lost", run.Lost);
        result.Add("corrupted", run.Corrupted);
        result.Add("endedByFault", run.EndedByFault);
        result.Add("notOpened", run.NotOpened);
        result.Add("killed", run.Killed);
        result.Add("restarts", run.Restarts);
        result.Add("okAfterRestart", run.OkAfterRestart);
        result.Add("bytesUpSent", run.SentUp);
        result.Add("bytesUpReceived", run.ReceivedUp);
        result.Add("bytesDownSent", run.SentDown);
        result.Add("bytesDownReceived", run.ReceivedDown);
        result.Add("rssBeforeKiB", before.RssKiB);
        result.Add("rssPeakKiB", peaks.PeakRssKiB);
        result.Add("rssAfterKiB", after.RssKiB);
        result.Add("fdsBefore", before.Descriptors);
        result.Add("fdsPeak", peaks.PeakDescriptors);
        result.Add("fdsAfter", after.Descriptors);
        result.Add("tcpOrphansPeak", peaks.PeakTcpOrphans);
        result.Add("tcpMemoryPagesPeak", peaks.PeakTcpMemoryPages);
        result.Add("tcpMemoryLimits", ProcessStats.KernelTcpMemoryLimits());
        result.Add("failures", string.Join(" | ", run.Failures));
        return result;
    }

    /// <summary>The result as a few lines for people.</summary>
    public static string Describe(ScenarioResult result)
    {
        string V(string key) => Convert.ToString(result.Get(key), CultureInfo.InvariantCulture) is { Length: > 0 } text ? text : "n/a";
        static string Mib(object? bytes) => bytes is long b ? (b / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB" : "n/a";
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"soak: {V("sessions")} sessions in {Convert.ToDouble(result.Get("seconds"), CultureInfo.InvariantCulture):0.0} s, faults {V("faults")}, max size {V("maxSize")} B, concurrency {V("concurrency")}, read pause {V("readPauseMs")} ms, seed {V("seed")}\n");
        text.Append(CultureInfo.InvariantCulture, $"sessions: ok {V("ok")}, lost {V("lost")}, corrupted {V("corrupted")}, ended by fault {V("endedByFault")}, not opened {V("notOpened")} (killed {V("killed")}, restarts {V("restarts")}, ok after the restart {V("okAfterRestart")})\n");
        text.Append(CultureInfo.InvariantCulture, $"bytes: up {Mib(result.Get("bytesUpSent"))} sent, {Mib(result.Get("bytesUpReceived"))} received; down {Mib(result.Get("bytesDownSent"))} sent, {Mib(result.Get("bytesDownReceived"))} received\n");
        text.Append(CultureInfo.InvariantCulture, $"server RSS KiB: before {V("rssBeforeKiB")}, peak {V("rssPeakKiB")}, after {V("rssAfterKiB")}; open descriptors: before {V("fdsBefore")}, peak {V("fdsPeak")}, after {V("fdsAfter")}\n");
        text.Append(CultureInfo.InvariantCulture, $"kernel TCP, all processes: orphaned sockets peak {V("tcpOrphansPeak")}, memory peak {V("tcpMemoryPagesPeak")} pages (tcp_mem {V("tcpMemoryLimits")})\n");
        if (V("failures") is { Length: > 0 } failures && failures != "n/a")
        {
            text.Append(CultureInfo.InvariantCulture, $"first failures: {failures}\n");
        }

        return text.ToString();
    }

    /// <summary>What one session does, drawn from the run's seed and the session's number (so a run can be repeated).</summary>
    private readonly record struct SessionPlan(int Index, int UpSize, int DownSize, bool KillInitiator, bool KillResponder, long KillAfter)
    {
        public static SessionPlan For(int seed, int index, LoadOptions options)
        {
            var random = new Random(HashCode.Combine(seed, index));
            var up = Size(random, options.MaxSize);
            var down = Size(random, options.MaxSize);
            if (!options.Faults.HasFlag(SoakFaults.Kill) || random.NextDouble() >= options.KillShare)
            {
                return new SessionPlan(index, up, down, false, false, 0);
            }

            var initiator = random.Next(2) == 0;
            return new SessionPlan(index, up, down, initiator, !initiator, random.NextInt64((initiator ? up : down) + 1L));
        }

        /// <summary>Log-uniform in 1..<paramref name="max"/>: as many 1–10 B payloads as 1–10 MB ones.</summary>
        private static int Size(Random random, int max) =>
            (int)Math.Clamp(Math.Round(Math.Exp(random.NextDouble() * Math.Log(max))), 1, max);
    }

    /// <summary>The sessions through one server process: a restart starts a new generation.</summary>
    private sealed record Generation(int Epoch, SessionOpener Opener);

    private sealed class SoakRun(LoadOptions options, int seed, SessionOpener opener, ServerRestarter? restarter, ProcessPeaks peaks)
    {
        private const int FailuresKept = 10;

        private readonly ConcurrentQueue<string> _failures = new();
        private Generation _generation = new(0, opener);
        private TaskCompletionSource _restartDone = Completed();
        private Task _restart = Task.CompletedTask;
        private int _restartRequested;
        private int _epoch;
        private int _next = -1;
        private long _started;
        private long _ok;
        private long _lost;
        private long _corrupted;
        private long _endedByFault;
        private long _notOpened;
        private long _killed;
        private long _okAfterRestart;
        private long _sentUp;
        private long _receivedUp;
        private long _sentDown;
        private long _receivedDown;

        public long Started => Interlocked.Read(ref _started);

        public long Ok => Interlocked.Read(ref _ok);

        public long Lost => Interlocked.Read(ref _lost);

        public long Corrupted => Interlocked.Read(ref _corrupted);

        public long EndedByFault => Interlocked.Read(ref _endedByFault);

        public long NotOpened => Interlocked.Read(ref _notOpened);

        public long Killed => Interlocked.Read(ref _killed);

        public int Restarts => Volatile.Read(ref _epoch);

        public long OkAfterRestart => Interlocked.Read(ref _okAfterRestart);

        public long SentUp => Interlocked.Read(ref _sentUp);

        public long ReceivedUp => Interlocked.Read(ref _receivedUp);

        public long SentDown => Interlocked.Read(ref _sentDown);

        public long ReceivedDown => Interlocked.Read(ref _receivedDown);

        public IReadOnlyCollection<string> Failures => _failures;

        /// <summary>The restart's number when a session's first problem was seen; a session whose epoch moved was hit by the restart.</summary>
        public int Epoch => Volatile.Read(ref _epoch);

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var started = Stopwatch.GetTimestamp();
            var deadline = started + (long)(options.Seconds * Stopwatch.Frequency);
            var workers = new Task[Math.Max(1, Math.Min(options.Concurrency, options.Sessions))];
            for (var w = 0; w < workers.Length; w++)
            {
                workers[w] = Task.Run(() => WorkAsync(started, deadline, cancellationToken), cancellationToken);
            }

            await Task.WhenAll(workers).ConfigureAwait(false);
            await _restart.ConfigureAwait(false);
        }

        private static TaskCompletionSource Completed()
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            done.SetResult();
            return done;
        }

        private async Task WorkAsync(long started, long deadline, CancellationToken cancellationToken)
        {
            int index;
            while (Stopwatch.GetTimestamp() < deadline && (index = Interlocked.Increment(ref _next)) < options.Sessions)
            {
                cancellationToken.ThrowIfCancellationRequested();
                MaybeRestart(index, started, deadline, cancellationToken);

                // No session starts while the server restarts; one that started just before fails as hit by it.
                await Volatile.Read(ref _restartDone).Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _started);
                await RunSessionAsync(SessionPlan.For(seed, index, options), Volatile.Read(ref _generation), cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Restarts the server once, when half the sessions or half the time has gone.</summary>
        private void MaybeRestart(int index, long started, long deadline, CancellationToken cancellationToken)
        {
            if (restarter is null || !options.Faults.HasFlag(SoakFaults.Restart) || Volatile.Read(ref _restartRequested) != 0)
            {
                return;
            }

            var halfway = index >= options.Sessions / 2 || Stopwatch.GetTimestamp() >= started + ((deadline - started) / 2);
            if (!halfway || Interlocked.Exchange(ref _restartRequested, 1) != 0)
            {
                return;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _restartDone, done);
            var epoch = Interlocked.Increment(ref _epoch);
            _restart = RestartAsync(epoch, done, cancellationToken);
        }

        private async Task RestartAsync(int epoch, TaskCompletionSource done, CancellationToken cancellationToken)
        {
            try
            {
                var server = await restarter!(cancellationToken).ConfigureAwait(false);
                peaks.Follow(server.Pid);
                Volatile.Write(ref _generation, new Generation(epoch, new SessionOpener(Target.Relay(server.Relay, server.Cookie))));
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
                throw;
            }
        }

        private async Task RunSessionAsync(SessionPlan plan, Generation generation, CancellationToken cancellationToken)
        {
            var session = new Session(this, plan, generation.Epoch);
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(SessionBound);
            Socket initiator, responder;
            try
            {
                (initiator, responder) = await generation.Opener.OpenAsync(((ulong)(uint)seed << 32) | (uint)plan.Index, bound.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException or DataMismatchException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                await bound.CancelAsync().ConfigureAwait(false); // ends a responder still parked for it
                session.Problem($"not opened: {ex.GetType().Name}: {ex.Message}");
                Record(session, opened: false);
                return;
            }

            try
            {
                if (plan.KillInitiator || plan.KillResponder)
                {
                    Interlocked.Increment(ref _killed);
                }

                var readPause = TimeSpan.FromMilliseconds(options.ReadPauseMilliseconds);
                var upSeed = ((ulong)(uint)seed << 32) + ((ulong)plan.Index * 2);
                var up = new Direction("up", plan.UpSize, upSeed);
                var down = new Direction("down", plan.DownSize, upSeed + 1);
                await Task.WhenAll(
                    SendAsync(session, initiator, up, plan.KillInitiator ? plan.KillAfter : null, bound.Token),
                    ReceiveAsync(session, responder, up, plan.KillResponder, readPause, bound.Token),
                    SendAsync(session, responder, down, plan.KillResponder ? plan.KillAfter : null, bound.Token),
                    ReceiveAsync(session, initiator, down, plan.KillInitiator, readPause, bound.Token)).ConfigureAwait(false);
                Interlocked.Add(ref _sentUp, up.Sent);
                Interlocked.Add(ref _receivedUp, up.Received);
                Interlocked.Add(ref _sentDown, down.Sent);
                Interlocked.Add(ref _receivedDown, down.Received);
                if (!session.Killed)
                {
                    up.Check(session);
                    down.Check(session);
                }

                Record(session, opened: true);
            }
            finally
            {
                initiator.Dispose();
                responder.Dispose();
            }
        }

        private void Record(Session session, bool opened)
        {
            if (session.CorruptedWhy is { } corrupted)
            {
                Interlocked.Increment(ref _corrupted);
                Keep(session, corrupted);
            }
            else if (session.Killed && !session.Stalled)
            {
                Interlocked.Increment(ref _endedByFault);
            }
            else if (session.ProblemWhy is { } problem)
            {
                if (session.ProblemEpoch != session.Epoch)
                {
                    Interlocked.Increment(ref _endedByFault);
                }
                else
                {
                    Interlocked.Increment(ref opened ? ref _lost : ref _notOpened);
                    Keep(session, problem);
                }
            }
            else
            {
                Interlocked.Increment(ref _ok);
                if (session.Epoch > 0)
                {
                    Interlocked.Increment(ref _okAfterRestart);
                }
            }
        }

        private void Keep(Session session, string why)
        {
            if (_failures.Count < FailuresKept)
            {
                _failures.Enqueue(string.Create(CultureInfo.InvariantCulture, $"session {session.Plan.Index} ({session.Plan.UpSize} B up, {session.Plan.DownSize} B down{(session.Killed ? ", killed" : "")}): {why}"));
            }
        }

        /// <summary>Sends the payload, then shuts down sending; a killing side aborts its socket (RST) after <paramref name="killAfter"/> bytes instead.</summary>
        private static async Task SendAsync(Session session, Socket socket, Direction direction, long? killAfter, CancellationToken cancellationToken)
        {
            var stream = new PatternStream(direction.Seed);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            try
            {
                var limit = killAfter ?? direction.Size;
                while (stream.Offset < limit)
                {
                    // Transfers under way when the restart begins wait for it, so that it always cuts some mid-stream.
                    await session.WaitOutRestartAsync(cancellationToken).ConfigureAwait(false);
                    var chunk = stream.Peek((int)Math.Min(PatternStream.MaxChunk, limit - stream.Offset));
                    var sent = await socket.SendAsync(chunk, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    hash.AppendData(chunk.Span[..sent]);
                    stream.Advance(sent);
                }

                if (killAfter is not null)
                {
                    session.Kill(socket);
                    return;
                }

                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                // A side that killed itself or was reset because the other one was killed: expected.
                session.Problem(cancellationToken.IsCancellationRequested ? $"{direction.Name}: stalled after sending {stream.Offset} of {direction.Size} B" : $"{direction.Name}: sending failed after {stream.Offset} of {direction.Size} B: {ex.Message}", stalled: cancellationToken.IsCancellationRequested);
            }
            finally
            {
                direction.Sent = stream.Offset;
                direction.SentHash = hash.GetHashAndReset();
            }
        }

        /// <summary>Reads to the end of the stream, checking every byte as it arrives and hashing it.</summary>
        private static async Task ReceiveAsync(Session session, Socket socket, Direction direction, bool killedSide, TimeSpan readPause, CancellationToken cancellationToken)
        {
            var stream = new PatternStream(direction.Seed);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = ArrayPool<byte>.Shared.Rent(PatternStream.MaxChunk);
            try
            {
                while (true)
                {
                    var read = await socket.ReceiveAsync(buffer.AsMemory(0, PatternStream.MaxChunk), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        direction.Ended = true;
                        break;
                    }

                    if (stream.Offset + read > direction.Size)
                    {
                        throw new DataMismatchException($"{stream.Offset + read} B arrived, only {direction.Size} B were sent");
                    }

                    stream.Verify(buffer.AsSpan(0, read));
                    hash.AppendData(buffer, 0, read);
                    if (readPause > TimeSpan.Zero)
                    {
                        await Task.Delay(readPause, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            catch (DataMismatchException ex)
            {
                // Stop the session here: its other loops end on the reset instead of waiting for reads that will not come.
                session.Corrupt($"{direction.Name}: {ex.Message}");
                session.Abort(socket);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                if (!killedSide || !session.Killed)
                {
                    var stalled = cancellationToken.IsCancellationRequested;
                    session.Problem(stalled ? $"{direction.Name}: stalled after receiving {stream.Offset} of {direction.Size} B" : $"{direction.Name}: receiving failed after {stream.Offset} of {direction.Size} B: {ex.Message}", stalled);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                direction.Received = stream.Offset;
                direction.ReceivedHash = hash.GetHashAndReset();
            }
        }

        /// <summary>One session's state as its four loops see it.</summary>
        private sealed class Session(SoakRun run, SessionPlan plan, int epoch)
        {
            private readonly Lock _lock = new();

            public SessionPlan Plan => plan;

            /// <summary>The restart's number when the session was opened.</summary>
            public int Epoch => epoch;

            public bool Killed { get; private set; }

            public bool Stalled { get; private set; }

            public int? ProblemEpoch { get; private set; }

            public string? ProblemWhy { get; private set; }

            public string? CorruptedWhy { get; private set; }

            /// <summary>Returns once no restart is under way.</summary>
            public Task WaitOutRestartAsync(CancellationToken cancellationToken)
            {
                var restart = Volatile.Read(ref run._restartDone).Task;
                return restart.IsCompleted ? restart : restart.WaitAsync(cancellationToken);
            }

            /// <summary>Aborts <paramref name="socket"/> with a reset, as a killed process's socket.</summary>
            public void Kill(Socket socket)
            {
                lock (_lock)
                {
                    Killed = true;
                }

                Abort(socket);
            }

            /// <summary>Closes <paramref name="socket"/> with a reset.</summary>
            public void Abort(Socket socket)
            {
                try
                {
                    socket.LingerState = new LingerOption(true, 0);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // Already closed.
                }

                socket.Dispose();
            }

            public void Problem(string why, bool stalled = false)
            {
                lock (_lock)
                {
                    Stalled |= stalled;
                    if (ProblemWhy is null)
                    {
                        ProblemWhy = why;
                        ProblemEpoch = run.Epoch;
                    }
                }
            }

            public void Corrupt(string why)
            {
                lock (_lock)
                {
                    CorruptedWhy ??= why;
                }
            }
        }

        /// <summary>One direction of a session: what was sent and what arrived.</summary>
        private sealed class Direction(string name, int size, ulong seed)
        {
            public string Name => name;

            public int Size => size;

            public ulong Seed => seed;

            public long Sent { get; set; }

            public long Received { get; set; }

            public bool Ended { get; set; }

            public byte[] SentHash { get; set; } = [];

            public byte[] ReceivedHash { get; set; } = [];

            /// <summary>For a session without a killed side: all of it arrived, then the end, and the hashes agree.</summary>
            public void Check(Session session)
            {
                if (session.CorruptedWhy is not null || session.ProblemWhy is not null)
                {
                    return;
                }

                if (Received != Size || !Ended)
                {
                    session.Problem($"{name}: {Received} of {Size} B arrived{(Ended ? ", then the end of stream" : "")}");
                }
                else if (!SentHash.AsSpan().SequenceEqual(ReceivedHash))
                {
                    session.Corrupt($"{name}: SHA-256 of the {Size} B received differs from that of the bytes sent");
                }
            }
        }
    }
}
