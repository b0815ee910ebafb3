using System.Net.Sockets;
using System.Security.Cryptography;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>PROTOCOL.md §2 "Handshake limits" and "Backpressure": bounded line, bounded time, bounded buffers.</summary>
public sealed class LimitsTests : ServerTestBase
{
    [Test]
    public async Task Line_of_256_bytes_is_accepted()
    {
        // 256 bytes of line: the mode letter and 255 bytes of (unknown) cookie.
        using var client = await ConnectWithLineAsync("I" + new string('a', 255));

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
    }

    [Test]
    public async Task Line_of_256_bytes_ending_in_crlf_is_accepted()
    {
        using var client = await ConnectAsync();

        await client.SendAsync("I" + new string('a', 255) + "\r\n");

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
    }

    [Test]
    public async Task Line_of_257_bytes_gets_line_too_long_then_a_clean_close()
    {
        using var client = await ConnectWithLineAsync("R" + new string('a', 256));

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR line too long"));
        Assert.That(await client.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Long_line_without_a_line_end_is_answered_without_waiting_for_one()
    {
        using var client = await ConnectAsync();

        await client.SendAsync("R" + new string('a', 300));

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR line too long"));
        Assert.That(await client.WaitForEndAsync(), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
    }

    [Test]
    public async Task Client_streaming_a_huge_line_gets_line_too_long_and_is_cut_off()
    {
        using var client = await ConnectAsync();
        var blob = new byte[1024 * 1024];
        blob.AsSpan().Fill((byte)'a');
        blob[0] = (byte)'I';

        // The server answers after the first bytes and stops reading; the rest of the send may fail.
        var sending = Task.Run(async () =>
        {
            try
            {
                await client.SendAsync(blob);
            }
            catch (SocketException)
            {
            }
        });

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR line too long"));
        Assert.That(await client.WaitForEndAsync(), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
        await sending.WaitAsync(TestTimeouts.Long);
    }

    [Test]
    public async Task Server_does_not_read_a_refused_line_to_its_end()
    {
        using var client = await ConnectAsync();
        client.Socket.SendBufferSize = 64 * 1024;

        // Far more than kernel buffers can hold: the send can only finish if the server reads it all.
        var blob = new byte[64 * 1024 * 1024];
        blob.AsSpan().Fill((byte)'a');
        blob[0] = (byte)'R';
        var sending = Task.Run(async () =>
        {
            var offset = 0;
            while (offset < blob.Length)
            {
                offset += await client.Socket.SendAsync(blob.AsMemory(offset), SocketFlags.None);
            }
        });

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR line too long"));
        Assert.That(async () => await sending.WaitAsync(TestTimeouts.Long), Throws.InstanceOf<SocketException>());
    }

    [Test]
    public async Task First_line_not_complete_within_the_timeout_gets_timeout_then_a_clean_close()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?>(), time);
        using var client = await ConnectAsync();
        await client.SendAsync("Rslow");

        var reply = client.ReadLineAsync();
        var advanced = await AdvanceUntilAsync(time, reply, TimeSpan.FromSeconds(1));

        Assert.That(await reply, Is.EqualTo("-ERR timeout"));
        Assert.That(advanced, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(10)), "the default timeout is 10 s");
        Assert.That(await client.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Silent_connection_gets_timeout_after_the_configured_time()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:FirstLineTimeout"] = "00:00:03" }, time);
        using var client = await ConnectAsync();

        var reply = client.ReadLineAsync();
        var advanced = await AdvanceUntilAsync(time, reply, TimeSpan.FromMilliseconds(250));

        Assert.That(await reply, Is.EqualTo("-ERR timeout"));
        Assert.That(advanced, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(3)));
    }

    [Test]
    public async Task Line_sent_slowly_in_pieces_within_the_timeout_is_accepted()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?>(), time);
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        using var responder = await ConnectAsync();

        await responder.SendAsync("R");
        time.Advance(TimeSpan.FromSeconds(3));
        await responder.SendAsync(cookie[..10]);
        time.Advance(TimeSpan.FromSeconds(3));
        await responder.SendAsync(cookie[10..]);
        time.Advance(TimeSpan.FromSeconds(3));
        await responder.SendAsync("\n");
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);

        // Once parked, the first-line timer no longer applies.
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.That(await responder.StaysQuietAsync(), Is.True);
        Assert.That(Server.Broker.ParkedCount, Is.EqualTo(1));

        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
    }

    [Test]
    public async Task Slow_reader_stalls_the_writer_and_every_byte_still_arrives_intact()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxBufferedBytesPerDirection"] = "65536" });
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            const int Total = 64 * 1024 * 1024;
            const int Chunk = 64 * 1024;
            var payload = RandomNumberGenerator.GetBytes(Total);
            long sent = 0;
            var sending = Task.Run(async () =>
            {
                for (var offset = 0; offset < Total; offset += Chunk)
                {
                    await initiator.SendAsync(payload.AsMemory(offset, Chunk));
                    Interlocked.Add(ref sent, Chunk);
                }

                initiator.ShutdownSend();
            });

            // The responder reads nothing: the writer must come to a halt well before it is done.
            var stalledAt = await WaitForStallAsync(() => Interlocked.Read(ref sent), TimeSpan.FromMilliseconds(500));
            await TestContext.Out.WriteLineAsync($"Writer stalled after {stalledAt:N0} of {Total:N0} bytes.");
            Assert.That(sending.IsCompleted, Is.False, "the writer stalled");
            Assert.That(stalledAt, Is.LessThan(Total / 2), "kernel buffers plus the server's bounded buffers");

            var (received, hash) = await ReadAllAndHashAsync(responder);
            await sending.WaitAsync(TestTimeouts.Long);

            Assert.That(received, Is.EqualTo(Total));
            Assert.That(hash, Is.EqualTo(SHA256.HashData(payload)));
        }
    }

    /// <summary>Polls a progress counter until it has not moved for <paramref name="quiet"/>; returns its value.</summary>
    private static async Task<long> WaitForStallAsync(Func<long> progress, TimeSpan quiet)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Long);
        var last = progress();
        var since = DateTime.UtcNow;
        while (true)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), cts.Token);
            var now = progress();
            if (now != last)
            {
                last = now;
                since = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - since >= quiet)
            {
                return now;
            }
        }
    }

    private static async Task<(long Count, byte[] Hash)> ReadAllAndHashAsync(LoopbackClient client)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Long);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        long count = 0;
        while (true)
        {
            var read = await client.Socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                return (count, hash.GetHashAndReset());
            }

            hash.AppendData(buffer, 0, read);
            count += read;
        }
    }
}
