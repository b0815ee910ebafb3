using System.Security.Cryptography;
using System.Text;
using Rendezvous.Protocol.Splicing;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Splicing;

/// <summary>
/// <see cref="Splicer"/> over real connections of two different transports (a socket one and an epoll one): neither can
/// splice directly with the other, so the pipe splice runs, with the same contract.
/// </summary>
[TestFixture(RelayTransport.Socket, RelayTransport.Epoll)]
[TestFixture(RelayTransport.Epoll, RelayTransport.Socket)]
public sealed class MixedTransportSpliceTests(RelayTransport initiatorTransport, RelayTransport responderTransport)
{
    private RelayTransportHarness? _initiators;
    private RelayTransportHarness? _responders;

    [SetUp]
    public async Task SetUp()
    {
        _initiators = await RelayTransportHarness.StartAsync(initiatorTransport);
        _responders = await RelayTransportHarness.StartAsync(responderTransport);
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_initiators is not null)
        {
            await _initiators.DisposeAsync();
        }

        if (_responders is not null)
        {
            await _responders.DisposeAsync();
        }
    }

    [Test]
    public async Task Connections_of_different_transports_are_spliced_through_pipes_with_early_bytes_first_and_a_mebibyte_each_way()
    {
        var (initiator, initiatorEnd) = await _initiators!.AcceptAsync();
        var (responder, responderEnd) = await _responders!.AcceptAsync();
        await initiator.SendAsync("early ");
        await RelayTransportHarness.WaitUntilUnreadAsync(initiatorEnd, 6);
        var up = RandomNumberGenerator.GetBytes(1024 * 1024);
        var down = RandomNumberGenerator.GetBytes(1024 * 1024);

        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        var receivedUp = responder.ReadToEndAsync(TestTimeouts.Long);
        var receivedDown = initiator.ReadToEndAsync(TestTimeouts.Long);
        await initiator.SendAsync(up);
        initiator.ShutdownSend();
        await responder.SendAsync(down);
        responder.ShutdownSend();

        var gotUp = await receivedUp.WaitAsync(TestTimeouts.Long);
        Assert.Multiple(() =>
        {
            Assert.That(Encoding.ASCII.GetString(gotUp, 0, 6), Is.EqualTo("early "));
            Assert.That(SHA256.HashData(gotUp.AsSpan(6)), Is.EqualTo(SHA256.HashData(up)));
        });
        Assert.That(SHA256.HashData(await receivedDown.WaitAsync(TestTimeouts.Long)), Is.EqualTo(SHA256.HashData(down)));
        Assert.That(await splice.WaitAsync(TestTimeouts.Short), Is.EqualTo(new SpliceResult(SpliceEnd.Completed, 6 + up.Length, down.Length)));
        Assert.That(initiatorEnd.Output, Is.Not.Null, "the pipe splice keeps the pipes");
    }

    [Test]
    public async Task A_reset_of_either_side_resets_the_other_across_transports()
    {
        var (initiator, initiatorEnd) = await _initiators!.AcceptAsync();
        var (responder, responderEnd) = await _responders!.AcceptAsync();
        var splice = Splicer.SpliceAsync(initiatorEnd, responderEnd);
        await initiator.SendAsync("x");
        await responder.ReadExactlyAsync(1);

        responder.Reset();

        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset));
        Assert.That((await splice.WaitAsync(TestTimeouts.Short)).End, Is.EqualTo(SpliceEnd.ResponderFailed));
    }
}
