using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Limits;

/// <summary>
/// Memory goes back after a flood (issue 11, point 9): the server counts closed relay and registrar connections and,
/// past Rendezvous:TrimMemoryAfterConnections, runs a trim (a full compacting collection and malloc_trim) on its own,
/// since nothing else makes the garbage collector run in a server that went quiet. Driven by a fake clock.
/// </summary>
public sealed class MemoryTrimTests : ServerTestBase
{
    private int _trims;

    [Test]
    public async Task Closed_connections_past_the_setting_trigger_one_trim_and_trims_keep_their_spacing()
    {
        var time = await StartAsync(trimAfter: 3);
        var trimmer = Trimmer;

        await OpenAndCloseRelayConnectionsAsync(2);
        time.Advance(MemoryTrimmer.CheckInterval);
        Assert.That(_trims, Is.Zero, "two closed connections are fewer than the setting");

        await OpenAndCloseRelayConnectionsAsync(1);
        time.Advance(MemoryTrimmer.CheckInterval);
        Assert.That(_trims, Is.Zero, "connections closed in the last interval: the flood may go on");
        time.Advance(MemoryTrimmer.CheckInterval);
        Assert.That(_trims, Is.EqualTo(1), "a quiet interval after it");
        Assert.That(trimmer.Trims, Is.EqualTo(1));

        // Another flood right after: counted, but trimmed only once the spacing has passed.
        await OpenAndCloseRelayConnectionsAsync(3);
        time.Advance(MemoryTrimmer.CheckInterval);
        time.Advance(MemoryTrimmer.CheckInterval);
        Assert.That(_trims, Is.EqualTo(1));
        time.Advance(MemoryTrimmer.MinimumSpacing - (2 * MemoryTrimmer.CheckInterval));
        Assert.That(_trims, Is.EqualTo(2));

        // Nothing closed since: no more trims however long it stays quiet.
        time.Advance(MemoryTrimmer.MinimumSpacing * 3);
        Assert.That(_trims, Is.EqualTo(2));
    }

    [Test]
    public async Task Steady_churn_never_trims_and_the_first_quiet_interval_after_it_does()
    {
        var time = await StartAsync(trimAfter: 10);

        // More than one in ten of the setting closing in every interval, for four minutes: the server is busy.
        for (var interval = 0; interval < 48; interval++)
        {
            await OpenAndCloseRelayConnectionsAsync(2);
            time.Advance(MemoryTrimmer.CheckInterval);
        }

        Assert.That(_trims, Is.Zero);
        await OpenAndCloseRelayConnectionsAsync(1);
        time.Advance(MemoryTrimmer.CheckInterval);
        Assert.That(_trims, Is.EqualTo(1), "one closed in an interval is quiet for a setting of 10");
    }

    [Test]
    public async Task Registrar_connections_are_counted_when_they_close()
    {
        await StartAsync(trimAfter: 1000);
        var closedBefore = Trimmer.ConnectionsClosed;

        using (var client = Server.CreateRegistrarClient())
        {
            using var response = await client.GetAsync(new Uri(Server.RegistrarUrl, "/healthz")).WaitAsync(TestTimeouts.Short);
        }

        await WaitUntilAsync(() => Trimmer.ConnectionsClosed == closedBefore + 1);
    }

    [Test]
    public async Task Zero_never_trims()
    {
        var time = await StartAsync(trimAfter: 0);

        await OpenAndCloseRelayConnectionsAsync(3);
        time.Advance(MemoryTrimmer.MinimumSpacing * 2);

        Assert.That(_trims, Is.Zero);
    }

    [Test]
    public void A_negative_setting_is_refused_naming_the_key_and_the_range()
    {
        var result = new ServerOptionsValidator().Validate(null, new RendezvousServerOptions { TrimMemoryAfterConnections = -1 });

        Assert.That(result.Failures, Has.Some.EqualTo("Rendezvous:TrimMemoryAfterConnections is -1; it must be between 0 (never trim) and 1000000000."));
    }

    [Test]
    public void The_real_trim_runs_and_leaves_the_process_working()
    {
        var trimmer = new MemoryTrimmer(
            Microsoft.Extensions.Options.Options.Create(new RendezvousServerOptions { TrimMemoryAfterConnections = 1 }),
            new FakeTimeProvider(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<MemoryTrimmer>.Instance);
        trimmer.ConnectionClosed();

        trimmer.Check();
        trimmer.Check();

        Assert.That(trimmer.Trims, Is.EqualTo(1));
    }

    private MemoryTrimmer Trimmer => Server.Services.GetRequiredService<MemoryTrimmer>();

    private async Task<FakeTimeProvider> StartAsync(int trimAfter)
    {
        _trims = 0; // one fixture instance runs every test
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:TrimMemoryAfterConnections"] = trimAfter.ToString(System.Globalization.CultureInfo.InvariantCulture) }, time);
        Trimmer.TrimAction = () => Interlocked.Increment(ref _trims);
        return time;
    }

    /// <summary>Opens connections that send nothing and closes them, and waits until the server closed its ends too.</summary>
    private async Task OpenAndCloseRelayConnectionsAsync(int count)
    {
        var closedBefore = Trimmer.ConnectionsClosed;
        for (var i = 0; i < count; i++)
        {
            using var client = await ConnectAsync();
            client.ShutdownSend();
            Assert.That(await client.WaitForEndAsync(TestTimeouts.Short), Is.EqualTo(PeerEnd.Closed));
        }

        await WaitUntilAsync(() => Trimmer.ConnectionsClosed == closedBefore + count);
    }
}
