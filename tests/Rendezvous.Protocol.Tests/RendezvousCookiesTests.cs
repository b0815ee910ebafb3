namespace Rendezvous.Protocol.Tests;

public sealed class RendezvousCookiesTests
{
    /// <summary>Known answers, computed outside .NET (Python hashlib/base64), so the documented derivation is pinned.</summary>
    [TestCase("abc", "ZLfHfVsGyThjZPhELdMJ3ZftIPAWyx5W")]
    [TestCase("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "sc0ADTuvwl74VtX0TxgsToROQNBUAklg")]
    [TestCase("", "1qAulCE9OPfJenvWsv5A39Y4l27EMngK")]
    public void Initiator_value_is_the_documented_derivation(string responder, string expected)
    {
        Assert.That(RendezvousCookies.InitiatorValueFor(responder), Is.EqualTo(expected));
    }

    [Test]
    public void Initiator_value_is_printable_ascii_of_192_bits_and_differs_from_the_responder_value()
    {
        const string Responder = "q4Jd0xY7_mTz-3vKpL9wR2nH8sBcEfGa";

        var initiator = RendezvousCookies.InitiatorValueFor(Responder);

        Assert.That(initiator, Has.Length.EqualTo(RendezvousCookies.InitiatorValueLength));
        Assert.That(initiator.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'), Is.True, initiator);
        Assert.That(initiator, Is.Not.EqualTo(Responder));
        Assert.That(RendezvousCookies.InitiatorValueFor(initiator), Is.Not.EqualTo(Responder), "not its own inverse");
    }

    [Test]
    public void Null_responder_value_is_refused_by_name()
    {
        var error = Assert.Throws<ArgumentNullException>(() => RendezvousCookies.InitiatorValueFor(null!));

        Assert.That(error!.ParamName, Is.EqualTo("responderValue"));
    }
}
