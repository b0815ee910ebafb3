using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A local TCP service on 127.0.0.1 (a port chosen by the system), e.g. for <c>expose --to</c>, or a port that is
/// not what a client expects there: each connection is served by <c>serve</c> until it returns, then closed.
/// </summary>
public sealed class LocalTcpService : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<Socket, CancellationToken, Task> _serve;
    private readonly Task _accepting;
    private int _connections;

    private LocalTcpService(Func<Socket, CancellationToken, Task> serve)
    {
        _serve = serve;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The port it listens on.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Echoes every byte; at the client's end of stream, ends its own sending direction.</summary>
    public static LocalTcpService Echo() => new(async (socket, ct) =>
    {
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, ct);
        }

        socket.Shutdown(SocketShutdown.Send);
    });

    /// <summary>Reads to the client's end of stream, then answers the SHA-256 (hex) and length of what it read, then ends.</summary>
    public static LocalTcpService DigestAfterEnd() => new(async (socket, ct) =>
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[16 * 1024];
        long total = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }

        var answer = Encoding.ASCII.GetBytes($"{Convert.ToHexString(hash.GetHashAndReset())} {total}\n");
        await socket.SendAsync(answer, SocketFlags.None, ct);
        socket.Shutdown(SocketShutdown.Send);
    });

    /// <summary>
    /// Not the service the client expects: once the client has sent something (a TLS hello, a line), answers
    /// <paramref name="answer"/> and ends, as a plain-text service, an SSH server or a relay where a registrar was expected.
    /// </summary>
    public static LocalTcpService Answering(byte[] answer) => new(async (socket, ct) =>
    {
        await socket.ReceiveAsync(new byte[4096], SocketFlags.None, ct);
        await socket.SendAsync(answer, SocketFlags.None, ct);
        socket.Shutdown(SocketShutdown.Both);
    });

    /// <summary>Sends <paramref name="greeting"/> and ends its sending direction at once, then reads to the client's end of stream.</summary>
    public static LocalTcpService GreetAndEnd(byte[] greeting) => new(async (socket, ct) =>
    {
        await socket.SendAsync(greeting, SocketFlags.None, ct);
        socket.Shutdown(SocketShutdown.Send);
        var buffer = new byte[16 * 1024];
        while (await socket.ReceiveAsync(buffer, SocketFlags.None, ct) > 0)
        {
        }
    });

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting.WaitAsync(TestTimeouts.Short);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    try
                    {
                        await _serve(socket, _stop.Token);
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
                    {
                    }
                }
            });
        }
    }
}
