using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>A UUID is one registration whatever its spelling: letter case and braces do not matter.</summary>
public sealed class UuidSpellingTests : ServerTestBase
{
    [Test]
    public async Task A_hidden_server_registered_in_upper_case_is_found_by_a_lower_case_lookup()
    {
        var uuid = Guid.NewGuid();
        var registered = (await Registrar.RegisterAsync(uuid.ToString("D").ToUpperInvariant(), GoodCode)).Triple;

        var found = (await Registrar.LookUpAsync(uuid.ToString("D"))).Triple;

        Assert.That(found.Cookie, Is.EqualTo(registered.InitiatorCookie));
    }

    [Test]
    public async Task A_lookup_with_braces_finds_the_plain_registration()
    {
        var uuid = Guid.NewGuid();
        var registered = (await Registrar.RegisterAsync(uuid.ToString("D"), GoodCode)).Triple;

        var found = (await Registrar.LookUpAsync(uuid.ToString("B"))).Triple;

        Assert.That(found.Cookie, Is.EqualTo(registered.InitiatorCookie));
    }
}
