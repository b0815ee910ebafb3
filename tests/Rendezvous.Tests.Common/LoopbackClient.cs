using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A raw TCP client for driving the rendezvous port byte by byte: lines, exact reads, half-close
/// and reset. Every read has a timeout.
/// </summary>
public sealed class LoopbackClient : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _one = new byte[1];

    private LoopbackClient(Socket socket)
    {
        _socket = socket;
    }

    /// <summary>The socket, for what the helpers do not cover.</summary>
    public Socket Socket => _socket;

    /// <summary>Connects to <paramref name="endPoint"/>.</summary>
    /// <param name="endPoint">Where to connect.</param>
    /// <param name="localAddress">The address to connect from (e.g. 127.0.0.2, to be another client to the server); any when <see langword="null"/>.</param>
    /// <param name="receiveBufferSize">
    /// SO_RCVBUF, set before connecting so the window is small from the start (a slow reader whose kernel takes little);
    /// the system's when <see langword="null"/>.
    /// </param>
    public static async Task<LoopbackClient> ConnectAsync(IPEndPoint endPoint, IPAddress? localAddress = null, int? receiveBufferSize = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBufferSize is { } size)
            {
                socket.ReceiveBufferSize = size;
            }

            if (localAddress is not null)
            {
                socket.Bind(new IPEndPoint(localAddress, 0));
            }

            await socket.ConnectAsync(endPoint).WaitAsync(TestTimeouts.Short);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new LoopbackClient(socket);
    }

    /// <summary>Connects and sends <c>R&lt;cookie&gt;\n</c> or <c>I&lt;cookie&gt;\n</c> (pass the cookie with its letter).</summary>
    /// <param name="endPoint">Where to connect.</param>
    /// <param name="modeAndCookie">The line without its <c>\n</c>.</param>
    /// <param name="localAddress">The address to connect from; any when <see langword="null"/>.</param>
    public static async Task<LoopbackClient> ConnectWithLineAsync(IPEndPoint endPoint, string modeAndCookie, IPAddress? localAddress = null)
    {
        var client = await ConnectAsync(endPoint, localAddress);
        await client.SendAsync(modeAndCookie + "\n");
        return client;
    }

    /// <summary>Sends ASCII text.</summary>
    public Task SendAsync(string text) => SendAsync(Encoding.ASCII.GetBytes(text));

    /// <summary>Sends bytes.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await _socket.SendAsync(bytes, SocketFlags.None).AsTask().WaitAsync(TestTimeouts.Long);
            bytes = bytes[sent..];
        }
    }

    /// <summary>Reads one line (up to and including <c>\n</c>), returned without the <c>\n</c>; <see langword="null"/> at end of stream.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        var line = new StringBuilder();
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Short);
        while (true)
        {
            var read = await _socket.ReceiveAsync(_one, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                return line.Length == 0 ? null : line.ToString();
            }

            if (_one[0] == (byte)'\n')
            {
                return line.ToString();
            }

            line.Append((char)_one[0]);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; fails on end of stream.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count, TimeSpan? timeout = null)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Long);
        var filled = 0;
        while (filled < count)
        {
            var read = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cts.Token);
            if (read == 0)
            {
                throw new EndOfStreamException($"End of stream after {filled} of {count} bytes.");
            }

            filled += read;
        }

        return buffer;
    }

    /// <summary>Reads until the peer ends its sending direction.</summary>
    public async Task<byte[]> ReadToEndAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Long);
        using var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                return all.ToArray();
            }

            all.Write(buffer, 0, read);
        }
    }

    /// <summary>
    /// Waits for the connection to end: <see cref="PeerEnd.Closed"/> for a FIN, <see cref="PeerEnd.Reset"/>
    /// for a reset. Bytes that arrive first are discarded.
    /// </summary>
    public async Task<PeerEnd> WaitForEndAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Short);
        var buffer = new byte[4096];
        try
        {
            while (await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }

            return PeerEnd.Closed;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return PeerEnd.Reset;
        }
    }

    /// <summary>Whether nothing arrives and the connection stays open for <paramref name="quiet"/>.</summary>
    public async Task<bool> StaysQuietAsync(TimeSpan? quiet = null)
    {
        using var cts = new CancellationTokenSource(quiet ?? TestTimeouts.Quiet);
        try
        {
            await _socket.ReceiveAsync(_one, SocketFlags.None, cts.Token);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    /// <summary>Ends the sending direction (FIN) and keeps receiving.</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>Closes with a reset (linger 0).</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    /// <inheritdoc />
    public void Dispose() => _socket.Dispose();
}

/// <summary>How a peer ended a connection.</summary>
public enum PeerEnd
{
    /// <summary>A clean end of stream (FIN).</summary>
    Closed,

    /// <summary>A reset (RST).</summary>
    Reset,
}
