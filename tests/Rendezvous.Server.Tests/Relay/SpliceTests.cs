using System.Security.Cryptography;
using System.Text;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>PROTOCOL.md §2 "Splice semantics": intact bytes, half-close, resets, independence from registration.</summary>
public sealed class SpliceTests : ServerTestBase
{
    [Test]
    public async Task One_mebibyte_of_random_bytes_each_way_arrives_intact()
    {
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            var up = RandomNumberGenerator.GetBytes(1024 * 1024);
            var down = RandomNumberGenerator.GetBytes(1024 * 1024);

            var sendUp = Task.Run(async () => { await initiator.SendAsync(up); initiator.ShutdownSend(); });
            var sendDown = Task.Run(async () => { await responder.SendAsync(down); responder.ShutdownSend(); });
            var receivedUp = responder.ReadToEndAsync();
            var receivedDown = initiator.ReadToEndAsync();
            await Task.WhenAll(sendUp, sendDown).WaitAsync(TestTimeouts.Long);

            Assert.That(SHA256.HashData(await receivedUp), Is.EqualTo(SHA256.HashData(up)));
            Assert.That(SHA256.HashData(await receivedDown), Is.EqualTo(SHA256.HashData(down)));
        }
    }

    [Test]
    public async Task Initiator_half_close_ends_the_responders_input_while_the_responder_keeps_sending()
    {
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            await initiator.SendAsync("request");
            initiator.ShutdownSend();

            Assert.That(Encoding.ASCII.GetString(await responder.ReadToEndAsync()), Is.EqualTo("request"), "FIN passed on");

            await responder.SendAsync("first reply");
            Assert.That(Encoding.ASCII.GetString(await initiator.ReadExactlyAsync("first reply".Length)), Is.EqualTo("first reply"));
            await responder.SendAsync(" and more");
            responder.ShutdownSend();

            Assert.That(Encoding.ASCII.GetString(await initiator.ReadToEndAsync()), Is.EqualTo(" and more"));
            Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
            Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
        }
    }

    [Test]
    public async Task Responder_half_close_ends_the_initiators_input_while_the_initiator_keeps_sending()
    {
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            await responder.SendAsync("banner");
            responder.ShutdownSend();

            Assert.That(Encoding.ASCII.GetString(await initiator.ReadToEndAsync()), Is.EqualTo("banner"), "FIN passed on");

            await initiator.SendAsync("first");
            Assert.That(Encoding.ASCII.GetString(await responder.ReadExactlyAsync("first".Length)), Is.EqualTo("first"));
            await initiator.SendAsync(" second");
            initiator.ShutdownSend();

            Assert.That(Encoding.ASCII.GetString(await responder.ReadToEndAsync()), Is.EqualTo(" second"));
            Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
            Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
        }
    }

    [Test]
    public async Task Half_closed_direction_carries_a_mebibyte_after_the_other_direction_ended()
    {
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            initiator.ShutdownSend();
            Assert.That(await responder.ReadToEndAsync(), Is.Empty);

            var down = RandomNumberGenerator.GetBytes(1024 * 1024);
            var sending = Task.Run(async () => { await responder.SendAsync(down); responder.ShutdownSend(); });
            var received = await initiator.ReadToEndAsync();
            await sending.WaitAsync(TestTimeouts.Long);

            Assert.That(SHA256.HashData(received), Is.EqualTo(SHA256.HashData(down)));
        }
    }

    [Test]
    public async Task Initiator_reset_resets_the_responder()
    {
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            initiator.Reset();

            Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        }
    }

    [Test]
    public async Task Responder_reset_resets_the_initiator()
    {
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            responder.Reset();

            Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        }
    }

    [Test]
    public async Task Reset_after_a_half_close_resets_the_other_side()
    {
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            initiator.ShutdownSend();
            Assert.That(await responder.ReadToEndAsync(), Is.Empty);

            responder.Reset();

            Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        }
    }

    [Test]
    public async Task Spliced_session_keeps_running_after_its_uuid_re_registers()
    {
        var uuid = Guid.NewGuid().ToString();
        var cookie = await RegisterAsync(uuid);
        using var responder = await ConnectWithLineAsync("R" + cookie);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);
        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));

        await RegisterAsync(uuid);

        var up = RandomNumberGenerator.GetBytes(64 * 1024);
        var down = RandomNumberGenerator.GetBytes(64 * 1024);
        await initiator.SendAsync(up);
        await responder.SendAsync(down);
        Assert.That(await responder.ReadExactlyAsync(up.Length), Is.EqualTo(up));
        Assert.That(await initiator.ReadExactlyAsync(down.Length), Is.EqualTo(down));
    }

    [Test]
    public async Task Fifty_concurrent_sessions_each_carry_their_own_bytes_intact()
    {
        const int Sessions = 50;
        const int Size = 128 * 1024;

        // A hundred connects from one address at once, from test tasks that may wait for a thread before
        // they send their line: more than the default 64 can be without a line at the same moment, and
        // the per-address cap (tested in ConnectionLimitsTests) would rightly reset them.
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxHandshakesPerAddress"] = "1024" });

        var results = await Task.WhenAll(Enumerable.Range(0, Sessions).Select(_ => Task.Run(RunSessionAsync))).WaitAsync(TestTimeouts.Long);

        Assert.That(results, Has.All.True);

        async Task<bool> RunSessionAsync()
        {
            var cookie = await RegisterAsync(Guid.NewGuid().ToString());
            using var responder = await ConnectWithLineAsync("R" + cookie);
            using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
            if (await initiator.ReadLineAsync() != "+OK" || await responder.ReadLineAsync() != "+OK")
            {
                return false;
            }

            var up = RandomNumberGenerator.GetBytes(Size);
            var down = RandomNumberGenerator.GetBytes(Size);
            var sendUp = Task.Run(async () => { await initiator.SendAsync(up); initiator.ShutdownSend(); });
            var sendDown = Task.Run(async () => { await responder.SendAsync(down); responder.ShutdownSend(); });
            var receivedUp = responder.ReadToEndAsync();
            var receivedDown = initiator.ReadToEndAsync();
            await Task.WhenAll(sendUp, sendDown, receivedUp, receivedDown);

            return SHA256.HashData(await receivedUp).AsSpan().SequenceEqual(SHA256.HashData(up))
                && SHA256.HashData(await receivedDown).AsSpan().SequenceEqual(SHA256.HashData(down));
        }
    }
}
