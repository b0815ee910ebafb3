using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using OtpNet;
using Rendezvous.Benchmarks.LoadGen;
using Rendezvous.Benchmarks.Scenarios;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary>
/// The soak of eng/soak.sh in short, in-process against the real <c>serve</c>: sessions of random sizes each way,
/// every byte checked and SHA-256 compared, half-close; one side of some sessions killed (RST) mid-stream; the
/// server stopped by SIGTERM mid-run and started again on the same ports.
/// </summary>
public sealed partial class ServeCommandTests
{
    // Every session comes from 127.0.0.1 for one UUID, so the per-address caps are raised (as eng/soak.sh does);
    // no drain time, so the SIGTERM cuts the sessions that are under way.
    private static readonly Dictionary<string, string> SoakSettings = new()
    {
        ["Rendezvous__DrainTimeout"] = "00:00:00",
        ["Rendezvous__Relay__ParkedConnectionsPerCookie"] = "1024",
        ["Rendezvous__Relay__InitiatorGracePeriod"] = "00:00:30",
        ["Rendezvous__Relay__MaxHandshakesPerAddress"] = "1024",
        ["Rendezvous__Relay__MaxSessionsPerAddressPerUuid"] = "100000",
    };

    [Test]
    [Platform(Include = "Linux")]
    [SupportedOSPlatform("linux")]
    public async Task Soak_loses_and_corrupts_nothing_through_killed_sides_and_a_sigterm_restart()
    {
        var relay = new IPEndPoint(IPAddress.Loopback, FreeLoopbackPort());
        string[] args = ["serve", "--data-dir", _directory.Path, "--registrar-url", $"https://127.0.0.1:{FreeLoopbackPort()}",
            "--rendezvous-endpoint", relay.ToString(), "--admin-url", "http://127.0.0.1:0"];
        var started = await WaitForStartAsync(RendezvousProcess.Start(_directory.Path, SoakSettings, args));
        var options = new LoadOptions
        {
            Scenario = "soak",
            Target = "relay",
            Relay = relay,
            Cookie = await RegisterNewUserAsync(started),
            ServerPid = _serve!.Id,
            Sessions = 240,
            Concurrency = 8,
            MaxSize = 2 * 1024 * 1024,
            Seconds = 20,
            Faults = SoakFaults.All,
            KillShare = 0.1,
            SettleSeconds = 0.5,
            Timeout = TimeSpan.FromSeconds(120),
        };

        var result = await LoadGenerator.RunAsync(options, async _ =>
        {
            using (var stopped = _serve!)
            {
                await stopped.TerminateAsync();
                Assert.That(await stopped.WaitForExitAsync(DrainTime), Is.Zero, stopped.Error);
            }

            // A restart forgets registrations: the hidden server registers again (a new user: codes are single-use).
            var again = await WaitForStartAsync(RendezvousProcess.Start(_directory.Path, SoakSettings, args));
            return new RestartedServer(_serve!.Id, relay, await RegisterNewUserAsync(again));
        });

        await TestContext.Out.WriteLineAsync(result.ToJson());
        await TestContext.Out.WriteAsync(Soak.Describe(result));
        Assert.Multiple(() =>
        {
            Assert.That(result.Get("lost"), Is.Zero, result.FirstError);
            Assert.That(result.Get("corrupted"), Is.Zero, result.FirstError);
            Assert.That(result.Get("notOpened"), Is.Zero, result.FirstError);
            Assert.That(result.Get("restarts"), Is.EqualTo(1));
            Assert.That((long)result.Get("killed")!, Is.Positive);
            Assert.That((long)result.Get("endedByFault")!, Is.GreaterThanOrEqualTo((long)result.Get("killed")!));
            Assert.That((long)result.Get("okAfterRestart")!, Is.Positive, "sessions after the restart succeed");
            Assert.That((long)result.Get("ok")! + (long)result.Get("endedByFault")!, Is.EqualTo((long)result.Get("sessions")!));
            Assert.That(result.Get("fdsPeak"), Is.Not.Null);
            Assert.That(result.Get("rssPeakKiB"), Is.Not.Null);
            Assert.That(_serve!.HasExited, Is.False);
        });
    }

    /// <summary>Adds a user to the data directory (as <c>users add</c> does) and registers it with a TOTP code; returns its R cookie.</summary>
    private async Task<string> RegisterNewUserAsync(Started started)
    {
        var entry = new SecretEntry(Guid.NewGuid().ToString("D"), SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, DateTimeOffset.UtcNow);
        await SqliteSecretStore.ForDataDirectory(_directory.Path).AddAsync(entry).WaitAsync(TestTimeouts.Short);
        var registered = await LoadGenerator.RunAsync(new LoadOptions
        {
            Scenario = "register",
            RegistrarUrl = started.RegistrarUrl,
            Pin = started.Fingerprint,
            Uuid = entry.Uuid,
            Secret = Base32Encoding.ToString(entry.Secret),
            Timeout = TestTimeouts.Long,
        });
        return (string)registered.Get("cookie")!;
    }

    /// <summary>
    /// A free port below the ephemeral range (32768 and up), so that no outgoing connection of another test takes it
    /// while the server is down for its restart.
    /// </summary>
    private static int FreeLoopbackPort()
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
            }
        }

        Assert.Fail("no free port between 20000 and 32000 after 100 tries");
        return 0;
    }
}
