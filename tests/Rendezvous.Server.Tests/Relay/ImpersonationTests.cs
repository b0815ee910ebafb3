using Rendezvous.Protocol;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>
/// Knowing a UUID is not enough to impersonate its hidden server: a lookup (no secret) hands out the <c>I</c>
/// value, which is derived from the registrant's <c>R</c> value and cannot park a connection.
/// </summary>
public sealed class ImpersonationTests : ServerTestBase
{
    /// <summary>A pool of one, as in the attack that was reported: one extra park would push the owner out.</summary>
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "1",
    };

    [Test]
    public async Task Lookup_hands_out_an_I_value_that_differs_from_the_R_value_and_is_derived_from_it()
    {
        var uuid = Guid.NewGuid().ToString();
        var registered = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;

        var lookedUp = (await Registrar.LookUpAsync(uuid)).Triple;

        Assert.That(lookedUp.Cookie, Does.StartWith("I"));
        Assert.That(lookedUp.Bare, Is.Not.EqualTo(registered.Bare));
        Assert.That(lookedUp.Bare, Is.EqualTo(RendezvousCookies.InitiatorValueFor(registered.Bare)));
        Assert.That(lookedUp.Bare, Has.Length.EqualTo(RendezvousCookies.InitiatorValueLength));
        Assert.That(lookedUp.Bare.All(c => c is > ' ' and <= '~'), Is.True, lookedUp.Bare);
    }

    [Test]
    public async Task R_lines_built_from_a_lookup_are_refused_and_the_owner_stays_parked_and_pairs()
    {
        var uuid = Guid.NewGuid().ToString();
        var registered = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;
        using var owner = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, registered.Cookie);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);

        // The attacker knows the UUID only: everything it can build starts from the lookup.
        var lookedUp = (await Registrar.LookUpAsync(uuid)).Triple;
        string[] forged = ["R" + lookedUp.Bare, "R" + lookedUp.Cookie, "R" + RendezvousCookies.InitiatorValueFor(lookedUp.Bare)];
        foreach (var line in forged)
        {
            using var attacker = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, line);
            Assert.That(await attacker.ReadLineAsync(), Is.EqualTo("-ERR not registered"), line);
            Assert.That(await attacker.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed), line);
        }

        Assert.That(Server.Broker.ParkedCount, Is.EqualTo(1), "the owner's connection is still parked");
        using var initiator = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, lookedUp.Cookie);
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await owner.ReadLineAsync(), Is.EqualTo("+OK"), "the real initiator reached the owner");
        await initiator.SendAsync("ping");
        Assert.That(await owner.ReadExactlyAsync(4), Is.EqualTo("ping"u8.ToArray()));
    }

    [Test]
    public async Task I_line_with_the_R_value_is_refused_and_takes_nothing()
    {
        var uuid = Guid.NewGuid().ToString();
        var registered = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;
        using var owner = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, registered.Cookie);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);

        using var wrong = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "I" + registered.Bare);

        Assert.That(await wrong.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        Assert.That(Server.Broker.ParkedCount, Is.EqualTo(1));
        Assert.That(await owner.StaysQuietAsync(), Is.True, "the owner was neither paired nor closed");
    }
}
