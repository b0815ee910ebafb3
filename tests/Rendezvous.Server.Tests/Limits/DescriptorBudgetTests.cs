using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Transport;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Limits;

/// <summary>
/// The listeners' caps fit in the process's descriptor limit (lowered with a warning naming the numbers, or refused),
/// and a failing accept loop backs off and logs once per interval with the error's right name, over each real transport too.
/// </summary>
public sealed class DescriptorBudgetTests
{
    private static readonly DescriptorReservation Admin = new("the admin listener", 100);

    [Test]
    public void Caps_that_fit_in_the_limit_are_kept_without_a_warning()
    {
        var fitted = ConnectionCaps.Fit(limit: 30_000, reserve: 500, relay: 20_000, registrar: 1000, registrarPerAddress: 64, [Admin]);

        Assert.That(fitted, Is.EqualTo(new ConnectionCaps.Fitted(20_000, 1000, 64, null)));
    }

    [Test]
    public void Caps_are_kept_when_the_limit_is_unknown()
    {
        var fitted = ConnectionCaps.Fit(limit: null, reserve: 500, relay: 20_000, registrar: 1000, registrarPerAddress: 64, []);

        Assert.That(fitted.Warning, Is.Null);
        Assert.That(fitted.Relay, Is.EqualTo(20_000));
    }

    [Test]
    public void Caps_over_the_limit_are_lowered_in_proportion_with_a_warning_naming_every_number_and_the_fix()
    {
        var fitted = ConnectionCaps.Fit(limit: 4096, reserve: 400, relay: 20_000, registrar: 1000, registrarPerAddress: 64, [Admin]);

        Assert.Multiple(() =>
        {
            // 4096 - 400 - 100 = 3596 left, shared 20:1.
            Assert.That(fitted.Relay, Is.EqualTo(3424));
            Assert.That(fitted.Registrar, Is.EqualTo(172));
            Assert.That(fitted.Relay + fitted.Registrar + 100 + 400, Is.LessThanOrEqualTo(4096));
            Assert.That(fitted.RegistrarPerAddress, Is.EqualTo(64));
            Assert.That(fitted.Warning, Is.EqualTo(
                "Lowered Rendezvous:Relay:MaxConnections from 20000 to 3424, Rendezvous:RegistrarMaxConnections from 1000 to 172: "
                + "Rendezvous:Relay:MaxConnections 20000 + Rendezvous:RegistrarMaxConnections 1000 + 100 for the admin listener "
                + "+ 400 kept for files and the runtime = 21500, more than the process's descriptor limit (RLIMIT_NOFILE) of 4096. "
                + "To keep the configured caps, raise the limit (LimitNOFILE= in the systemd unit, ulimit -n or prlimit --nofile "
                + "in a shell, nofile in Docker's --ulimit) or lower the caps."));
        });
    }

    [Test]
    public void The_per_address_cap_is_lowered_to_the_lowered_registrar_cap()
    {
        var fitted = ConnectionCaps.Fit(limit: 600, reserve: 400, relay: 1000, registrar: 1000, registrarPerAddress: 64, []);

        Assert.Multiple(() =>
        {
            Assert.That(fitted.Relay, Is.EqualTo(100));
            Assert.That(fitted.Registrar, Is.EqualTo(100));
            Assert.That(fitted.RegistrarPerAddress, Is.EqualTo(64));
        });
        var smaller = ConnectionCaps.Fit(limit: 500, reserve: 400, relay: 90, registrar: 90, registrarPerAddress: 64, []);
        Assert.That(smaller.RegistrarPerAddress, Is.EqualTo(50));
        Assert.That(smaller.Warning, Does.Contain("Rendezvous:RegistrarMaxConnectionsPerAddress from 64 to 50"));
    }

    [Test]
    public void A_limit_that_leaves_too_few_connections_is_refused_naming_the_limit_and_how_to_raise_it()
    {
        var refusal = Assert.Throws<InvalidOperationException>(() =>
            ConnectionCaps.Fit(limit: 512, reserve: 400, relay: 20_000, registrar: 1000, registrarPerAddress: 64, [Admin]));

        Assert.That(refusal!.Message, Does.StartWith("The process's descriptor limit (RLIMIT_NOFILE) is 512, too low: "));
        Assert.That(refusal.Message, Does.Contain("would leave 12 connections (at least 64 are needed)"));
        Assert.That(refusal.Message, Does.Contain("LimitNOFILE="));
        Assert.That(refusal.Message, Does.Contain("ulimit -n"));
    }

    [Test]
    public void The_server_logs_the_lowering_once_and_its_listeners_use_the_lowered_caps()
    {
        using var logs = new LogCapture();
        var caps = new ConnectionCaps(
            Options.Create(new RendezvousServerOptions()),
            Options.Create(new RendezvousRelayOptions()),
            [Admin],
            logs.CreateLogger<ConnectionCaps>(),
            descriptorLimit: 2048,
            openDescriptors: 200);

        caps.Apply();
        caps.Apply();

        Assert.Multiple(() =>
        {
            Assert.That(caps.RelayMaxConnections + caps.RegistrarMaxConnections, Is.EqualTo(2048 - 200 - ConnectionCaps.Margin - 100));
            Assert.That(logs.Records.Count(r => r.Level == LogLevel.Warning), Is.EqualTo(1));
            Assert.That(logs.AllText, Does.Contain("more than the process's descriptor limit (RLIMIT_NOFILE) of 2048"));
        });
    }

    [Test]
    public void The_descriptor_limit_of_this_process_is_read_on_linux()
    {
        Assume.That(OperatingSystem.IsLinux(), "read from /proc/self/limits");

        Assert.That(DescriptorLimit.Read(), Is.GreaterThan(0));
        Assert.That(DescriptorLimit.CountOpen(), Is.GreaterThan(3));
    }

    [Test]
    public async Task Failed_accepts_back_off_and_are_logged_once_per_interval_with_emfile_named_right_and_no_stack_trace()
    {
        Assume.That(OperatingSystem.IsLinux(), "EMFILE and ENFILE are told apart from /proc");
        using var logs = new LogCapture();
        var start = DateTimeOffset.UtcNow;
        var time = new TimerWatchingTimeProvider(start);
        var transport = new InMemoryRelayTransport();
        await using var listener = await ((IRelayListenerFactory)transport).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var logger = logs.CreateLogger<RelayListenerService>();
        await transport.FailAcceptsAsync(new SocketException((int)SocketError.TooManyOpenSockets), 150);
        using var stop = new CancellationTokenSource();
        var loop = RelayAcceptLoop.RunAsync(listener, _ => false, (ex, failures) => AcceptFailures.Report(logger, ex, failures), timeProvider: time, cancellationToken: stop.Token);

        // 15 s of failing accepts, one per retry: a line at the first, one 10 s later with the count in between.
        for (var i = 0; i < 150; i++)
        {
            await time.WaitForTimerDueAtAsync(start + (RelayAcceptLoop.RetryDelay * (i + 1)), $"the wait after failed accept {i + 1}");
            time.Advance(RelayAcceptLoop.RetryDelay);
        }

        await stop.CancelAsync();
        await loop.WaitAsync(TestTimeouts.Short);
        var lines = logs.Records.Where(r => r.EventId.Name == "AcceptFailed").ToList();
        Assert.That(lines, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(lines.All(l => l.Exception is null), Is.True, "no stack trace");
            Assert.That(lines[0].Message, Does.StartWith("Accepting rendezvous connections failed (EMFILE: this process's descriptor limit (RLIMIT_NOFILE) is reached): 1 failed accepts"));
            Assert.That(lines[1].Message, Does.Contain(": 100 failed accepts since the last report"));
            Assert.That(logs.AllText, Does.Not.Contain("in system"));
        });
    }

    [TestCase(RelayTransport.Socket)]
    [TestCase(RelayTransport.Epoll)]
    [NonParallelizable]
    public async Task A_real_listener_out_of_descriptors_logs_emfile_and_accepts_the_queued_connection_once_descriptors_free_up(RelayTransport transport)
    {
        Assume.That(OperatingSystem.IsLinux(), "the descriptor limit is lowered with prlimit");
        RelayTransports.AssumeSupported(transport);
        using var logs = new LogCapture();
        var logger = logs.CreateLogger<RelayListenerService>();
        await using var listener = await RelayTransports.BindAsync(transport);
        using var client = await LoopbackClient.ConnectAsync((IPEndPoint)listener.LocalEndPoint);
        var accepted = new TaskCompletionSource<RelayConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();
        Task loop;

        var exhaustion = await DescriptorExhaustion.StartAsync();
        try
        {
            loop = RelayAcceptLoop.RunAsync(
                listener,
                accepted.TrySetResult,
                (ex, failures) =>
                {
                    AcceptFailures.Report(logger, ex, failures);
                    failed.TrySetResult();
                },
                cancellationToken: stop.Token);
            await failed.Task.WaitAsync(TestTimeouts.Short);
        }
        finally
        {
            await exhaustion.DisposeAsync();
        }

        // The loop retries after its delay on the system clock and takes the connection that stayed queued.
        await using var connection = await accepted.Task.WaitAsync(TestTimeouts.Short);
        await stop.CancelAsync();
        await loop.WaitAsync(TestTimeouts.Short);
        Assert.That(RelayTransports.Of(connection), Is.EqualTo(transport));
        var line = logs.Records.First(r => r.EventId.Name == "AcceptFailed");
        Assert.Multiple(() =>
        {
            Assert.That(line.Message, Does.StartWith("Accepting rendezvous connections failed (EMFILE: this process's descriptor limit (RLIMIT_NOFILE) is reached)"));
            Assert.That(line.Exception, Is.Null, "no stack trace");
        });
        client.ShutdownSend();
    }
}
