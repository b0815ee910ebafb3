using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A TCP forwarder on 127.0.0.1 (port chosen by the system) that records every byte it passes, per
/// connection and direction, and counts the connections it accepted. Put it in front of the relay to
/// see what the relay sees, or in front of the registrar to count connection attempts. Half-closes are
/// passed on. <see cref="Target"/> may be set after the proxy starts (e.g. once the server behind it
/// has its ports).
/// </summary>
public sealed class CapturingTcpProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Socket> _sockets = [];
    private readonly ConcurrentBag<Task> _pumps = [];
    private readonly ConcurrentQueue<CapturedConnection> _connections = new();
    private readonly Task _acceptLoop;
    private int _accepted;

    public CapturingTcpProxy(IPEndPoint? target = null)
    {
        Target = target;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = AcceptAsync();
    }

    /// <summary>Where the proxy listens.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Where it forwards to.</summary>
    public IPEndPoint? Target { get; set; }

    /// <summary>
    /// Where it forwards to when <see cref="Target"/> refuses the connection, tried in order: the proxy then stands for
    /// a name with several addresses, whose clients move on to the next one.
    /// </summary>
    public IReadOnlyList<IPEndPoint> Fallbacks { get; set; } = [];

    /// <summary>
    /// Tampers with what connecting sides send, to test that a checker notices: called with each read's offset in its
    /// connection's client-to-server stream and the bytes read (which it may change in place); returns how many of them
    /// to pass on. Fewer than all ends that direction there: the proxy half-closes it and drops the rest.
    /// </summary>
    public Func<long, Memory<byte>, int>? TamperClientToServer { get; set; }

    /// <summary>How many connections it accepted.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>The connections seen so far.</summary>
    public IReadOnlyList<CapturedConnection> Connections => [.. _connections];

    /// <summary>Whether <paramref name="needle"/> occurs in any connection's bytes in either direction.</summary>
    public bool Contains(ReadOnlySpan<byte> needle)
    {
        foreach (var connection in _connections)
        {
            if (connection.ClientToServer.AsSpan().IndexOf(needle) >= 0 || connection.ServerToClient.AsSpan().IndexOf(needle) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>All bytes captured, both directions, every connection.</summary>
    public long TotalBytes => _connections.Sum(c => (long)c.ClientToServer.Length + c.ServerToClient.Length);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _sockets.Add(client);
            _pumps.Add(HandleAsync(client));
        }
    }

    private async Task HandleAsync(Socket client)
    {
        client.NoDelay = true;
        Socket? server = null;
        foreach (var target in Target is null ? [] : (IEnumerable<IPEndPoint>)[Target, .. Fallbacks])
        {
            var attempt = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            _sockets.Add(attempt);
            try
            {
                await attempt.ConnectAsync(target, _stop.Token);
                server = attempt;
                break;
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                attempt.Dispose();
            }
        }

        if (server is null)
        {
            client.Dispose();
            return;
        }

        var connection = new CapturedConnection();
        _connections.Enqueue(connection);
        await Task.WhenAll(
            PumpAsync(client, server, connection.AppendClientToServer, TamperClientToServer),
            PumpAsync(server, client, connection.AppendServerToClient, null));
        client.Dispose();
        server.Dispose();
    }

    private async Task PumpAsync(Socket from, Socket to, Action<ReadOnlySpan<byte>> record, Func<long, Memory<byte>, int>? tamper)
    {
        var buffer = new byte[16 * 1024];
        long offset = 0;
        var dropping = false;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    if (!dropping)
                    {
                        to.Shutdown(SocketShutdown.Send);
                    }

                    return;
                }

                if (dropping)
                {
                    continue;
                }

                var passed = tamper?.Invoke(offset, buffer.AsMemory(0, read)) ?? read;
                offset += read;
                if (passed < read)
                {
                    dropping = true;
                    read = passed;
                }

                record(buffer.AsSpan(0, read));
                var sent = 0;
                while (sent < read)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, _stop.Token);
                }

                if (dropping)
                {
                    to.Shutdown(SocketShutdown.Send);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // One side failed: reset the other, as the relay does.
            try
            {
                to.LingerState = new LingerOption(true, 0);
                to.Close();
                from.Close();
            }
            catch (Exception inner) when (inner is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        await _acceptLoop.WaitAsync(TestTimeouts.Short);
        await Task.WhenAll(_pumps).WaitAsync(TestTimeouts.Short);
        _stop.Dispose();
    }
}

/// <summary>The bytes one proxied connection carried.</summary>
public sealed class CapturedConnection
{
    private readonly Lock _lock = new();
    private readonly MemoryStream _up = new();
    private readonly MemoryStream _down = new();

    /// <summary>What the connecting side sent.</summary>
    public byte[] ClientToServer
    {
        get
        {
            lock (_lock)
            {
                return _up.ToArray();
            }
        }
    }

    /// <summary>What the forwarded-to side sent.</summary>
    public byte[] ServerToClient
    {
        get
        {
            lock (_lock)
            {
                return _down.ToArray();
            }
        }
    }

    internal void AppendClientToServer(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            _up.Write(bytes);
        }
    }

    internal void AppendServerToClient(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            _down.Write(bytes);
        }
    }
}
