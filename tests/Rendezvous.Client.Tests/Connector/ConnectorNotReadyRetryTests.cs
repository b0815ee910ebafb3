using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Client.Connector;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Connector;

/// <summary>
/// The connector retries a <c>-ERR not ready</c>: against a real relay without grace wait (as the
/// original node-rendezvous) and a hidden server that parks one connection at a time, as the
/// original's clients do.
/// </summary>
public sealed class ConnectorNotReadyRetryTests
{
    private RendezvousTestServer _server = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        _server = await RendezvousTestServer.StartAsync(
            b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object),
            new Dictionary<string, string?>
            {
                ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:00",

                // Ten clients at once from one address for one UUID: more than the default 8 sessions per address and UUID.
                ["Rendezvous:Relay:MaxSessionsPerAddressPerUuid"] = "16",
            });
    }

    [TearDown]
    public async Task StopServerAsync() => await _server.DisposeAsync();

    private Task<(string Uuid, string Line)> RegisterAsync() => ClientTestKit.RegisterAsync(_server);

    /// <summary>
    /// A hidden server with one parked connection at a time: when a client takes it (<c>+OK</c>), it greets
    /// that client with its number and parks the next one. Runs until <paramref name="sessions"/> were served.
    /// </summary>
    private async Task ServeOneParkedAtATimeAsync(string line, int sessions, List<LoopbackClient> taken)
    {
        for (var served = 0; served < sessions; served++)
        {
            var parked = await LoopbackClient.ConnectWithLineAsync(_server.RelayEndPoint, line);
            taken.Add(parked);
            Assert.That(await parked.ReadLineAsync(TestTimeouts.Long), Is.EqualTo("+OK"));
            await parked.SendAsync($"session {served}\n");
        }
    }

    [Test]
    public async Task Clients_started_together_all_get_through_one_parked_connection_parked_again_after_each()
    {
        const int Clients = 10;
        var (uuid, line) = await RegisterAsync();
        var taken = new List<LoopbackClient>();
        try
        {
            var hiddenServer = ServeOneParkedAtATimeAsync(line, Clients, taken);
            await ClientTestKit.WaitUntilAsync(() => _server.Broker.ParkedCount == 1, "the hidden server is parked");
            using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));

            var connecting = Enumerable.Range(0, Clients).Select(_ => Task.Run(async () =>
            {
                await using var session = await connector.ConnectAsync(uuid);
                var greeting = new StringBuilder();
                var one = new byte[1];
                while (await session.Stream.ReadAsync(one) == 1 && one[0] != (byte)'\n')
                {
                    greeting.Append((char)one[0]);
                }

                return greeting.ToString();
            })).ToArray();
            var greetings = await Task.WhenAll(connecting).WaitAsync(TestTimeouts.Long);
            await hiddenServer.WaitAsync(TestTimeouts.Short);

            Assert.That(greetings, Is.EquivalentTo(Enumerable.Range(0, Clients).Select(i => $"session {i}")));
        }
        finally
        {
            taken.ForEach(c => c.Dispose());
        }
    }

    [Test]
    public async Task Retries_are_bounded_by_their_number_and_the_message_says_how_many_over_how_long()
    {
        var (uuid, _) = await RegisterAsync();
        var time = new TimerCountingTimeProvider();
        var options = ClientTestKit.ConnectorOptions(_server);
        options.NotReadyRetries = 3;
        options.NotReadyRetryBudget = TimeSpan.FromMinutes(1);
        using var connector = new RendezvousConnector(options, time);

        var connecting = connector.ConnectAsync(uuid);
        for (var wait = 1; wait <= 3; wait++)
        {
            await ClientTestKit.WaitUntilAsync(() => time.Timers == wait || connecting.IsCompleted, $"the connector waits before retry {wait}");
            time.Advance(TimeSpan.FromSeconds(2));
        }

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connecting.WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.NotReady));
            Assert.That(ex.Message, Does.Contain($"{uuid} is registered but had no free parked connection at the relay {_server.RelayEndPoint}"));
            Assert.That(ex.Message, Does.Contain("after 4 tries over 6.0 s"));
            Assert.That(ex.Message, Does.Not.Contain("running"));
            Assert.That(time.Timers, Is.EqualTo(3), "waits between tries");
        });
    }

    [Test]
    public async Task Retries_stop_when_the_next_wait_would_end_after_the_budget()
    {
        var (uuid, _) = await RegisterAsync();
        var time = new TimerCountingTimeProvider();
        var options = ClientTestKit.ConnectorOptions(_server);
        options.NotReadyRetries = 20;
        options.NotReadyRetryBudget = TimeSpan.FromSeconds(5);
        using var connector = new RendezvousConnector(options, time);

        // The first wait is at most 250 ms and the second at most 500 ms: after 3 s and 3 s more, 6 s
        // have passed and no third wait fits in 5 s.
        var connecting = connector.ConnectAsync(uuid);
        for (var wait = 1; wait <= 2; wait++)
        {
            await ClientTestKit.WaitUntilAsync(() => time.Timers == wait || connecting.IsCompleted, $"the connector waits before retry {wait}");
            time.Advance(TimeSpan.FromSeconds(3));
        }

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connecting.WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.NotReady));
            Assert.That(ex.Message, Does.Contain("after 3 tries over 6.0 s"));
            Assert.That(time.Timers, Is.EqualTo(2), "waits between tries");
        });
    }

    [Test]
    public async Task No_retries_fails_at_the_first_not_ready_without_waiting()
    {
        var (uuid, _) = await RegisterAsync();
        var time = new TimerCountingTimeProvider();
        var options = ClientTestKit.ConnectorOptions(_server);
        options.NotReadyRetries = 0;
        using var connector = new RendezvousConnector(options, time);

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.NotReady));
            Assert.That(ex.Message, Does.Contain("no free parked connection").And.Contain("after 1 try over 0.0 s"));
            Assert.That(time.Timers, Is.Zero);
        });
    }

    [Test]
    public async Task Cancelling_during_the_wait_between_tries_ends_the_connect_at_once()
    {
        var (uuid, _) = await RegisterAsync();
        var time = new TimerCountingTimeProvider();
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server), time);
        using var cancel = new CancellationTokenSource();

        var connecting = connector.ConnectAsync(uuid, cancel.Token);
        await ClientTestKit.WaitUntilAsync(() => time.Timers == 1 || connecting.IsCompleted, "the connector waits before its first retry");
        await cancel.CancelAsync();

        Assert.CatchAsync<OperationCanceledException>(() => connecting.WaitAsync(TestTimeouts.Short));
    }

    [Test]
    public void Out_of_range_retry_settings_are_refused_naming_each_value()
    {
        var options = ClientTestKit.ConnectorOptions(_server);
        options.NotReadyRetries = -1;
        options.NotReadyRetryBudget = TimeSpan.FromMinutes(2);

        var ex = Assert.Throws<ArgumentException>(() => new RendezvousConnector(options).Dispose());

        Assert.That(ex!.Message, Does.Contain("NotReadyRetries is -1; it must be between 0 and 20")
            .And.Contain("NotReadyRetryBudget is 00:02:00; it must be between 00:00:00 and 00:01:00"));
    }

    /// <summary>A fake clock that counts the timers created on it (each wait between tries is one).</summary>
    private sealed class TimerCountingTimeProvider : FakeTimeProvider
    {
        private int _timers;

        public int Timers => Volatile.Read(ref _timers);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _timers);
            return base.CreateTimer(callback, state, dueTime, period);
        }
    }
}
