using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Moq;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests;

/// <summary>
/// Starts a real server per test with a mocked policy that accepts the code "123456" and rejects
/// anything else, and offers helpers to register and look up over real HTTPS. A fixture that runs once per relay
/// transport passes it to the constructor (<see cref="RelayTransports"/>); otherwise the server picks its default.
/// </summary>
/// <param name="transport">The relay transport every server of the fixture listens with; the default when <see langword="null"/>.</param>
public abstract class ServerTestBase(RelayTransport? transport = null)
{
    public const string GoodCode = "123456";

    /// <summary>The relay transport the fixture's servers listen with, when the fixture chose one.</summary>
    protected RelayTransport? Transport => transport;

    protected RendezvousTestServer Server { get; private set; } = null!;

    protected HttpClient Registrar { get; private set; } = null!;

    protected Mock<IRegistrationPolicy> Policy { get; private set; } = null!;

    /// <summary>Extra configuration for the server of each test in the fixture.</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    [SetUp]
    public async Task StartServerAsync()
    {
        Policy = new Mock<IRegistrationPolicy>(MockBehavior.Strict);
        Policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns((RegistrationRequest request, CancellationToken _) => ValueTask.FromResult(
                request.Response == GoodCode ? RegistrationDecision.Accept() : RegistrationDecision.Reject()));
        if (transport is { } chosen)
        {
            RelayTransports.AssumeSupported(chosen);
        }

        Server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(Policy.Object), WithTransport(Settings));
        Registrar = Server.CreateRegistrarClient();
    }

    [TearDown]
    public async Task StopServerAsync()
    {
        Registrar?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    /// <summary>
    /// Replaces this test's server with one started with <paramref name="settings"/> and <paramref name="time"/>,
    /// for tests that need a configuration of their own (pool size, grace, a fake clock).
    /// </summary>
    protected async Task RestartServerAsync(IDictionary<string, string?> settings, TimeProvider? time = null)
    {
        Registrar.Dispose();
        await Server.DisposeAsync();
        Server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(Policy.Object), WithTransport(settings), time);
        Registrar = Server.CreateRegistrarClient();
    }

    /// <summary><paramref name="settings"/> with the fixture's transport, when it chose one.</summary>
    private IDictionary<string, string?> WithTransport(IDictionary<string, string?> settings) =>
        transport is { } chosen ? RelayTransports.Settings(chosen, settings) : settings;

    /// <summary>A fake clock for a server: starts now, since the registrar certificate is made with it.</summary>
    protected static FakeTimeProvider NewFakeTime() => new(DateTimeOffset.UtcNow);

    /// <summary>Connects a raw client to the relay without sending anything.</summary>
    protected Task<LoopbackClient> ConnectAsync() => LoopbackClient.ConnectAsync(Server.RelayEndPoint);

    /// <summary>Connects a raw client to the relay and sends <paramref name="line"/> (mode letter and cookie) and <c>\n</c>.</summary>
    protected Task<LoopbackClient> ConnectWithLineAsync(string line) => LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, line);

    /// <summary>Advances <paramref name="time"/> by <paramref name="step"/> until <paramref name="task"/> completes (see <see cref="FakeTimeSteps"/>).</summary>
    protected static Task<TimeSpan> AdvanceUntilAsync(FakeTimeProvider time, Task task, TimeSpan step, TimeSpan? timeout = null) =>
        time.AdvanceUntilAsync(task, step, timeout);

    /// <summary>The <c>I</c> line (without its line end) that goes with the <c>R</c> value <paramref name="responderValue"/>.</summary>
    protected static string InitiatorLine(string responderValue) => "I" + RendezvousCookies.InitiatorValueFor(responderValue);

    /// <summary>Registers <paramref name="uuid"/> and returns the cookie without its <c>R</c>.</summary>
    protected async Task<string> RegisterAsync(string uuid)
    {
        using var response = await Registrar.PutAsync($"/?uuid={uuid}&response={GoodCode}", null).WaitAsync(TestTimeouts.Short);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>().WaitAsync(TestTimeouts.Short);
        var cookie = body.GetProperty("result").GetProperty("cookie").GetString()!;
        Assert.That(cookie, Does.StartWith("R"));
        return cookie[1..];
    }

    /// <summary>Registers a fresh UUID, parks a responder and returns it with the cookie.</summary>
    protected async Task<(LoopbackClient Responder, string Cookie)> ParkAsync()
    {
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        var responder = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "R" + cookie);
        await WaitUntilAsync(() => Server.Broker.ParkedCount > 0);
        return (responder, cookie);
    }

    /// <summary>Parks a responder and pairs an initiator with it; both have read their <c>+OK</c>.</summary>
    protected async Task<(LoopbackClient Initiator, LoopbackClient Responder)> PairAsync()
    {
        var (responder, cookie) = await ParkAsync();
        var initiator = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, InitiatorLine(cookie));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
        return (initiator, responder);
    }

    /// <summary>Polls a condition that another thread makes true (e.g. the server parking a connection).</summary>
    protected static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Short);
        while (!condition())
        {
            await Task.Delay(5, cts.Token);
        }
    }
}
