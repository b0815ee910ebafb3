using System.Security.Cryptography;
using System.Text;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>
/// Sessions shaped like a TLS session through the relay, many at once: the initiator speaks first right behind its
/// line, the two sides take turns, then each half-closes right behind its last bytes. Every byte and every end has to
/// arrive on every session: one lost wake-up of the relay leaves a session waiting for ever, which the timeouts catch.
/// Once per transport.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class ExchangeTests(RelayTransport transport) : ServerTestBase(transport)
{
    private const int Workers = 8;
    private const int SessionsPerWorker = 60;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Rendezvous:Relay:MaxSessionsPerAddressPerUuid"] = "64",
    };

    [Test]
    public async Task Sessions_that_take_turns_and_half_close_right_behind_their_last_bytes_each_get_every_byte_and_both_ends()
    {
        var workers = Enumerable.Range(0, Workers).Select(async worker =>
        {
            var cookie = await RegisterAsync(Guid.NewGuid().ToString());
            for (var session = 0; session < SessionsPerWorker; session++)
            {
                await ExchangeAsync(cookie, worker * 1000 + session).WaitAsync(TestTimeouts.Long);
            }
        });

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(2));
    }

    private async Task ExchangeAsync(string cookie, int seed)
    {
        var random = new Random(seed);
        var hello = RandomNumberGenerator.GetBytes(random.Next(200, 600));
        var reply = RandomNumberGenerator.GetBytes(random.Next(500, 4000));
        var finish = RandomNumberGenerator.GetBytes(random.Next(50, 200));
        var request = RandomNumberGenerator.GetBytes(random.Next(1, 100));
        var response = RandomNumberGenerator.GetBytes(random.Next(1, 100));

        using var responder = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "R" + cookie);

        // The initiator's first bytes go right behind its line, as a client's TLS hello does after +OK is awaited by
        // none but the most careful clients.
        using var initiator = await LoopbackClient.ConnectAsync(Server.RelayEndPoint);
        byte[] lineAndHello = [.. Encoding.ASCII.GetBytes(InitiatorLine(cookie) + "\n"), .. hello];
        await initiator.SendAsync(lineAndHello);
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"), $"session {seed}: the responder's +OK");
        Assert.That(await responder.ReadExactlyAsync(hello.Length), Is.EqualTo(hello), $"session {seed}: the hello");
        await responder.SendAsync(reply);
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"), $"session {seed}: the initiator's +OK");
        Assert.That(await initiator.ReadExactlyAsync(reply.Length), Is.EqualTo(reply), $"session {seed}: the reply");
        await initiator.SendAsync(finish);
        Assert.That(await responder.ReadExactlyAsync(finish.Length), Is.EqualTo(finish), $"session {seed}: the finish");

        // The request and the initiator's end in one go; the responder answers once it saw the end, and ends too.
        await initiator.SendAsync(request);
        initiator.ShutdownSend();
        Assert.That(await responder.ReadToEndAsync(), Is.EqualTo(request), $"session {seed}: the request and the initiator's end");
        await responder.SendAsync(response);
        responder.ShutdownSend();
        Assert.That(await initiator.ReadToEndAsync(), Is.EqualTo(response), $"session {seed}: the response and the responder's end");
    }
}
