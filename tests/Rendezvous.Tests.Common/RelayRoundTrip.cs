using System.Net;
using System.Security.Cryptography;
using NUnit.Framework;

namespace Rendezvous.Tests.Common;

/// <summary>Drives the relay with the cookies a registrar handed out, the way a hidden server and a mobile client do.</summary>
public static class RelayRoundTrip
{
    /// <summary>
    /// Parks a responder with <paramref name="responderLine"/> (<c>R...</c>), connects an initiator with
    /// <paramref name="initiatorLine"/> (<c>I...</c>), checks both get <c>+OK</c> and that bytes flow both ways unchanged.
    /// </summary>
    public static async Task AssertPairsAndSplicesAsync(IPEndPoint relay, string responderLine, string initiatorLine)
    {
        using var responder = await LoopbackClient.ConnectWithLineAsync(relay, responderLine);
        using var initiator = await LoopbackClient.ConnectWithLineAsync(relay, initiatorLine);
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"), "initiator");
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"), "responder");

        var up = RandomNumberGenerator.GetBytes(4096);
        var down = RandomNumberGenerator.GetBytes(4096);
        await initiator.SendAsync(up);
        Assert.That(await responder.ReadExactlyAsync(up.Length), Is.EqualTo(up));
        await responder.SendAsync(down);
        Assert.That(await initiator.ReadExactlyAsync(down.Length), Is.EqualTo(down));
    }
}
