using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OtpNet;
using Rendezvous.Benchmarks.LoadGen;
using Rendezvous.Protocol;

namespace Rendezvous.Benchmarks.Scenarios;

/// <summary>
/// One hidden server and its clients for <see cref="LoadOptions.Seconds"/>: the hidden server (simulated with raw
/// sockets, as an agent behaves) keeps a pool parked, a fixed size or the registrar's <c>pool</c> advice
/// (<see cref="LoadOptions.PoolPolicy"/>), and parks a replacement <see cref="LoadOptions.ReparkDelayMilliseconds"/>
/// after each of its parked connections is paired or closed (its network round trip to the relay); it registers again
/// every <see cref="LoadOptions.ReregisterSeconds"/>, whatever its policy, and follows the advice of each answer. Every
/// <see cref="LoadOptions.BurstIntervalSeconds"/> a burst of <see cref="LoadOptions.Burst"/> clients connect at once
/// (1 for an idle hidden server). Counts the clients refused <c>not ready</c>, those that waited for a responder (their
/// <c>+OK</c> came more than half the re-park delay after their line; those refused are not among them), and samples
/// the connections parked.
/// </summary>
internal static class Pool
{
    public static async Task<ScenarioResult> RunAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        if (options.RegistrarUrl is null || options.Uuid is null || options.Secret is null || options.Relay is null)
        {
            throw new ArgumentException("pool needs --registrar, --pin, --uuid, --secret (of an entry with --totp-step) and --relay");
        }

        using var registrar = new PoolRegistrar(options);
        var state = new HiddenServer(options);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await state.RegisterAsync(registrar, stop.Token).ConfigureAwait(false);

        var slots = Enumerable.Range(0, LoadOptions.MaxPool).Select(i => Task.Run(() => state.SlotAsync(i, stop.Token), CancellationToken.None)).ToArray();
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(options.Seconds * Stopwatch.Frequency);
        var clients = new List<Task>();
        long samples = 0, parkedSum = 0;
        var parkedMax = 0;
        var nextBurst = started + Stopwatch.Frequency; // the first pool is parked by then
        // Half a second off the bursts (which start a second in), so that a registration does not fall on one.
        var nextRegistration = started + (long)((options.ReregisterSeconds + 0.5) * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var now = Stopwatch.GetTimestamp();
            if (now >= nextBurst)
            {
                for (var i = 0; i < options.Burst; i++)
                {
                    clients.Add(state.ClientAsync(stop.Token));
                }

                nextBurst += (long)(options.BurstIntervalSeconds * Stopwatch.Frequency);
            }

            if (now >= nextRegistration)
            {
                await state.RegisterAsync(registrar, stop.Token).ConfigureAwait(false);
                nextRegistration += (long)(options.ReregisterSeconds * Stopwatch.Frequency);
            }

            var parked = state.Parked;
            samples++;
            parkedSum += parked;
            parkedMax = Math.Max(parkedMax, parked);
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await Task.WhenAll(clients).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(slots).ConfigureAwait(false);

        var result = new ScenarioResult("pool", "relay")
        {
            Operations = state.Paired,
            BytesVerified = state.Paired * 2,
            Errors = state.Errors.Count,
            FirstError = state.Errors.First,
        };
        result.Add("policy", options.PoolPolicy);
        result.Add("burst", options.Burst);
        result.Add("burstIntervalSeconds", options.BurstIntervalSeconds);
        result.Add("reparkDelayMilliseconds", options.ReparkDelayMilliseconds);
        result.Add("seconds", elapsed);
        result.Add("clients", state.Clients);
        result.Add("paired", state.Paired);
        result.Add("waited", state.Waited);
        result.Add("notReady", state.NotReady);
        result.Add("notRegistered", state.NotRegistered);
        result.Add("steadyWaited", state.SteadyWaited);
        result.Add("steadyNotReady", state.SteadyNotReady);
        result.Add("parkedAverage", samples == 0 ? 0.0 : (double)parkedSum / samples);
        result.Add("parkedMax", parkedMax);
        result.Add("registrations", state.Registrations);
        result.Add("adviceLast", state.LastAdvice);
        result.Add("adviceMax", state.MaxAdvice);
        return result;
    }

    /// <summary>The simulated hidden server's registration, pool and counters, and its clients.</summary>
    private sealed class HiddenServer(LoadOptions options)
    {
        private static readonly byte[] Ok = "+OK\n"u8.ToArray();
        private readonly int? _fixedPool = options.PoolPolicy == "advice" ? null : int.Parse(options.PoolPolicy, CultureInfo.InvariantCulture);
        private string _cookie = "";
        private int _pool = 1;
        private int _parked;
        private int _registrations;
        private long _clients, _paired, _waited, _notReady, _notRegistered, _steadyWaited, _steadyNotReady;

        private enum ClientOutcome
        {
            Paired,
            Waited,
            NotReady,
            NotRegistered,
            Failed,
        }

        public ErrorLog Errors { get; } = new();

        public int Parked => Volatile.Read(ref _parked);

        public long Clients => Interlocked.Read(ref _clients);

        public long Paired => Interlocked.Read(ref _paired);

        public long Waited => Interlocked.Read(ref _waited);

        public long NotReady => Interlocked.Read(ref _notReady);

        public long NotRegistered => Interlocked.Read(ref _notRegistered);

        /// <summary>Clients that waited, among those that came after the hidden server's second registration (the first answer sized by demand).</summary>
        public long SteadyWaited => Interlocked.Read(ref _steadyWaited);

        /// <summary>Clients refused <c>not ready</c>, among those that came after the hidden server's second registration.</summary>
        public long SteadyNotReady => Interlocked.Read(ref _steadyNotReady);

        public int Registrations => Volatile.Read(ref _registrations);

        public int? LastAdvice { get; private set; }

        public int? MaxAdvice { get; private set; }

        public async Task RegisterAsync(PoolRegistrar registrar, CancellationToken cancellationToken)
        {
            var (cookie, advice) = await registrar.RegisterAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _registrations);
            LastAdvice = advice;
            MaxAdvice = advice is { } a ? Math.Max(MaxAdvice ?? 0, a) : MaxAdvice;
            Volatile.Write(ref _pool, Math.Clamp(_fixedPool ?? advice ?? 1, 1, LoadOptions.MaxPool));
            Volatile.Write(ref _cookie, cookie);
        }

        /// <summary>One parked connection of the pool, parked again after each pairing while the pool is at least <paramref name="index"/> + 1.</summary>
        public async Task SlotAsync(int index, CancellationToken cancellationToken)
        {
            var buffer = new byte[64];
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    if (index >= Volatile.Read(ref _pool))
                    {
                        await Task.Delay(50, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    // The network round trip of a hidden server far from the relay, before each (re)park.
                    await Task.Delay(options.ReparkDelayMilliseconds, cancellationToken).ConfigureAwait(false);
                    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(options.Relay!, cancellationToken).ConfigureAwait(false);
                    await Target.SendAllAsync(socket, Encoding.ASCII.GetBytes("R" + Volatile.Read(ref _cookie) + "\n"), cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref _parked);
                    int got;
                    try
                    {
                        got = await ReadAtLeastAsync(socket, buffer, Ok.Length, cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _parked);
                    }

                    if (got < Ok.Length || !buffer.AsSpan(0, Ok.Length).SequenceEqual(Ok))
                    {
                        continue; // closed: superseded by a newer registration, or refused
                    }

                    // The session: the client's byte comes right after +OK (or with it); answer it, then close after its end.
                    if (got == Ok.Length)
                    {
                        await Target.ReceiveExactlyAsync(socket, buffer.AsMemory(Ok.Length, 1), cancellationToken).ConfigureAwait(false);
                    }

                    buffer[Ok.Length + 1] = (byte)(buffer[Ok.Length] ^ 0xA5);
                    await Target.SendAllAsync(socket, buffer.AsMemory(Ok.Length + 1, 1), cancellationToken).ConfigureAwait(false);
                    _ = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    socket.Shutdown(SocketShutdown.Send);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is SocketException or IOException)
                {
                    Errors.Record(ex);
                }
            }
        }

        /// <summary>
        /// One client: looks the hidden server up (the current cookie), connects, sends its line and one byte; told
        /// <c>not registered</c> (the hidden server registered again meanwhile), it looks up again and retries once, as
        /// our connector does.
        /// </summary>
        public async Task ClientAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _clients);
            var cookie = Volatile.Read(ref _cookie);
            var steady = Registrations > 1;
            var outcome = await ConnectClientAsync(cookie, cancellationToken).ConfigureAwait(false);
            if (outcome == ClientOutcome.NotRegistered)
            {
                Interlocked.Increment(ref _notRegistered);

                // The relay already has the new registration; the registrar's answer is on its way to the hidden server.
                var current = Volatile.Read(ref _cookie);
                for (var i = 0; i < 100 && current == cookie; i++)
                {
                    await Task.Delay(20, cancellationToken).ConfigureAwait(false);
                    current = Volatile.Read(ref _cookie);
                }

                outcome = await ConnectClientAsync(current, cancellationToken).ConfigureAwait(false);
                if (outcome == ClientOutcome.NotRegistered)
                {
                    Errors.Record(new IOException("not registered, also after looking up again"));
                }
            }

            if (steady && outcome is ClientOutcome.Waited or ClientOutcome.NotReady)
            {
                Interlocked.Increment(ref outcome == ClientOutcome.Waited ? ref _steadyWaited : ref _steadyNotReady);
            }
        }

        private async Task<ClientOutcome> ConnectClientAsync(string cookie, CancellationToken cancellationToken)
        {
            var buffer = new byte[64];
            var ping = (byte)Random.Shared.Next(256);
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(options.Relay!, cancellationToken).ConfigureAwait(false);
                var line = Encoding.ASCII.GetBytes("I" + RendezvousCookies.InitiatorValueFor(cookie) + "\n?");
                line[^1] = ping;
                var sent = Stopwatch.GetTimestamp();
                await Target.SendAllAsync(socket, line, cancellationToken).ConfigureAwait(false);
                var got = await ReadAtLeastAsync(socket, buffer, Ok.Length, cancellationToken).ConfigureAwait(false);
                if (got >= Ok.Length && buffer.AsSpan(0, Ok.Length).SequenceEqual(Ok))
                {
                    var waited = Stopwatch.GetElapsedTime(sent).TotalMilliseconds > options.ReparkDelayMilliseconds / 2.0;
                    if (waited)
                    {
                        Interlocked.Increment(ref _waited);
                    }

                    if (got == Ok.Length)
                    {
                        await Target.ReceiveExactlyAsync(socket, buffer.AsMemory(Ok.Length, 1), cancellationToken).ConfigureAwait(false);
                    }

                    if (buffer[Ok.Length] != (byte)(ping ^ 0xA5))
                    {
                        throw new DataMismatchException($"the answer to 0x{ping:x2} was 0x{buffer[Ok.Length]:x2}");
                    }

                    socket.Shutdown(SocketShutdown.Send);
                    _ = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref _paired);
                    return waited ? ClientOutcome.Waited : ClientOutcome.Paired;
                }

                got += got > 0 ? await ReadAtLeastAsync(socket, buffer.AsMemory(got), 0, cancellationToken).ConfigureAwait(false) : 0;
                var reply = Encoding.ASCII.GetString(buffer, 0, got);
                if (reply.StartsWith("-ERR not ready", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _notReady);
                    return ClientOutcome.NotReady;
                }

                if (reply.StartsWith("-ERR not registered", StringComparison.Ordinal))
                {
                    return ClientOutcome.NotRegistered;
                }
                throw new IOException($"unexpected answer '{reply.TrimEnd()}'");
            }
            catch (Exception ex) when (ex is SocketException or IOException or DataMismatchException)
            {
                Errors.Record(ex);
                return ClientOutcome.Failed;
            }
        }

        /// <summary>Reads until at least <paramref name="atLeast"/> bytes are in (or the end of the stream); returns how many.</summary>
        private static async Task<int> ReadAtLeastAsync(Socket socket, Memory<byte> buffer, int atLeast, CancellationToken cancellationToken)
        {
            var got = 0;
            do
            {
                var read = await socket.ReceiveAsync(buffer[got..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                got += read;
            }
            while (got < atLeast && got < buffer.Length);
            return got;
        }
    }

    /// <summary>Registers over HTTPS with a pinned certificate and returns the raw answer's cookie and <c>pool</c> field.</summary>
    private sealed class PoolRegistrar : IDisposable
    {
        private readonly HttpClient _http;
        private readonly LoadOptions _options;
        private readonly Totp _totp;
        private long _lastStep = -1;

        public PoolRegistrar(LoadOptions options)
        {
            _options = options;
            _totp = new Totp(Base32Encoding.ToBytes(options.Secret), step: options.TotpStep);
            var pin = options.Pin?.Replace(":", "", StringComparison.Ordinal);
            var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && pin is not null
                && string.Equals(Convert.ToHexString(SHA256.HashData(certificate.GetRawCertData())), pin, StringComparison.OrdinalIgnoreCase);
            _http = new HttpClient(handler) { BaseAddress = options.RegistrarUrl, Timeout = TimeSpan.FromSeconds(10) };
        }

        public async Task<(string Cookie, int? Pool)> RegisterAsync(CancellationToken cancellationToken)
        {
            for (var attempt = 0; attempt < 5; attempt++)
            {
                // A code is accepted once per step: wait for a step not used yet.
                var step = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / _options.TotpStep;
                while (step <= _lastStep)
                {
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                    step = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / _options.TotpStep;
                }

                _lastStep = step;
                var code = _totp.ComputeTotp(DateTimeOffset.FromUnixTimeSeconds(step * _options.TotpStep).UtcDateTime);
                using var response = await _http.PutAsync($"/?uuid={_options.Uuid}&response={code}", null, cancellationToken).ConfigureAwait(false);
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
                if (response.StatusCode == HttpStatusCode.OK && json.RootElement.TryGetProperty("result", out var result))
                {
                    var cookie = result.GetProperty("cookie").GetString()!;
                    return (cookie[1..], result.TryGetProperty("pool", out var pool) ? pool.GetInt32() : null);
                }
            }

            throw new IOException($"registering {_options.Uuid} failed five times");
        }

        public void Dispose() => _http.Dispose();
    }
}
