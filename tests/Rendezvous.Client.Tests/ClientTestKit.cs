using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Time.Testing;
using Moq;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol.Policy;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests;

/// <summary>A hidden server's identity, provisioned on a test server.</summary>
internal sealed record HiddenServerIdentity(string Uuid, byte[] Secret)
{
    public string Base32Secret => Base32Encoding.ToString(Secret);
}

/// <summary>Shared steps of the client tests: provisioning, options, an echo handler, bounded waits.</summary>
internal static class ClientTestKit
{
    /// <summary>Adds a fresh UUID and secret to the server's TOTP store.</summary>
    public static Task<HiddenServerIdentity> ProvisionAsync(RendezvousTestServer server, DateTimeOffset? now = null) =>
        ProvisionAsync(server, new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20)), now);

    /// <summary>Adds <paramref name="identity"/> (30 s step, 6 digits) to the server's TOTP store.</summary>
    public static async Task<HiddenServerIdentity> ProvisionAsync(RendezvousTestServer server, HiddenServerIdentity identity, DateTimeOffset? now = null)
    {
        await SqliteSecretStore.ForDataDirectory(server.DataDirectory)
            .AddAsync(new SecretEntry(identity.Uuid, identity.Secret, 30, 6, now ?? DateTimeOffset.UtcNow))
            .WaitAsync(TestTimeouts.Short);
        return identity;
    }

    /// <summary>Registers a fresh UUID (the server's policy must accept any code) and returns it with its <c>R</c> cookie line.</summary>
    public static async Task<(string Uuid, string Line)> RegisterAsync(RendezvousTestServer server)
    {
        using var registrar = new Rendezvous.Client.Registrar.RegistrarClient(server.RegistrarUrl, Pinned(server));
        var uuid = Guid.NewGuid().ToString();
        var triple = await registrar.RegisterAsync(uuid, "123456").WaitAsync(TestTimeouts.Short);
        return (uuid, triple.Cookie);
    }

    /// <summary>A registrar trust that pins the server's certificate by fingerprint.</summary>
    public static RegistrarTrust Pinned(RendezvousTestServer server) => new() { PinnedFingerprint = server.CertificateFingerprint };

    /// <summary>Agent options for the server and identity, with short backoffs for tests.</summary>
    public static HiddenServerAgentOptions AgentOptions(RendezvousTestServer server, HiddenServerIdentity identity, int poolSize = 1) => new()
    {
        RegistrarUrl = server.RegistrarUrl,
        Trust = Pinned(server),
        Uuid = identity.Uuid,
        Secret = identity.Base32Secret,
        PoolSize = poolSize,
        InitialBackoff = TimeSpan.FromMilliseconds(50),
        MaxBackoff = TimeSpan.FromMilliseconds(500),
    };

    /// <summary>Connector options for the server, pinned.</summary>
    public static RendezvousConnectorOptions ConnectorOptions(RendezvousTestServer server) => new()
    {
        RegistrarUrl = server.RegistrarUrl,
        Trust = Pinned(server),
    };

    /// <summary>A policy that accepts every registration.</summary>
    public static Mock<IRegistrationPolicy> AcceptingPolicy()
    {
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(ValueTask.FromResult(RegistrationDecision.Accept()));
        return policy;
    }

    /// <summary>Echoes every byte until the peer ends sending, then ends sending too.</summary>
    public static async Task EchoAsync(RendezvousSession session, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await session.Stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await session.Stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }

        await session.CompleteSendingAsync();
    }

    /// <summary>Connects, sends <paramref name="data"/>, half-closes and returns everything the hidden server sent back.</summary>
    public static async Task<byte[]> RoundTripAsync(RendezvousConnector connector, string uuid, byte[] data)
    {
        await using var session = await connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short);
        return await RoundTripAsync(session, data);
    }

    /// <summary>Sends <paramref name="data"/> (concurrently with reading), half-closes and reads to the end.</summary>
    public static async Task<byte[]> RoundTripAsync(RendezvousSession session, byte[] data)
    {
        var reading = ReadToEndAsync(session.Stream);
        await session.Stream.WriteAsync(data).AsTask().WaitAsync(TestTimeouts.Long);
        await session.CompleteSendingAsync().AsTask().WaitAsync(TestTimeouts.Short);
        return await reading.WaitAsync(TestTimeouts.Long);
    }

    /// <summary>Reads a stream to its end.</summary>
    public static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var all = new MemoryStream();
        using var cts = new CancellationTokenSource(TestTimeouts.Long);
        await stream.CopyToAsync(all, cts.Token);
        return all.ToArray();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(TestTimeouts.Short);
        return buffer;
    }

    /// <summary>Random bytes covering every byte value.</summary>
    public static byte[] Binary(int length)
    {
        var bytes = RandomNumberGenerator.GetBytes(length);
        for (var i = 0; i < Math.Min(256, length); i++)
        {
            bytes[i] = (byte)i;
        }

        return bytes;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestTimeouts.Short);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>
    /// Moves a fake clock forward until <paramref name="condition"/> holds; fails the test when it still
    /// does not after <paramref name="limit"/> of fake time. When <paramref name="waitingUntil"/> names a
    /// moment ahead (e.g. <see cref="HiddenServerStatus.NextAttempt"/>), the clock jumps there; otherwise
    /// it moves in 10 ms ticks with a few real milliseconds between them, so that work done in real time
    /// (a TLS handshake) adds little fake time to what is measured.
    /// </summary>
    public static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, TimeSpan limit, string what, Func<DateTimeOffset?>? waitingUntil = null)
    {
        var end = time.GetUtcNow() + limit;
        var deadline = DateTime.UtcNow + TestTimeouts.Long;
        while (!condition())
        {
            var now = time.GetUtcNow();
            if (now >= end || DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what} ({limit} of fake time).");
            }

            if (waitingUntil?.Invoke() is { } until && until > now && until <= end)
            {
                time.SetUtcNow(until);
            }
            else
            {
                time.Advance(TimeSpan.FromMilliseconds(10));
            }

            await Task.Delay(5);
        }
    }

    /// <summary>
    /// How many TCP connections from this machine to <paramref name="port"/> are established or being established, as
    /// the kernel lists them (<c>/proc/net/tcp</c> and <c>tcp6</c>): a connection shows there once <c>connect</c> was
    /// called, before the listener accepted it. A connection the far side closed that this side has yet to close
    /// (CLOSE_WAIT) still counts: its owner has not noticed the close yet. Connections this side closed do not count.
    /// </summary>
    /// <param name="port">The remote port, e.g. the relay's.</param>
    public static int OpenConnectionsTo(int port)
    {
        const string Established = "01", SynSent = "02", CloseWait = "08";
        var count = 0;
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }

            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // "sl local_address rem_address st ...": addresses are HEXADDRESS:HEXPORT.
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 3 && fields[3] is Established or SynSent or CloseWait
                    && int.Parse(fields[2].AsSpan(fields[2].IndexOf(':') + 1), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) == port)
                {
                    count++;
                }
            }
        }

        return count;
    }

    /// <summary>A TCP port that was free a moment ago on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A session handler that echoes (<see cref="ClientTestKit.EchoAsync"/>), for the DI registrations.</summary>
internal sealed class EchoHandler : IRendezvousSessionHandler
{
    public Task HandleAsync(RendezvousSession session, CancellationToken cancellationToken) => ClientTestKit.EchoAsync(session, cancellationToken);
}

/// <summary>An agent running in the background; disposing stops it and waits for it, bounded.</summary>
internal sealed class RunningAgent : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public RunningAgent(HiddenServerAgent agent)
    {
        Agent = agent;
        Run = Task.Run(() => agent.RunAsync(_stop.Token));
    }

    public HiddenServerAgent Agent { get; }

    public Task<HiddenServerStopReason> Run { get; }

    public static RunningAgent Start(HiddenServerAgentOptions options, Func<RendezvousSession, CancellationToken, Task>? handler = null, TimeProvider? time = null, LogCapture? logs = null) =>
        new(new HiddenServerAgent(options, handler ?? ClientTestKit.EchoAsync, time, logs?.CreateLogger<HiddenServerAgent>()));

    public Task WaitParkedAsync(int count = 1) =>
        ClientTestKit.WaitUntilAsync(() => Agent.Status.Parked >= count, $"the agent has {count} parked");

    /// <summary>
    /// Waits until the agent, running on the fake clock <paramref name="time"/>, is quiet: <paramref name="parked"/>
    /// connections parked at the agent and at the relay, each waiting on its re-park timer, the ownership check armed,
    /// no session running and no backoff pending. A pending backoff is fired by moving the clock to its due moment
    /// (at most 30 s of fake time in all), so an agent that keeps re-parking never gets quiet and fails the test.
    /// When <paramref name="everyParkAccountedFor"/>, a park that ended must have been followed by a session or by its
    /// backoff (re-park timers armed = parked + sessions + backoffs armed), so a park that just ended and has yet to
    /// arm its backoff is not taken for quiet; leave it off when registrations failed or a relay went away meanwhile.
    /// A fired backoff runs the agent's slot on this thread up to its next connection attempt, whose TCP connection
    /// to the loopback relay exists as soon as it is attempted: quiet also needs exactly <paramref name="parked"/>
    /// connections open (established or being established) to the relay's port, so a slot that re-parks instead of
    /// retiring is seen at once, before the relay has read its line.
    /// </summary>
    public async Task WaitQuietAsync(TimerWatchingTimeProvider time, HiddenServerAgentOptions options, int parked, Func<RendezvousTestServer> server, bool everyParkAccountedFor = true)
    {
        var fakeEnd = time.GetUtcNow() + TimeSpan.FromSeconds(30);
        var deadline = DateTime.UtcNow + TestTimeouts.Long;
        while (true)
        {
            // The relay's side and the sockets first: a park that ends after these reads changes the timers or the
            // status read below, so a moment that only looks quiet is not taken for one.
            var relay = server().Broker.ParkedCount;
            var open = ClientTestKit.OpenConnectionsTo(server().RelayEndPoint.Port);
            var timers = AgentTimers(time, options);
            if (timers.Backoffs.Where(t => t.Pending).MinBy(t => t.Due) is { Due: { } due })
            {
                if (due > fakeEnd)
                {
                    Assert.Fail($"The agent still backs off after 30 s of fake time (a backoff due at {due:O}): it keeps re-parking.");
                }

                time.SetUtcNow(due > time.GetUtcNow() ? due : time.GetUtcNow());
                continue;
            }

            var status = Agent.Status;
            var reparks = timers.Reparks.Count(t => t.Pending);
            var checks = timers.OwnershipChecks.Count(t => t.Pending);
            var accounted = !everyParkAccountedFor || timers.Reparks.Count == parked + status.TotalSessions + timers.Backoffs.Count;
            if (status.Parked == parked && relay == parked && open == parked && reparks == parked && checks == 1 && status.ActiveSessions == 0 && accounted)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(
                    $"The agent did not get quiet with {parked} parked: parked {status.Parked} at the agent and {relay} at the relay, {open} connection(s) open to the relay, {reparks} re-park timer(s) and "
                    + $"{checks} ownership check(s) armed, {status.ActiveSessions} session(s) running; {timers.Reparks.Count} parks, {status.TotalSessions} sessions, {timers.Backoffs.Count} backoffs in all.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>
    /// Proves the quiet agent (see <see cref="WaitQuietAsync"/>) stays so: moves the fake clock to its next ownership
    /// check (a minute ahead, before any re-park) and waits for that check to arm the next one, a lookup at the
    /// registrar later than anything the agent was about to do when it looked quiet; then checks that it is still quiet
    /// with the same <paramref name="parked"/>, that it armed no timer but the next check (no park ended, no backoff)
    /// and that its status did not change.
    /// </summary>
    /// <returns>How much fake time passed.</returns>
    public async Task<TimeSpan> HoldsStillAsync(TimerWatchingTimeProvider time, HiddenServerAgentOptions options, int parked, Func<RendezvousTestServer> server)
    {
        var changes = new List<HiddenServerStatus>();
        void Changed(object? sender, HiddenServerStatus status)
        {
            lock (changes)
            {
                changes.Add(status);
            }
        }

        Agent.StatusChanged += Changed;
        try
        {
            var before = AgentTimers(time, options);
            var start = time.GetUtcNow();
            var check = before.OwnershipChecks.Single(t => t.Pending).Due!.Value;
            var repark = before.Reparks.Where(t => t.Pending).Min(t => t.Due!.Value);
            Assert.That(check, Is.LessThan(repark), "the agent's next timer is its ownership check");
            time.SetUtcNow(check);
            await time.WaitForTimerDueAtAsync(check + options.OwnershipCheckInterval, "the ownership check to arm the next one");
            await WaitQuietAsync(time, options, parked, server, everyParkAccountedFor: false);
            var after = AgentTimers(time, options);

            Assert.Multiple(() =>
            {
                Assert.That(after.Reparks, Has.Count.EqualTo(before.Reparks.Count), "a park ended and another began");
                Assert.That(after.Backoffs, Has.Count.EqualTo(before.Backoffs.Count), "the agent backed off");
                Assert.That(after.OwnershipChecks, Has.Count.EqualTo(before.OwnershipChecks.Count + 1), "the agent armed one ownership check after the other");
                lock (changes)
                {
                    Assert.That(changes, Is.Empty, "the agent's status changed: a parked connection came or went");
                }
            });
            return time.GetUtcNow() - start;
        }
        finally
        {
            Agent.StatusChanged -= Changed;
        }
    }

    /// <summary>The agent's timers on <paramref name="time"/>, told apart by their length: re-parks, ownership checks, backoffs.</summary>
    private static (List<TimerWatchingTimeProvider.WatchedTimer> Reparks, List<TimerWatchingTimeProvider.WatchedTimer> OwnershipChecks, List<TimerWatchingTimeProvider.WatchedTimer> Backoffs) AgentTimers(
        TimerWatchingTimeProvider time, HiddenServerAgentOptions options)
    {
        var timers = time.Timers;
        return (
            [.. timers.Where(t => t.Length == options.ReparkInterval)],
            [.. timers.Where(t => t.Length == options.OwnershipCheckInterval)],
            [.. timers.Where(t => t.Length <= options.MaxBackoff)]);
    }

    public async Task<HiddenServerStopReason> StopAsync()
    {
        await _stop.CancelAsync();
        return await Run.WaitAsync(TestTimeouts.Short);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Run.WaitAsync(TestTimeouts.Short);
        }
        catch (Exception ex) when (ex is RendezvousException or OperationCanceledException)
        {
        }
        finally
        {
            Agent.Dispose();
            _stop.Dispose();
        }
    }
}
