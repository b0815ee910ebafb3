using System.Net;
using Rendezvous.Server.Admin;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary><c>/healthz</c> and <c>/metrics</c>: no sign-in needed, real listeners, real relay traffic.</summary>
public sealed class AdminHealthAndMetricsTests
{
    [Test]
    public async Task Healthz_answers_200_while_the_relay_and_registrar_serve()
    {
        await using var server = await AdminServer.StartAsync();
        using var client = server.CreateClient();

        var reply = await client.GetAsync("/healthz");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.Body, Does.StartWith("Healthy: relay on port " + server.RelayEndPoint.Port));
        });
    }

    [Test]
    public async Task Healthz_answers_503_while_live_sessions_drain_on_shutdown()
    {
        await using var server = await AdminServer.StartAsync(new Dictionary<string, string?> { ["Rendezvous:DrainTimeout"] = "00:00:20" });
        using var client = server.CreateClient();
        var entry = await server.AddEntryAsync();
        var (responderLine, initiatorLine) = await server.RegisterAsync(entry);
        using var responder = await LoopbackClient.ConnectWithLineAsync(server.RelayEndPoint, responderLine);
        using var initiator = await LoopbackClient.ConnectWithLineAsync(server.RelayEndPoint, initiatorLine);
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));

        // The live session keeps the relay draining, and the admin listener up, until the session ends.
        var stopping = server.StopAsync();
        AdminReply reply;
        using (var deadline = new CancellationTokenSource(TestTimeouts.Short))
        {
            do
            {
                reply = await client.GetAsync("/healthz");
            }
            while (reply.Status == HttpStatusCode.OK && !deadline.IsCancellationRequested);
        }

        initiator.Dispose();
        responder.Dispose();
        await stopping;
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(reply.Body, Does.StartWith("Unhealthy: shutting down"));
        });
    }

    [Test]
    public async Task Metrics_after_a_registration_and_a_session_count_them_in_prometheus_text()
    {
        await using var server = await AdminServer.StartAsync();
        using var client = server.CreateClient();
        var entry = await server.AddEntryAsync();
        var (responderLine, initiatorLine) = await server.RegisterAsync(entry);

        // 4096 bytes each way, then both ends close.
        await RelayRoundTrip.AssertPairsAndSplicesAsync(server.RelayEndPoint, responderLine, initiatorLine);
        await WaitUntilAsync(() => server.Broker.Activity.Get(entry.Uuid) is { Sessions: 1, LiveSessions: 0 });

        var reply = await client.GetAsync("/metrics");
        var samples = PrometheusText.Parse(reply.Body);
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.Header("Content-Type"), Does.StartWith("text/plain"));
            Assert.That(samples.Sum("rendezvous_registrations_total", ("outcome", "accepted")), Is.EqualTo(1), reply.Body);
            Assert.That(samples.Sum("rendezvous_lookups_total", ("outcome", "found")), Is.EqualTo(1), reply.Body);
            Assert.That(samples.Sum("rendezvous_security_verifications_total", ("outcome", "accepted")), Is.EqualTo(1), reply.Body);
            Assert.That(samples.Sum("rendezvous_sessions_total"), Is.EqualTo(1), reply.Body);
            Assert.That(samples.Sum("rendezvous_sessions_active"), Is.Zero, reply.Body);
            Assert.That(samples.Sum("rendezvous_parked"), Is.Zero, reply.Body);
            Assert.That(samples.Sum("rendezvous_bytes_relayed_bytes_total"), Is.EqualTo(2 * 4096), reply.Body);
            Assert.That(samples.Sum("rendezvous_sessions_total", ("end", "completed")), Is.EqualTo(1), reply.Body);
            Assert.That(samples.Has("dotnet_gc_heap_total_allocated_bytes_total"), Is.True, "runtime metrics");

            // The types docs/operations.md lists.
            Assert.That(reply.Body, Does.Contain("# TYPE rendezvous_parked gauge"));
            Assert.That(reply.Body, Does.Contain("# TYPE rendezvous_sessions_active gauge"));
            Assert.That(reply.Body, Does.Contain("# TYPE rendezvous_sessions_total counter"));
            Assert.That(reply.Body, Does.Contain("# TYPE rendezvous_bytes_relayed_bytes_total counter"));
        });
    }

    [Test]
    public async Task Metrics_count_refused_registrations_and_handshakes_by_reason()
    {
        await using var server = await AdminServer.StartAsync();
        using var client = server.CreateClient();
        using (var registrar = RegistrarClient.CreatePinned(server.RegistrarUrl, server.Fingerprint))
        {
            await registrar.RegisterAsync(Guid.NewGuid().ToString("D"), "123456");
        }

        using (var stranger = await LoopbackClient.ConnectWithLineAsync(server.RelayEndPoint, "Rnot-a-cookie"))
        {
            Assert.That(await stranger.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        }

        var samples = PrometheusText.Parse((await client.GetAsync("/metrics")).Body);
        Assert.Multiple(() =>
        {
            Assert.That(samples.Sum("rendezvous_registrations_total", ("outcome", "rejected")), Is.EqualTo(1));
            Assert.That(samples.Sum("rendezvous_security_verifications_total", ("outcome", "rejected")), Is.EqualTo(1));
            Assert.That(samples.Sum("rendezvous_handshake_failures_total", ("reason", "not_registered")), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task An_admin_url_of_none_turns_the_listener_and_the_metrics_off()
    {
        await using var server = await AdminServer.StartAsync(new Dictionary<string, string?> { ["Rendezvous:Admin:Url"] = "none" });

        Assert.Multiple(() =>
        {
            Assert.That(server.Services.GetService(typeof(AdminListenerInfo)), Is.InstanceOf<AdminListenerInfo>().With.Property(nameof(AdminListenerInfo.Url)).Null);
            Assert.That(server.Services.GetService(typeof(OpenTelemetry.Metrics.MeterProvider)), Is.Null);
            Assert.That(File.Exists(Path.Combine(server.DataDirectory, AdminOptions.TokenFileName)), Is.False);
        });
    }

    /// <summary>Waits, bounded, for state the relay updates on its own threads after a peer goes away.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(TestTimeouts.Short);
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }
}
