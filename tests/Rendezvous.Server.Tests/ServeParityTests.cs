using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests;

/// <summary>
/// A host built with only <c>AddRendezvousServer()</c> runs the server as <c>rendezvous serve</c> does: a shutdown
/// timeout that covers the drain time, and inline socket completions unless turned off.
/// </summary>
[NonParallelizable]
public sealed class ServeParityTests
{
    private string? _saved;

    [SetUp]
    public void ClearVariable()
    {
        _saved = Environment.GetEnvironmentVariable(SocketCompletionMode.Variable);
        Environment.SetEnvironmentVariable(SocketCompletionMode.Variable, null);
    }

    [TearDown]
    public void RestoreVariable() => Environment.SetEnvironmentVariable(SocketCompletionMode.Variable, _saved);

    [Test]
    public async Task The_shutdown_timeout_is_the_drain_time_plus_five_seconds()
    {
        await using var server = await StartAsync(settings: new() { ["Rendezvous:DrainTimeout"] = "00:00:20" });

        Assert.That(ShutdownTimeout(server), Is.EqualTo(TimeSpan.FromSeconds(25)));
    }

    [Test]
    public async Task A_drain_time_set_in_code_counts_too()
    {
        await using var server = await StartAsync(configure: b => b.Services.Configure<RendezvousServerOptions>(o => o.DrainTimeout = TimeSpan.FromSeconds(40)));

        Assert.That(ShutdownTimeout(server), Is.EqualTo(TimeSpan.FromSeconds(45)));
    }

    [Test]
    public async Task A_longer_shutdown_timeout_set_by_the_application_is_kept()
    {
        await using var server = await StartAsync(configure: b => b.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(2)));

        Assert.That(ShutdownTimeout(server), Is.EqualTo(TimeSpan.FromMinutes(2)));
    }

    [Test]
    public async Task A_shutdown_timeout_shorter_than_the_drain_is_raised_to_cover_it()
    {
        await using var server = await StartAsync(
            settings: new() { ["Rendezvous:DrainTimeout"] = "00:00:10" },
            configure: b => b.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(3)));

        Assert.That(ShutdownTimeout(server), Is.EqualTo(TimeSpan.FromSeconds(15)));
    }

    [Test]
    public void Bad_settings_still_stop_the_host_at_start_not_when_it_is_built()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddRendezvousServer(o => o.DrainTimeout = TimeSpan.FromHours(2)); // and no policy
        using var host = builder.Build();

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(TestTimeouts.Long));

        Assert.That(ex!.Failures, Has.Some.Contains("No registration policy").And.Some.Contains("Rendezvous:DrainTimeout is 02:00:00"));
        Assert.That(host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout, Is.EqualTo(new HostOptions().ShutdownTimeout));
    }

    [Test]
    public async Task Starting_turns_inline_socket_completions_on_by_default()
    {
        await using var server = await StartAsync();

        Assert.Multiple(() =>
        {
            Assert.That(Mode(server).Applied, Is.True, "set while the listeners started");
            Assert.That(Environment.GetEnvironmentVariable(SocketCompletionMode.Variable), Is.Null, "taken back once started, so child processes do not inherit it");
        });
    }

    [Test]
    public async Task Configured_false_leaves_them_off()
    {
        await using var server = await StartAsync(settings: new() { [SocketCompletionMode.ConfigurationKey] = "False" });

        Assert.That(Mode(server).Applied, Is.False);
        Assert.That(Environment.GetEnvironmentVariable(SocketCompletionMode.Variable), Is.Null);
    }

    [Test]
    public async Task The_option_set_in_code_leaves_them_off()
    {
        await using var server = await StartAsync(configure: b => b.Services.Configure<RendezvousServerOptions>(o => o.InlineSocketCompletions = false));

        Assert.That(server.Services.GetRequiredService<IOptions<RendezvousServerOptions>>().Value.InlineSocketCompletions, Is.False);
        Assert.That(Mode(server).Applied, Is.False);
        Assert.That(Environment.GetEnvironmentVariable(SocketCompletionMode.Variable), Is.Null);
    }

    [Test]
    public void A_value_that_is_not_true_or_false_is_refused_by_name_at_start()
    {
        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(settings: new() { [SocketCompletionMode.ConfigurationKey] = "yes" }));

        Assert.That(ex!.Failures, Has.Some.Contains("Rendezvous:Relay:InlineSocketCompletions is 'yes'").And.Some.Contains("true or false"));
        Assert.That(Environment.GetEnvironmentVariable(SocketCompletionMode.Variable), Is.Null);
    }

    [Test]
    public async Task An_operator_setting_of_the_variable_wins()
    {
        Environment.SetEnvironmentVariable(SocketCompletionMode.Variable, "0");

        await using var server = await StartAsync();

        Assert.That(Mode(server).Applied, Is.False);
        Assert.That(Environment.GetEnvironmentVariable(SocketCompletionMode.Variable), Is.EqualTo("0"));
    }

    private static SocketCompletionMode Mode(RendezvousTestServer server) =>
        server.Services.GetServices<IHostedService>().OfType<SocketCompletionMode>().Single();

    private static TimeSpan ShutdownTimeout(RendezvousTestServer server) =>
        server.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout;

    /// <summary>A server with an accepting policy plus <paramref name="configure"/>; the kit's drain time (2 s) unless <paramref name="settings"/> says otherwise.</summary>
    private static Task<RendezvousTestServer> StartAsync(Dictionary<string, string?>? settings = null, Action<IRendezvousServerBuilder>? configure = null)
    {
        var policy = new Mock<IRegistrationPolicy>();
        return RendezvousTestServer.StartAsync(
            b =>
            {
                b.AddPolicy(policy.Object);
                configure?.Invoke(b);
            },
            settings);
    }
}
