using System.Buffers;
using System.Security.Cryptography;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>The epoll transport's writer on real loopback sockets: one waiter at a time, never an orphaned one.</summary>
public sealed class EpollOutputTests
{
    [Test]
    public async Task A_second_flush_while_one_waits_is_refused_and_the_first_completes_once_the_reader_reads()
    {
        await using var harness = await RelayTransportHarness.StartAsync(
            RelayTransport.Epoll,
            new SocketTransportOptions { MaxSendBufferSize = 4096, MaxUnsentBytes = 16 * 1024 });
        var (client, server) = await harness.AcceptAsync(receiveBufferSize: 4096);
        var payload = RandomNumberGenerator.GetBytes(4 * 1024 * 1024);

        server.Output.Write(payload);
        var first = server.Output.FlushAsync().AsTask();
        Assert.That(first.IsCompleted, Is.False, "the reader is not reading: the first flush waits");

        Assert.That(async () => await server.Output.FlushAsync(), Throws.InvalidOperationException);

        var received = await client.ReadExactlyAsync(payload.Length, TestTimeouts.Short);
        var flushed = await first.WaitAsync(TestTimeouts.Short);
        Assert.Multiple(() =>
        {
            Assert.That(flushed.IsCompleted || flushed.IsCanceled, Is.False);
            Assert.That(received, Is.EqualTo(payload));
        });
    }
}
