using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>
/// The <c>pool</c> field of registration answers, end to end: real HTTPS registrations, real relay sockets, the advice
/// measured by the server's <see cref="PoolAdvisor"/>.
/// </summary>
public sealed partial class PoolAdviceTests : ServerTestBase
{
    private const int Burst = 5;

    /// <summary>The answer of before pool advice, byte for byte: nothing after the cookie.</summary>
    [GeneratedRegex("""^\{"result":\{"host":"127\.0\.0\.1","port":[0-9]+,"cookie":"R[!-~]+"\}\}$""")]
    private static partial Regex TripleWithoutPool();

    [GeneratedRegex("""^\{"result":\{"host":"127\.0\.0\.1","port":[0-9]+,"cookie":"R[^"]+","pool":(?<pool>[0-9]+)\}\}$""")]
    private static partial Regex TripleWithPool();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "16",
        ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:10",
    };

    [Test]
    public async Task An_idle_hidden_server_is_advised_a_pool_of_one()
    {
        var uuid = Guid.NewGuid().ToString();
        await RegisterAsync(uuid);

        var reply = await Registrar.RegisterAsync(uuid, GoodCode);

        Assert.That(PoolOf(reply.Body), Is.EqualTo(1));
    }

    [Test]
    public async Task A_hidden_server_that_saw_a_burst_of_concurrent_initiators_is_advised_at_least_the_burst()
    {
        var uuid = Guid.NewGuid().ToString();
        var cookie = await RegisterAsync(uuid);
        await RunBurstAsync(cookie, parkedBefore: 1);

        var reply = await Registrar.RegisterAsync(uuid, GoodCode);

        Assert.That(PoolOf(reply.Body), Is.GreaterThanOrEqualTo(Burst));
        Assert.That(Server.Services.GetRequiredService<PoolAdvisor>().Peek(Guid.NewGuid().ToString()), Is.EqualTo(1), "demand is per UUID");
    }

    [Test]
    public async Task With_pool_advice_off_the_answer_has_no_pool_field()
    {
        var settings = Settings;
        settings["Rendezvous:Relay:PoolAdvice"] = "false";
        await RestartServerAsync(settings);
        var uuid = Guid.NewGuid().ToString();
        var cookie = await RegisterAsync(uuid);
        await RunBurstAsync(cookie, parkedBefore: 1);

        var reply = await Registrar.RegisterAsync(uuid, GoodCode);

        Assert.That(reply.Body, Does.Match(TripleWithoutPool()));
        Assert.That(Server.Services.GetRequiredService<PoolAdvisor>().TrackedCount, Is.Zero, "nothing is measured while advice is off");
    }

    [Test]
    public async Task Initiators_refused_too_many_sessions_do_not_raise_the_advice()
    {
        var settings = Settings;
        settings["Rendezvous:Relay:MaxSessionsPerAddressPerUuid"] = "2";
        await RestartServerAsync(settings);
        var uuid = Guid.NewGuid().ToString();
        var cookie = await RegisterAsync(uuid);

        // One address floods the hidden server, which has nothing parked: two wait, the rest are refused at once.
        var initiators = await Task.WhenAll(Enumerable.Range(0, 3 * Burst)
            .Select(_ => LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, InitiatorLine(cookie))));
        try
        {
            var refused = 0;
            var waiting = 0;
            foreach (var initiator in initiators)
            {
                try
                {
                    Assert.That(await initiator.ReadLineAsync(TimeSpan.FromSeconds(2)), Is.EqualTo("-ERR too many sessions"));
                    refused++;
                }
                catch (OperationCanceledException)
                {
                    waiting++; // no answer: it waits for a responder (the grace period is 10 s)
                }
            }

            Assert.That((refused, waiting), Is.EqualTo(((3 * Burst) - 2, 2)));
        }
        finally
        {
            foreach (var initiator in initiators)
            {
                initiator.Reset();
            }
        }

        var reply = await Registrar.RegisterAsync(uuid, GoodCode);

        Assert.That(PoolOf(reply.Body), Is.InRange(1, 3), "at most the two that waited, plus one because they waited");
    }

    [Test]
    public void Pool_advice_options_out_of_range_are_reported_with_the_key_and_the_accepted_range()
    {
        var result = new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { MaxPoolAdvice = 0, PoolAdviceInterval = TimeSpan.FromSeconds(30) });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Is.EqualTo(new[]
        {
            "Rendezvous:Relay:MaxPoolAdvice is 0; it must be between 1 and 64 (advice never exceeds Rendezvous:Relay:ParkedConnectionsPerCookie either).",
            "Rendezvous:Relay:PoolAdviceInterval is 00:00:30; it must be between 00:01:00 and 1.00:00:00.",
        }));
        Assert.That(new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { MaxPoolAdvice = 65 }).Failed, Is.True);
        Assert.That(new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { PoolAdviceInterval = TimeSpan.FromDays(2) }).Failed, Is.True);
        Assert.That(new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { MaxPoolAdvice = 64, PoolAdviceInterval = TimeSpan.FromDays(1) }).Succeeded, Is.True);
    }

    private static int PoolOf(string body)
    {
        var match = TripleWithPool().Match(body);
        Assert.That(match.Success, Is.True, body);
        return int.Parse(match.Groups["pool"].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// <see cref="Burst"/> initiators arrive at once while <paramref name="parkedBefore"/> responders are parked; the rest
    /// wait until as many more park (as an agent parks again after each pairing); every initiator is paired.
    /// </summary>
    private async Task RunBurstAsync(string cookie, int parkedBefore)
    {
        var responders = new List<LoopbackClient>();
        var initiators = new List<LoopbackClient>();
        try
        {
            for (var i = 0; i < parkedBefore; i++)
            {
                responders.Add(await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "R" + cookie));
            }

            await WaitUntilAsync(() => Server.Broker.ParkedCount == parkedBefore);
            initiators.AddRange(await Task.WhenAll(Enumerable.Range(0, Burst)
                .Select(_ => LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, InitiatorLine(cookie)))));
            for (var i = parkedBefore; i < Burst; i++)
            {
                responders.Add(await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "R" + cookie));
            }

            foreach (var initiator in initiators)
            {
                Assert.That(await initiator.ReadLineAsync(TestTimeouts.Long), Is.EqualTo("+OK"));
            }
        }
        finally
        {
            foreach (var client in responders.Concat(initiators))
            {
                client.Dispose();
            }
        }
    }
}
