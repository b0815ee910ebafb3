using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Transport;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>
/// The end of a spliced session (issue 11, point 6): the relay closes no socket, and calls no session <c>completed</c>,
/// while bytes it accepted for a peer are unacknowledged by it (Rendezvous:Relay:CloseLinger); a peer that takes
/// nothing within the linger makes the session <c>truncated</c>; and the kernel holds little unsent per socket
/// (Rendezvous:Relay:MaxUnsentBytesPerSocket), so backpressure stays in the relay. Once per transport.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class SessionEndTests(RelayTransport transport) : ServerTestBase(transport)
{
    /// <summary>A receive buffer so small that the reader's kernel takes only a few KiB of what the relay sends.</summary>
    private const int SmallReceiveBuffer = 4096;

    /// <summary>What the slow reader leaves unread at first: more than its kernel takes, less than the relay's kernel may hold.</summary>
    private const int Tail = 64 * 1024;

    [Test]
    public async Task A_session_is_completed_only_once_a_slow_reader_was_sent_every_byte_and_it_gets_them_all()
    {
        using var sessions = TaggedCounterListener.SessionEnds(Server.Services);
        var payload = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var (reader, writer, uuid) = await PairSlowReaderAsync();
        using var _ = reader;
        using var __ = writer;

        // The writer sends 3 MiB and ends; the reader takes all but the tail, which the relay then holds.
        var writing = Task.Run(async () =>
        {
            await writer.SendAsync(payload);
            writer.ShutdownSend();
        });
        var head = await reader.ReadExactlyAsync(payload.Length - Tail);
        await writing.WaitAsync(TestTimeouts.Long);
        await WaitUntilAsync(() => Server.Broker.Activity.Get(uuid).BytesRelayed == payload.Length, TestTimeouts.Long);

        // Both directions have ended, but the tail is still the relay's: the session is not over.
        var completed = sessions.Counted("completed");
        Assert.That(await Task.WhenAny(completed, Task.Delay(TestTimeouts.Quiet)), Is.Not.SameAs(completed), "the session ended while the reader had not been sent its last bytes");

        var tail = await reader.ReadToEndAsync();
        await completed.WaitAsync(TestTimeouts.Short);
        Assert.That(head.Length + tail.Length, Is.EqualTo(payload.Length));
        Assert.That(SHA256.HashData([.. head, .. tail]), Is.EqualTo(SHA256.HashData(payload)));
        Assert.That(sessions.Count("truncated"), Is.Zero);
        Assert.That(await writer.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task A_reader_that_takes_nothing_makes_the_session_truncated_once_the_linger_runs_out_and_gets_a_reset()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:CloseLinger"] = "00:00:05" }, time);
        using var sessions = TaggedCounterListener.SessionEnds(Server.Services);
        var (reader, writer, uuid) = await PairSlowReaderAsync();
        using var _ = reader;
        using var __ = writer;

        await writer.SendAsync(RandomNumberGenerator.GetBytes(Tail));
        writer.ShutdownSend();
        await WaitUntilAsync(() => Server.Broker.Activity.Get(uuid).BytesRelayed == Tail, TestTimeouts.Long);

        var truncated = sessions.Counted("truncated");
        var advanced = await AdvanceUntilAsync(time, truncated, TimeSpan.FromSeconds(1));

        Assert.That(advanced, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(sessions.Count("truncated"), Is.EqualTo(1));
        Assert.That(sessions.Count("completed"), Is.Zero);
        Assert.That(await reader.WaitForEndAsync(), Is.EqualTo(PeerEnd.Reset), "the reader learns its stream was cut");
        Assert.That(await writer.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed), "the writer was sent everything: a clean close");
        await WaitUntilAsync(() => Server.Broker.Activity.Get(uuid).LiveSessions == 0);
    }

    [Test]
    public async Task Accepted_relay_sockets_hold_at_most_1_MiB_unsent_in_the_kernel_by_default()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "TCP_NOTSENT_LOWAT exists on Linux and macOS only");
        Assert.That(await ServerSideUnsentLimitAsync(), Is.EqualTo(1024 * 1024));
    }

    [Test]
    public async Task Accepted_relay_sockets_hold_the_configured_unsent_bytes_or_the_kernels_default_with_zero()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "TCP_NOTSENT_LOWAT exists on Linux and macOS only");
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxUnsentBytesPerSocket"] = "262144" });
        Assert.That(await ServerSideUnsentLimitAsync(), Is.EqualTo(256 * 1024));

        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxUnsentBytesPerSocket"] = "0" });
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.That(await ServerSideUnsentLimitAsync(), Is.EqualTo(UnsentLimit(probe)));
    }

    [Test]
    public void Close_linger_and_unsent_bytes_out_of_range_are_reported_with_the_key_and_the_accepted_range()
    {
        var result = new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions
        {
            CloseLinger = TimeSpan.FromSeconds(-1),
            MaxUnsentBytesPerSocket = 1000,
        });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Is.EquivalentTo(new[]
        {
            "Rendezvous:Relay:CloseLinger is -00:00:01; it must be between 00:00:00 and 00:10:00.",
            "Rendezvous:Relay:MaxUnsentBytesPerSocket is 1000; it must be 0 (the kernel's choice) or between 4096 and 67108864.",
        }));
        Assert.That(
            new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { CloseLinger = TimeSpan.Zero, MaxUnsentBytesPerSocket = 0 }).Succeeded,
            Is.True);
    }

    /// <summary>
    /// Parks a writer (responder) for a fresh UUID and pairs a reader (initiator) with a small receive buffer; both
    /// have read their <c>+OK</c>, and the reader has ended its sending direction (it only reads).
    /// </summary>
    private async Task<(LoopbackClient Reader, LoopbackClient Writer, string Uuid)> PairSlowReaderAsync()
    {
        var uuid = Guid.NewGuid().ToString();
        var cookie = await RegisterAsync(uuid);
        var writer = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "R" + cookie);
        await WaitUntilAsync(() => Server.Broker.ParkedCount > 0);
        var reader = await LoopbackClient.ConnectAsync(Server.RelayEndPoint, receiveBufferSize: SmallReceiveBuffer);
        await reader.SendAsync(InitiatorLine(cookie) + "\n");
        Assert.That(await reader.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await writer.ReadLineAsync(), Is.EqualTo("+OK"));
        reader.ShutdownSend();
        return (reader, writer, uuid);
    }

    /// <summary>TCP_NOTSENT_LOWAT (Linux: 25, macOS: 0x201).</summary>
    private static int NotSentLowWatermark => OperatingSystem.IsMacOS() ? 0x201 : 25;

    /// <summary>TCP_NOTSENT_LOWAT of <paramref name="socket"/>.</summary>
    private static int UnsentLimit(Socket socket)
    {
        var value = new byte[sizeof(int)];
        socket.GetRawSocketOption((int)ProtocolType.Tcp, NotSentLowWatermark, value);
        return BitConverter.ToInt32(value);
    }

    /// <summary>Connects a client and reads TCP_NOTSENT_LOWAT back from the server's end of that connection.</summary>
    private async Task<int> ServerSideUnsentLimitAsync()
    {
        var seen = new TaskCompletionSource<(RelayTransport Transport, int Limit)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = Server.Services.GetServices<IHostedService>().OfType<RelayListenerService>().Single();
        listener.ConnectionAccepted = connection =>
            seen.TrySetResult((RelayTransports.Of(connection), RelayTransports.GetRawOption(connection, (int)ProtocolType.Tcp, NotSentLowWatermark) ?? -1));
        using var client = await ConnectAsync();
        var (accepted, limit) = await seen.Task.WaitAsync(TestTimeouts.Short);
        Assert.That(accepted, Is.EqualTo(Transport), "the server listens with the fixture's transport");
        return limit;
    }
}
