using System.Globalization;
using System.Net;
using System.Net.Sockets;
using NUnit.Framework;
using Rendezvous.Protocol.Transport;
using Rendezvous.Protocol.Transport.Epoll;

namespace Rendezvous.Tests.Common;

/// <summary>
/// The relay's transports for fixtures that run once per transport
/// (<c>[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]</c>): the listener factory of each,
/// the server setting that picks it, and socket options read back from an accepted connection whatever its transport.
/// </summary>
public static class RelayTransports
{
    /// <summary>The configuration key a server picks its transport with.</summary>
    public const string SettingKey = "Rendezvous:Relay:Transport";

    /// <summary>Every concrete transport: the portable socket one and the Linux-native epoll one.</summary>
    public static readonly RelayTransport[] All = [RelayTransport.Socket, RelayTransport.Epoll];

    /// <summary>Skips the test (inconclusive) where <paramref name="transport"/> cannot run, i.e. epoll off Linux x86-64/ARM64.</summary>
    public static void AssumeSupported(RelayTransport transport) =>
        Assume.That(transport != RelayTransport.Epoll || EpollRelayListenerFactory.IsSupported, "the epoll transport runs on Linux on x86-64 or ARM64 only");

    /// <summary>The listener factory of <paramref name="transport"/>.</summary>
    public static IRelayListenerFactory CreateFactory(RelayTransport transport, SocketTransportOptions? options = null, int backlog = 4096) => transport switch
    {
        RelayTransport.Socket => new SocketRelayListenerFactory(options, backlog),
        RelayTransport.Epoll => new EpollRelayListenerFactory(options, backlog),
        _ => throw new ArgumentOutOfRangeException(nameof(transport), transport, "Pick a concrete transport: Socket or Epoll."),
    };

    /// <summary>Binds a listener of <paramref name="transport"/> on <paramref name="endPoint"/> (127.0.0.1, port 0 when <see langword="null"/>).</summary>
    public static async Task<IRelayListener> BindAsync(RelayTransport transport, SocketTransportOptions? options = null, IPEndPoint? endPoint = null, int backlog = 4096) =>
        await CreateFactory(transport, options, backlog).BindAsync(endPoint ?? new IPEndPoint(IPAddress.Loopback, 0)).AsTask().WaitAsync(TestTimeouts.Short);

    /// <summary>The setting that makes a server listen with <paramref name="transport"/>.</summary>
    public static Dictionary<string, string?> Settings(RelayTransport transport, IDictionary<string, string?>? more = null)
    {
        var settings = more is null ? [] : new Dictionary<string, string?>(more);
        settings[SettingKey] = transport.ToString();
        return settings;
    }

    /// <summary>The transport <paramref name="connection"/> belongs to.</summary>
    public static RelayTransport Of(RelayConnection connection) => connection switch
    {
        SocketRelayConnection => RelayTransport.Socket,
        EpollRelayConnection => RelayTransport.Epoll,
        _ => throw new ArgumentException($"{connection?.GetType().Name} is not a connection of a socket transport.", nameof(connection)),
    };

    /// <summary>Connects a loopback client to <paramref name="listener"/> and accepts its server side.</summary>
    public static async Task<(LoopbackClient Client, RelayConnection Server)> AcceptAsync(IRelayListener listener, int? receiveBufferSize = null)
    {
        var accepting = listener.AcceptAsync().AsTask();
        var client = await LoopbackClient.ConnectAsync((IPEndPoint)listener.LocalEndPoint, receiveBufferSize: receiveBufferSize);
        try
        {
            var server = await accepting.WaitAsync(TestTimeouts.Short) ?? throw new InvalidOperationException("The listener was disposed.");
            return (client, server);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads an integer option of the socket behind a server-side <paramref name="connection"/> of either transport, by
    /// the operating system's own level and name (e.g. <c>IPPROTO_TCP</c> 6, <c>TCP_NOTSENT_LOWAT</c> 25 on Linux);
    /// <see langword="null"/> once the connection closed its socket.
    /// </summary>
    public static int? GetRawOption(RelayConnection connection, int level, int name)
    {
        ArgumentNullException.ThrowIfNull(connection);
        switch (connection)
        {
            case SocketRelayConnection socketConnection:
                var value = new byte[sizeof(int)];
                try
                {
                    return socketConnection.Socket.GetRawSocketOption(level, name, value) >= sizeof(int) ? BitConverter.ToInt32(value) : null;
                }
                catch (ObjectDisposedException)
                {
                    return null;
                }

            case EpollRelayConnection epollConnection:
                return epollConnection.GetOption(level, name);
            default:
                throw new ArgumentException($"{connection.GetType().Name} is not a connection of a socket transport.", nameof(connection));
        }
    }

    /// <summary>
    /// Reads an integer option named the .NET way (<see cref="SocketOptionName.KeepAlive"/>,
    /// <see cref="SocketOptionName.TcpKeepAliveTime"/>, ...) from a server-side <paramref name="connection"/> of either
    /// transport. The epoll transport runs on Linux only, so its options are read by their Linux numbers.
    /// </summary>
    public static int? GetOption(RelayConnection connection, SocketOptionLevel level, SocketOptionName name)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection is SocketRelayConnection socketConnection)
        {
            try
            {
                return (int?)socketConnection.Socket.GetSocketOption(level, name);
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
        }

        var (linuxLevel, linuxName) = (level, name) switch
        {
            (SocketOptionLevel.Socket, SocketOptionName.KeepAlive) => (1, 9),
            (SocketOptionLevel.Socket, SocketOptionName.ReceiveBuffer) => (1, 8),
            (SocketOptionLevel.Socket, SocketOptionName.SendBuffer) => (1, 7),
            (SocketOptionLevel.Tcp, SocketOptionName.NoDelay) => (6, 1),
            (SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime) => (6, 4),
            (SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval) => (6, 5),
            (SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount) => (6, 6),
            _ => throw new ArgumentException($"No Linux number known for {level}/{name}; use {nameof(GetRawOption)}.", nameof(name)),
        };
        return GetRawOption(connection, linuxLevel, linuxName);
    }

    /// <summary>
    /// The most a TCP socket's kernel buffers may grow to by autotuning (Linux: the third field of
    /// /proc/sys/net/ipv4/tcp_rmem and tcp_wmem), or null elsewhere. A relay that never reads ahead still lets the
    /// kernels hold this much per socket: on a machine with tcp_rmem's maximum at 32 MiB, 40 MiB can sit in the
    /// kernels between a writer and a reader that stopped.
    /// </summary>
    public static (long Receive, long Send)? KernelTcpBufferLimits()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        static long Maximum(string name) =>
            long.Parse(File.ReadAllText($"/proc/sys/net/ipv4/{name}").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[2], CultureInfo.InvariantCulture);

        return (Maximum("tcp_rmem"), Maximum("tcp_wmem"));
    }

    /// <summary>How many descriptors this process has open (Linux: the entries of /proc/self/fd).</summary>
    public static int OpenDescriptors() => Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
}
