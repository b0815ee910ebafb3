using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;
using Rendezvous.Benchmarks.LoadGen;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Benchmarks;

/// <summary>
/// Runs the load generator's scenarios in-process, for about a second each, against a real server with
/// the TOTP policy: the generator registers with a code computed from the secret, plays both sides, and
/// checks every byte it receives. No haproxy needed; eng/bench.sh runs the real comparison.
/// </summary>
[NonParallelizable]
public sealed class BenchmarkSmokeTests
{
    private RendezvousTestServer _server = null!;
    private string _cookie = null!;

    [OneTimeSetUp]
    public async Task StartServerAndRegisterAsync()
    {
        _server = await RendezvousTestServer.StartAsync(
            b => b.AddTotpSecurity(),
            new Dictionary<string, string?>
            {
                ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "64",
                ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:10",

                // As eng/bench.sh: every session comes from 127.0.0.1 for one UUID.
                ["Rendezvous:Relay:MaxSessionsPerAddressPerUuid"] = "100000",
            });
        var entry = new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, DateTimeOffset.UtcNow);
        await SqliteSecretStore.ForDataDirectory(_server.DataDirectory).AddAsync(entry).WaitAsync(TestTimeouts.Short);

        var registration = await LoadGenerator.RunAsync(new LoadOptions
        {
            Scenario = "register",
            RegistrarUrl = _server.RegistrarUrl,
            Pin = _server.CertificateFingerprint,
            Uuid = entry.Uuid,
            Secret = Base32Encoding.ToString(entry.Secret),
            Timeout = TestTimeouts.Long,
        });
        _cookie = (string)registration.Get("cookie")!;
        Assert.That(_cookie, Does.StartWith("R"));
    }

    [OneTimeTearDown]
    public async Task StopServerAsync() => await _server.DisposeAsync();

    private LoadOptions Relay(string scenario) => new()
    {
        Scenario = scenario,
        Target = "relay",
        Cookie = _cookie,
        Relay = _server.RelayEndPoint,
        ServerPid = Environment.ProcessId,
        Timeout = TestTimeouts.Long,
    };

    private static void AssertClean(ScenarioResult result)
    {
        TestContext.Out.WriteLine(result.ToJson());
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Zero, result.FirstError);
            Assert.That(result.Operations, Is.Positive);
            Assert.That(result.BytesVerified, Is.Positive);
        });
    }

    [Test]
    public async Task Throughput_relays_verified_streams_both_ways()
    {
        var options = Relay("throughput");
        options.Pairs = 2;
        options.Seconds = 1;
        var result = await LoadGenerator.RunAsync(options);
        AssertClean(result);
        Assert.That(result.Get("serverCpuSecondsPerGB"), Is.Not.Null);
    }

    [Test]
    public async Task Latency_round_trips_are_echoed_and_checked()
    {
        var options = Relay("latency");
        options.Size = 1024;
        options.Count = 300;
        var result = await LoadGenerator.RunAsync(options);
        AssertClean(result);
        Assert.That(result.Operations, Is.EqualTo(300));
        Assert.That((double)result.Get("medianMicroseconds")!, Is.Positive);
    }

    [Test]
    public async Task Rate_completes_rendezvous_and_re_parks()
    {
        var options = Relay("rate");
        options.Seconds = 1;
        options.Concurrency = 4;
        var result = await LoadGenerator.RunAsync(options);
        AssertClean(result);
    }

    [Test]
    public async Task Idle_sessions_still_pass_data_and_close()
    {
        var options = Relay("idle");
        options.Sessions = 50;
        options.SettleSeconds = 0;
        var result = await LoadGenerator.RunAsync(options);
        AssertClean(result);
        Assert.That(result.Operations, Is.EqualTo(50));
    }

    [Test]
    public async Task Parked_responders_stay_parked_and_a_sample_pairs()
    {
        var options = Relay("parked");
        options.Sessions = 60;
        options.CheckCount = 10;
        options.SettleSeconds = 0.2;
        var result = await LoadGenerator.RunAsync(options);
        AssertClean(result);
        Assert.Multiple(() =>
        {
            Assert.That(result.Get("parked"), Is.EqualTo(60));
            Assert.That(result.Get("closedWhileParked"), Is.EqualTo(0));
            Assert.That(result.Operations, Is.EqualTo(10));
        });
    }

    [Test]
    public async Task Direct_target_runs_the_same_scenario_without_a_proxy()
    {
        var result = await LoadGenerator.RunAsync(new LoadOptions { Scenario = "throughput", Target = "direct", Seconds = 0.5, Timeout = TestTimeouts.Long });
        AssertClean(result);
    }

    private LoadOptions Soak(IPEndPoint relay) => new()
    {
        Scenario = "soak",
        Target = "relay",
        Cookie = _cookie,
        Relay = relay,
        ServerPid = Environment.ProcessId,
        Sessions = 60,
        Concurrency = 6,
        MaxSize = 256 * 1024,
        Seed = 11,
        SettleSeconds = 0,
        Timeout = TestTimeouts.Long,
    };

    private static long Count(ScenarioResult result, string key) => (long)result.Get(key)!;

    [Test]
    public async Task Soak_counts_killed_sessions_as_ended_by_fault_and_the_rest_ok()
    {
        var options = Soak(_server.RelayEndPoint);
        options.Faults = SoakFaults.Kill;
        options.KillShare = 0.25;

        var result = await LoadGenerator.RunAsync(options);

        AssertClean(result);
        Assert.Multiple(() =>
        {
            Assert.That(Count(result, "killed"), Is.Positive);
            Assert.That(Count(result, "endedByFault"), Is.EqualTo(Count(result, "killed")));
            Assert.That(Count(result, "ok"), Is.EqualTo(60 - Count(result, "killed")));
            Assert.That(Count(result, "bytesUpReceived") + Count(result, "bytesDownReceived"), Is.EqualTo(result.BytesVerified));
            Assert.That(result.Get("fdsPeak"), Is.Not.Null);
        });
    }

    [Test]
    public async Task Soak_reports_a_changed_byte_as_corrupted_and_never_as_ok()
    {
        // Past the handshake line and the session id, so only payloads are changed.
        await using var proxy = new CapturingTcpProxy(_server.RelayEndPoint)
        {
            TamperClientToServer = (offset, bytes) =>
            {
                if (offset <= 1000 && offset + bytes.Length > 1000)
                {
                    bytes.Span[(int)(1000 - offset)] ^= 0x20;
                }

                return bytes.Length;
            },
        };

        var result = await LoadGenerator.RunAsync(Soak(proxy.EndPoint));

        TestContext.Out.WriteLine(result.ToJson());
        Assert.Multiple(() =>
        {
            Assert.That(Count(result, "corrupted"), Is.Positive);
            Assert.That(Count(result, "lost"), Is.Zero);
            Assert.That(Count(result, "ok") + Count(result, "corrupted"), Is.EqualTo(60));
            Assert.That(result.Errors, Is.EqualTo(Count(result, "corrupted")));
            Assert.That(result.FirstError, Does.Contain("is 0x"));
        });
    }

    [Test]
    public async Task Soak_reports_a_cut_tail_without_a_fault_as_lost()
    {
        // Ends each connection's sending direction 1,000 bytes in, with a clean end of stream: nothing wrong arrives, some never does.
        await using var proxy = new CapturingTcpProxy(_server.RelayEndPoint)
        {
            TamperClientToServer = (offset, bytes) => (int)Math.Clamp(1000 - offset, 0, bytes.Length),
        };

        var result = await LoadGenerator.RunAsync(Soak(proxy.EndPoint));

        TestContext.Out.WriteLine(result.ToJson());
        Assert.Multiple(() =>
        {
            Assert.That(Count(result, "lost"), Is.Positive);
            Assert.That(Count(result, "corrupted"), Is.Zero);
            Assert.That(Count(result, "ok") + Count(result, "lost"), Is.EqualTo(60));
            Assert.That(result.FirstError, Does.Contain("B arrived, then the end of stream"));
        });
    }

    [Test]
    public void Verification_fails_loudly_on_a_changed_byte()
    {
        var sender = new PatternStream(42);
        var received = sender.Peek(4096).ToArray();
        received[1234] ^= 0x01;
        var receiver = new PatternStream(42);
        var error = Assert.Throws<DataMismatchException>(() => receiver.Verify(received));
        Assert.That(error!.Message, Does.Contain("byte 1234"));
    }

    [Test]
    public async Task Pool_follows_the_advice_of_each_registration_and_counts_what_clients_met()
    {
        // A 1 s TOTP step, as eng/bench.sh's pool entries: the scenario registers every few seconds.
        var entry = new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), 1, SecretFormat.DefaultDigits, DateTimeOffset.UtcNow);
        await SqliteSecretStore.ForDataDirectory(_server.DataDirectory).AddAsync(entry).WaitAsync(TestTimeouts.Short);

        var result = await LoadGenerator.RunAsync(new LoadOptions
        {
            Scenario = "pool",
            RegistrarUrl = _server.RegistrarUrl,
            Pin = _server.CertificateFingerprint,
            Uuid = entry.Uuid,
            Secret = Base32Encoding.ToString(entry.Secret),
            TotpStep = 1,
            Relay = _server.RelayEndPoint,
            PoolPolicy = "advice",
            Burst = 4,
            BurstIntervalSeconds = 2,
            ReparkDelayMilliseconds = 100,
            ReregisterSeconds = 2,
            Seconds = 6,
            Timeout = TestTimeouts.Long,
        });

        AssertClean(result);
        Assert.Multiple(() =>
        {
            Assert.That(result.Get("paired"), Is.EqualTo(result.Get("clients")), "the 10 s grace period covers every wait, and a client told not registered looks up again");
            Assert.That(Convert.ToInt64(result.Get("registrations"), System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(2));
            Assert.That(Convert.ToInt32(result.Get("adviceMax"), System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(4), "a burst of 4 raises the advice to at least 4");
        });
    }
}
