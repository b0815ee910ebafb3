using System.Net;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// The accounting hook of the transport contract, <see cref="RelayConnection.OnClosed"/>, on each transport taken
/// through the seam: it runs exactly once whichever way the connection ends, and at once when it ended already.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class CloseHookTests(RelayTransport transport)
{
    private IRelayListener _listener = null!;
    private int _closed;

    [SetUp]
    public async Task SetUp()
    {
        RelayTransports.AssumeSupported(transport);
        _listener = await RelayTransports.BindAsync(transport);
        _closed = 0;
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_listener is not null)
        {
            await _listener.DisposeAsync();
        }
    }

    [Test]
    public async Task The_close_hook_runs_once_when_a_connection_is_disposed_and_not_again_on_abort()
    {
        var (client, connection) = await AcceptAsync();
        using (client)
        {
            connection.OnClosed(Closed);
            Assert.That(Volatile.Read(ref _closed), Is.Zero);

            await connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
            connection.Abort();

            Assert.That(Volatile.Read(ref _closed), Is.EqualTo(1));
        }
    }

    [Test]
    public async Task The_close_hook_runs_at_once_when_registered_after_an_abort_and_only_one_may_be_registered()
    {
        var (client, connection) = await AcceptAsync();
        using (client)
        {
            connection.Abort();
            connection.OnClosed(Closed);

            Assert.That(Volatile.Read(ref _closed), Is.EqualTo(1));
            var twice = Assert.Throws<InvalidOperationException>(() => connection.OnClosed(Closed));
            Assert.That(twice!.Message, Does.Contain("one callback per connection"));
            await connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
            Assert.That(Volatile.Read(ref _closed), Is.EqualTo(1));
        }
    }

    [Test]
    public async Task The_listener_factory_rejects_an_endpoint_that_is_not_an_ip_address_naming_it()
    {
        var factory = RelayTransports.CreateFactory(transport);

        var refused = Assert.Throws<ArgumentException>(() => factory.BindAsync(new DnsEndPoint("localhost", 0)));

        Assert.That(refused!.Message, Does.Contain("localhost").And.Contain("IP address and port"));
        await Task.CompletedTask;
    }

    private void Closed() => Interlocked.Increment(ref _closed);

    private async Task<(LoopbackClient Client, RelayConnection Connection)> AcceptAsync() => await RelayTransports.AcceptAsync(_listener);
}
