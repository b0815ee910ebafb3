using System.Security.Cryptography;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

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
}
