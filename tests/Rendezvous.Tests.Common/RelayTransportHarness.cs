using Rendezvous.Protocol.Transport;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A listener of one transport on 127.0.0.1 (port 0) with the loopback clients and server-side connections a test
/// accepted through it; disposing it closes them all, each close bounded in time.
/// </summary>
public sealed class RelayTransportHarness : IAsyncDisposable
{
    private readonly List<LoopbackClient> _clients = [];
    private readonly List<RelayConnection> _connections = [];

    private RelayTransportHarness(IRelayListener listener)
    {
        Listener = listener;
    }

    /// <summary>The listener.</summary>
    public IRelayListener Listener { get; }

    /// <summary>Binds a listener of <paramref name="transport"/> (skipping the test where it cannot run).</summary>
    public static async Task<RelayTransportHarness> StartAsync(RelayTransport transport, SocketTransportOptions? options = null)
    {
        RelayTransports.AssumeSupported(transport);
        return new RelayTransportHarness(await RelayTransports.BindAsync(transport, options));
    }

    /// <summary>Connects a client and accepts its server side; both are closed with the harness.</summary>
    public async Task<(LoopbackClient Client, RelayConnection Server)> AcceptAsync(int? receiveBufferSize = null)
    {
        var (client, server) = await RelayTransports.AcceptAsync(Listener, receiveBufferSize);
        _clients.Add(client);
        _connections.Add(server);
        return (client, server);
    }

    /// <summary>Waits until <paramref name="connection"/>'s input holds <paramref name="count"/> bytes, and leaves them unread and unexamined (as the handler's watch leaves early bytes).</summary>
    public static async Task WaitUntilUnreadAsync(RelayConnection connection, int count)
    {
        ArgumentNullException.ThrowIfNull(connection);
        using var timeout = new CancellationTokenSource(TestTimeouts.Short);
        while (true)
        {
            var result = await connection.Input.ReadAsync(timeout.Token);
            if (result.Buffer.Length >= count)
            {
                connection.Input.AdvanceTo(result.Buffer.Start);
                return;
            }

            connection.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Waits until <paramref name="connection"/>'s input has ended, leaving what it holds unread.</summary>
    public static async Task WaitUntilCompletedAsync(RelayConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        using var timeout = new CancellationTokenSource(TestTimeouts.Short);
        while (true)
        {
            var result = await connection.Input.ReadAsync(timeout.Token);
            connection.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        foreach (var connection in _connections)
        {
            await connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
        }

        _clients.Clear();
        _connections.Clear();
        await Listener.DisposeAsync();
    }
}
