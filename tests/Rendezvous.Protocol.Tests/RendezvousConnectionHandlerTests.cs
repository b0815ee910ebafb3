using System.Text;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests;

public sealed partial class RendezvousConnectionHandlerTests
{
    private static readonly TimeSpan FirstLineTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    private FakeTimeProvider _time = null!;
    private TestOptionsMonitor<RendezvousRelayOptions> _options = null!;
    private RendezvousBroker _broker = null!;
    private RendezvousMetrics _metrics = null!;
    private RendezvousConnectionHandler _handler = null!;
    private CancellationTokenSource _stop = null!;
    private List<(PipeRelayConnection Connection, Task Handling)> _running = null!;
    private string _cookie = null!;
    private string _initiatorCookie = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider();
        _options = TestOptionsMonitor.Create(new RendezvousRelayOptions { FirstLineTimeout = FirstLineTimeout, InitiatorGracePeriod = Grace });
        _broker = new RendezvousBroker(_options, _time);
        _metrics = new RendezvousMetrics();
        _handler = new RendezvousConnectionHandler(_broker, _options, _time, _metrics);
        _stop = new CancellationTokenSource();
        _running = [];
        _cookie = _broker.Register("uuid-1");
        _initiatorCookie = RendezvousCookies.InitiatorValueFor(_cookie);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _stop.CancelAsync();
        foreach (var (connection, handling) in _running)
        {
            await handling.WaitAsync(TestTimeouts.Short);
            await connection.DisposeAsync();
        }

        _stop.Dispose();
        _metrics.Dispose();
    }

    [Test]
    public async Task Responder_parks_and_an_initiator_pairs_with_it_and_both_read_ok()
    {
        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));

        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");

        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Parked_responder_is_sent_nothing_before_it_is_paired()
    {
        var (responder, handling) = await ConnectAsync("R" + _cookie + "\n");

        Assert.That(responder.PeekUnreadLength(), Is.Zero);
        Assert.That(handling.IsCompleted, Is.False);
    }

    [Test]
    public async Task Paired_connections_relay_bytes_both_ways_after_ok()
    {
        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        await initiator.ReadAsciiAsync(4);
        await responder.ReadAsciiAsync(4);

        await initiator.SendAsync("ping");
        await responder.SendAsync("pong");

        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("ping"));
        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("pong"));
    }

    [Test]
    public async Task A_session_is_counted_for_its_uuid_with_the_bytes_it_relays()
    {
        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        await initiator.ReadAsciiAsync(4);
        await responder.ReadAsciiAsync(4);

        await initiator.SendAsync("ping");
        await responder.ReadAsciiAsync(4);
        await responder.SendAsync("pong!");
        await initiator.ReadAsciiAsync(5);

        Assert.That(() => _broker.Activity.Get("uuid-1").BytesRelayed, Is.EqualTo(9).After(5000, 10));
        Assert.That(_broker.Activity.Get("uuid-1") is { LiveSessions: 1, Sessions: 1 }, Is.True);
        initiator.CompleteSending();
        responder.CompleteSending();
        Assert.That(() => _broker.Activity.Get("uuid-1").LiveSessions, Is.Zero.After(5000, 10));
    }

    [Test]
    public async Task Early_bytes_from_both_sides_arrive_after_ok_unchanged()
    {
        byte[] fromResponder = [0x00, 0xFF, 0x0A, 0x0D, 0x80, 0x42];
        byte[] fromInitiator = [0xFF, 0x00, 0x0A, 0xC3, 0x28, 0x00];
        var (responder, _) = await ConnectAsync([.. Encoding.ASCII.GetBytes("R" + _cookie + "\n"), .. fromResponder]);

        var (initiator, _) = await ConnectAsync([.. Encoding.ASCII.GetBytes("I" + _initiatorCookie + "\n"), .. fromInitiator]);

        Assert.That(await initiator.ReadExactlyAsync(4 + fromResponder.Length), Is.EqualTo((byte[])[.. "+OK\n"u8, .. fromResponder]));
        Assert.That(await responder.ReadExactlyAsync(4 + fromInitiator.Length), Is.EqualTo((byte[])[.. "+OK\n"u8, .. fromInitiator]));
    }

    [Test]
    public async Task Bytes_a_responder_sends_while_parked_arrive_after_ok_unchanged()
    {
        byte[] whileParked = [0x00, 0x01, 0xFE, 0xFF, 0x0A];
        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");
        await responder.SendAsync(whileParked);
        Assert.That(_broker.ParkedCount, Is.EqualTo(1), "bytes while parked do not unpark");

        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");

        Assert.That(await initiator.ReadExactlyAsync(4 + whileParked.Length), Is.EqualTo((byte[])[.. "+OK\n"u8, .. whileParked]));
    }

    [Test]
    public async Task Bytes_an_initiator_sends_while_waiting_arrive_after_ok_unchanged()
    {
        byte[] whileWaiting = [0xFF, 0x00, 0x7F, 0x0A];
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        await initiator.SendAsync(whileWaiting);

        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");

        Assert.That(await responder.ReadExactlyAsync(4 + whileWaiting.Length), Is.EqualTo((byte[])[.. "+OK\n"u8, .. whileWaiting]));
        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task Line_ending_in_carriage_return_newline_pairs()
    {
        var (responder, _) = await ConnectAsync("R" + _cookie + "\r\n");
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\r\n");

        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task Line_arriving_one_byte_at_a_time_pairs()
    {
        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");
        var initiator = new PipeRelayConnection();
        var handling = Start(initiator);

        foreach (var b in Encoding.ASCII.GetBytes("I" + _initiatorCookie + "\n"))
        {
            await initiator.SendAsync(new[] { b });
        }

        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(handling.IsFaulted, Is.False);
    }

    [Test]
    public async Task Session_ends_and_both_connections_close_when_both_sides_half_close()
    {
        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");
        var (initiator, initiating) = await ConnectAsync("I" + _initiatorCookie + "\n");
        await initiator.SendAsync("request");
        initiator.CompleteSending();
        Assert.That(await responder.ReadToEndAsciiAsync(), Is.EqualTo("+OK\nrequest"));

        await responder.SendAsync("reply");
        responder.CompleteSending();

        Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("+OK\nreply"));
        await Task.WhenAll(responding, initiating).WaitAsync(TestTimeouts.Short);
        Assert.That(initiator.WasDisposed && responder.WasDisposed, Is.True);
        Assert.That(initiator.WasAborted || responder.WasAborted, Is.False);
    }

    [Test]
    public async Task Responder_with_unknown_cookie_gets_not_registered_and_is_closed()
    {
        var (responder, handling) = await ConnectAsync("Rnot-a-cookie\n");

        Assert.That(await responder.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not registered\n"));
        await handling.WaitAsync(TestTimeouts.Short);
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Initiator_with_unknown_cookie_gets_not_registered_and_is_closed()
    {
        var (initiator, _) = await ConnectAsync("Inot-a-cookie\n");

        Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not registered\n"));
    }

    [Test]
    public async Task Responder_with_empty_cookie_gets_not_registered()
    {
        var (responder, _) = await ConnectAsync("R\n");

        Assert.That(await responder.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not registered\n"));
    }

    [Test]
    public async Task Responder_with_the_initiator_value_gets_not_registered_and_the_parked_responder_stays()
    {
        var (owner, _) = await ConnectAsync("R" + _cookie + "\n");

        var (attacker, _) = await ConnectAsync("R" + _initiatorCookie + "\n");

        Assert.That(await attacker.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not registered\n"));
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        Assert.That(await owner.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task Initiator_with_the_responder_value_gets_not_registered()
    {
        var (initiator, _) = await ConnectAsync("I" + _cookie + "\n");

        Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not registered\n"));
    }

    [Test]
    public async Task Responder_with_superseded_cookie_gets_not_registered()
    {
        var old = _cookie;
        _broker.Register("uuid-1");

        var (responder, _) = await ConnectAsync("R" + old + "\n");

        Assert.That(await responder.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not registered\n"));
    }

    [Test]
    public async Task Invalid_first_byte_gets_invalid_cookie_and_is_closed()
    {
        var (connection, _) = await ConnectAsync("X" + _cookie + "\n");

        Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR invalid cookie\n"));
    }

    [Test]
    public async Task Invalid_first_byte_is_refused_without_waiting_for_the_line_end()
    {
        var (connection, _) = await ConnectAsync("G");

        Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR invalid cookie\n"));
    }

    [Test]
    public async Task Control_byte_in_cookie_gets_invalid_cookie()
    {
        var (connection, _) = await ConnectAsync("Rab\u0007cd\n");

        Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR invalid cookie\n"));
    }

    [Test]
    public async Task Over_long_line_gets_line_too_long_without_waiting_for_the_line_end()
    {
        var (connection, _) = await ConnectAsync("R" + new string('a', 300));

        Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR line too long\n"));
    }

    [Test]
    public async Task Over_long_line_with_newline_gets_line_too_long()
    {
        var (connection, _) = await ConnectAsync("I" + new string('a', 256) + "\n");

        Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR line too long\n"));
    }

    [Test]
    public async Task No_line_within_the_first_line_timeout_gets_timeout()
    {
        var connection = new PipeRelayConnection();
        var handling = Start(connection);

        _time.Advance(FirstLineTimeout);

        Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR timeout\n"));
        await handling.WaitAsync(TestTimeouts.Short);
    }

    [Test]
    public async Task Partial_line_within_the_first_line_timeout_gets_timeout()
    {
        var (connection, _) = await ConnectAsync("R" + _cookie[..5]);

        _time.Advance(FirstLineTimeout);

        Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR timeout\n"));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Line_arriving_just_before_the_first_line_timeout_is_accepted()
    {
        var connection = new PipeRelayConnection();
        var handling = Start(connection);
        _time.Advance(FirstLineTimeout - TimeSpan.FromMilliseconds(1));

        await connection.SendAsync("R" + _cookie + "\n");
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");

        Assert.That(await connection.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(handling.IsFaulted, Is.False);
    }

    [Test]
    public async Task Line_whose_rest_arrives_after_handling_started_is_accepted()
    {
        var (responder, _) = await ConnectAsync("R" + _cookie[..5]);

        await responder.SendAsync(_cookie[5..] + "\n");
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");

        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task Line_already_received_when_handling_starts_arms_no_first_line_timer()
    {
        var clock = new TimerCountingTimeProvider();
        var handler = new RendezvousConnectionHandler(_broker, _options, clock, _metrics);
        var responder = new PipeRelayConnection();
        await responder.SendAsync("R" + _cookie + "\n");

        var handling = handler.HandleAsync(responder, _stop.Token);
        _running.Add((responder, handling));

        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
        Assert.That(clock.TimersCreated, Is.Zero);
    }

    [Test]
    public async Task Parked_responder_is_not_timed_out_by_the_first_line_timeout()
    {
        var (responder, handling) = await ConnectAsync("R" + _cookie + "\n");

        _time.Advance(FirstLineTimeout * 3);

        Assert.That(handling.IsCompleted, Is.False);
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
        Assert.That(responder.PeekUnreadLength(), Is.Zero);
    }

    [Test]
    public async Task Peer_that_leaves_before_finishing_its_line_is_closed_without_an_answer()
    {
        var (connection, handling) = await ConnectAsync("R" + _cookie);

        connection.CompleteSending();

        await handling.WaitAsync(TestTimeouts.Short);
        Assert.That(await connection.ReadToEndAsync(), Is.Empty);
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Initiator_waits_and_is_paired_when_a_responder_parks_within_grace()
    {
        var (initiator, initiating) = await ConnectAsync("I" + _initiatorCookie + "\n");
        _time.Advance(Grace - TimeSpan.FromMilliseconds(1));
        Assert.That(initiating.IsCompleted, Is.False);

        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");

        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task Initiator_gets_not_ready_when_nothing_parks_within_grace()
    {
        var (initiator, initiating) = await ConnectAsync("I" + _initiatorCookie + "\n");

        _time.Advance(Grace);

        Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not ready\n"));
        await initiating.WaitAsync(TestTimeouts.Short);
    }

    [Test]
    public async Task Parked_responder_whose_peer_closes_is_unparked_and_a_later_initiator_gets_not_ready()
    {
        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");

        responder.CompleteSending();
        await responding.WaitAsync(TestTimeouts.Short);

        Assert.That(_broker.ParkedCount, Is.Zero);
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        _time.Advance(Grace);
        Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not ready\n"));
        Assert.That(responder.WasAborted, Is.True, "a connection unparked for its peer leaving is torn down");
    }

    [Test]
    public async Task Parked_responder_whose_peer_resets_is_unparked_and_a_later_initiator_gets_not_ready()
    {
        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");

        responder.CompleteSending(new IOException("connection reset"));
        await responding.WaitAsync(TestTimeouts.Short);

        Assert.That(_broker.ParkedCount, Is.Zero);
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        _time.Advance(Grace);
        Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not ready\n"));
        Assert.That(responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Parked_responder_whose_peer_closed_after_sending_bytes_is_unparked()
    {
        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");
        await responder.SendAsync("data");

        responder.CompleteSending();
        await responding.WaitAsync(TestTimeouts.Short);

        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Reregistration_closes_the_old_parked_connection()
    {
        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");

        _broker.Register("uuid-1");

        await responding.WaitAsync(TestTimeouts.Short);
        Assert.That(await responder.ReadToEndAsync(), Is.Empty, "closed without a word");
        Assert.That(responder.WasDisposed, Is.True);
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Reregistration_does_not_end_a_session_already_spliced()
    {
        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        await initiator.ReadAsciiAsync(4);
        await responder.ReadAsciiAsync(4);

        _broker.Register("uuid-1");
        await initiator.SendAsync("still here");

        Assert.That(await responder.ReadAsciiAsync(10), Is.EqualTo("still here"));
    }

    [Test]
    public async Task Newer_responder_closes_the_older_one_in_a_pool_of_one()
    {
        var (older, olderHandling) = await ConnectAsync("R" + _cookie + "\n");

        var (newer, _) = await ConnectAsync("R" + _cookie + "\n");

        await olderHandling.WaitAsync(TestTimeouts.Short);
        Assert.That(await older.ReadToEndAsync(), Is.Empty);
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n");
        Assert.That(await newer.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task Stopping_aborts_a_parked_responder_and_unparks_it()
    {
        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");

        await _stop.CancelAsync();

        await responding.WaitAsync(TestTimeouts.Short);
        Assert.That(responder.WasAborted, Is.True);
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Stopping_aborts_a_waiting_initiator()
    {
        var (initiator, initiating) = await ConnectAsync("I" + _initiatorCookie + "\n");

        await _stop.CancelAsync();

        await initiating.WaitAsync(TestTimeouts.Short);
        Assert.That(initiator.WasAborted, Is.True);
    }

    [Test]
    public async Task Stopping_aborts_both_sides_of_a_session()
    {
        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");
        var (initiator, initiating) = await ConnectAsync("I" + _initiatorCookie + "\n");
        await initiator.ReadAsciiAsync(4);

        await _stop.CancelAsync();

        await Task.WhenAll(responding, initiating).WaitAsync(TestTimeouts.Short);
        Assert.That(initiator.WasAborted && responder.WasAborted, Is.True);
    }

    [Test]
    public async Task Initiator_that_resets_while_waiting_stops_waiting_and_a_later_responder_stays_parked()
    {
        var (initiator, initiating) = await ConnectAsync("I" + _initiatorCookie + "\n");

        initiator.CompleteSending(new IOException("connection reset"));
        await initiating.WaitAsync(TestTimeouts.Short);

        var (responder, responding) = await ConnectAsync("R" + _cookie + "\n");
        Assert.That(_broker.ParkedCount, Is.EqualTo(1), "not handed to the initiator that left");
        Assert.That(responding.IsCompleted, Is.False);
        Assert.That(responder.PeekUnreadLength(), Is.Zero);
    }

    [Test]
    public async Task Initiator_that_half_closes_while_waiting_is_still_paired()
    {
        var (initiator, _) = await ConnectAsync("I" + _initiatorCookie + "\n" + "hello");
        initiator.CompleteSending();

        var (responder, _) = await ConnectAsync("R" + _cookie + "\n");

        Assert.That(await responder.ReadToEndAsciiAsync(), Is.EqualTo("+OK\nhello"));
        Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    private Task<(PipeRelayConnection Connection, Task Handling)> ConnectAsync(string firstBytes) =>
        ConnectAsync(Encoding.ASCII.GetBytes(firstBytes));

    /// <summary>Opens a connection whose peer has already sent <paramref name="firstBytes"/>, and starts handling it.</summary>
    private async Task<(PipeRelayConnection Connection, Task Handling)> ConnectAsync(byte[] firstBytes)
    {
        var connection = new PipeRelayConnection();
        await connection.SendAsync(firstBytes);
        return (connection, Start(connection));
    }

    private Task Start(PipeRelayConnection connection)
    {
        var handling = _handler.HandleAsync(connection, _stop.Token);
        _running.Add((connection, handling));
        return handling;
    }

    /// <summary>A fake clock that counts the timers created on it.</summary>
    private sealed class TimerCountingTimeProvider : FakeTimeProvider
    {
        public int TimersCreated { get; private set; }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            TimersCreated++;
            return base.CreateTimer(callback, state, dueTime, period);
        }
    }
}
