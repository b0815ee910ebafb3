using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Transport;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>
/// Rendezvous:Relay:KeepAlive*: the server's accepted relay sockets send TCP keep-alive probes, so a peer that
/// vanished without a FIN or a reset does not hold a parked or spliced connection for ever; once per transport.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class KeepAliveTests(RelayTransport transport) : ServerTestBase(transport)
{
    private sealed record KeepAliveSettings(bool On, int Time, int Interval, int Count);

    /// <summary>Connects a client and reads the keep-alive options back from the server's end of that connection.</summary>
    private async Task<KeepAliveSettings> ServerSideKeepAliveAsync()
    {
        var seen = new TaskCompletionSource<KeepAliveSettings>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = Server.Services.GetServices<IHostedService>().OfType<RelayListenerService>().Single();
        var transports = new List<RelayTransport>();
        listener.ConnectionAccepted = connection =>
        {
            lock (transports)
            {
                transports.Add(RelayTransports.Of(connection));
            }

            seen.TrySetResult(new KeepAliveSettings(
                RelayTransports.GetOption(connection, SocketOptionLevel.Socket, SocketOptionName.KeepAlive) is int on && on != 0,
                RelayTransports.GetOption(connection, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime) ?? -1,
                RelayTransports.GetOption(connection, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval) ?? -1,
                RelayTransports.GetOption(connection, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount) ?? -1));
        };

        using var client = await ConnectAsync();
        var settings = await seen.Task.WaitAsync(TestTimeouts.Short);
        lock (transports)
        {
            Assert.That(transports, Is.All.EqualTo(Transport), "the server listens with the fixture's transport");
        }

        return settings;
    }

    [Test]
    public async Task Accepted_relay_sockets_have_keep_alive_after_60_seconds_then_6_probes_10_seconds_apart_by_default()
    {
        Assert.That(await ServerSideKeepAliveAsync(), Is.EqualTo(new KeepAliveSettings(true, 60, 10, 6)));
    }

    [Test]
    public async Task Accepted_relay_sockets_have_the_configured_keep_alive()
    {
        await RestartServerAsync(new Dictionary<string, string?>
        {
            ["Rendezvous:Relay:KeepAliveTime"] = "00:00:30",
            ["Rendezvous:Relay:KeepAliveInterval"] = "00:00:05",
            ["Rendezvous:Relay:KeepAliveRetryCount"] = "3",
        });

        Assert.That(await ServerSideKeepAliveAsync(), Is.EqualTo(new KeepAliveSettings(true, 30, 5, 3)));
    }

    [Test]
    public async Task Keep_alive_can_be_turned_off()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:KeepAlive"] = "false" });

        Assert.That((await ServerSideKeepAliveAsync()).On, Is.False);
    }

    [Test]
    public void Keep_alive_settings_out_of_range_are_reported_with_the_key_and_the_accepted_range()
    {
        var result = new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions
        {
            KeepAliveTime = TimeSpan.Zero,
            KeepAliveInterval = TimeSpan.FromMilliseconds(2500),
            KeepAliveRetryCount = 128,
        });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Has.Some.EqualTo("Rendezvous:Relay:KeepAliveTime is 00:00:00; it must be whole seconds between 00:00:01 and 09:06:07."));
        Assert.That(result.Failures, Has.Some.EqualTo("Rendezvous:Relay:KeepAliveInterval is 00:00:02.5000000; it must be whole seconds between 00:00:01 and 09:06:07."));
        Assert.That(result.Failures, Has.Some.EqualTo("Rendezvous:Relay:KeepAliveRetryCount is 128; it must be between 1 and 127."));
    }
}
