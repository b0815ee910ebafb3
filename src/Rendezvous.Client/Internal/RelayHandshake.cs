using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rendezvous.Client.Internal;

/// <summary>The client half of the relay's line handshake, over a raw socket.</summary>
internal static class RelayHandshake
{
    /// <summary>The longest reply line the relay sends (<c>-ERR line too long</c> is 18 bytes).</summary>
    private const int MaxReplyLength = 128;

    /// <summary>Connects to the triple's relay and sends its line (<c>R...</c> or <c>I...</c>).</summary>
    public static async Task<Socket> ConnectAndSendLineAsync(RendezvousTriple triple, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var endPoint = IPAddress.TryParse(triple.Host, out var address)
            ? (EndPoint)new IPEndPoint(address, triple.Port)
            : new DnsEndPoint(triple.Host, triple.Port);
        var socket = address is null
            ? new Socket(SocketType.Stream, ProtocolType.Tcp)
            : new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endPoint, deadline.Token).ConfigureAwait(false);
            var line = Encoding.ASCII.GetBytes(triple.Cookie + "\n");
            await socket.SendAsync(line, SocketFlags.None, deadline.Token).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new RendezvousException(RendezvousError.Timeout, $"Connecting to the relay at {triple} took longer than {timeout.TotalSeconds:0.#} s.", ex);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new RendezvousException(RendezvousError.Transport, $"The relay at {triple} could not be reached: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the relay's one reply line (<c>+OK</c> or <c>-ERR ...</c>) a byte at a time, so not one byte
    /// of the session after it is consumed. <see langword="null"/> when the relay closed before sending
    /// anything; what it sent, when it closed before a line end (e.g. a TLS alert from a port that is not
    /// a relay). Bytes are kept as they are (Latin-1), for <see cref="Refusal"/> to show.
    /// </summary>
    public static async Task<string?> ReadReplyAsync(Socket socket, CancellationToken cancellationToken)
    {
        var line = new byte[MaxReplyLength];
        var length = 0;
        while (length < line.Length)
        {
            var read = await socket.ReceiveAsync(line.AsMemory(length, 1), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return length == 0 ? null : Encoding.Latin1.GetString(line, 0, length);
            }

            if (line[length] == (byte)'\n')
            {
                return Encoding.Latin1.GetString(line, 0, length).TrimEnd('\r');
            }

            length++;
        }

        return Encoding.Latin1.GetString(line, 0, length);
    }

    /// <summary>
    /// The relay's address, or <see langword="null"/> when the socket can no longer tell: a peer that reset
    /// right after <c>+OK</c> makes <see cref="Socket.RemoteEndPoint"/> throw (ENOTCONN).
    /// </summary>
    public static EndPoint? TryGetRemoteEndPoint(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>Turns a reply other than <c>+OK</c> into the matching exception.</summary>
    public static RendezvousException Refusal(string? reply, RendezvousTriple triple) => reply switch
    {
        null => new RendezvousException(RendezvousError.Transport, $"The relay at {triple} closed the connection without answering."),
        "-ERR not registered" => new RendezvousException(RendezvousError.NotRegistered, $"The relay at {triple} says the hidden server is not registered (its cookie is not current)."),
        "-ERR not ready" => new RendezvousException(RendezvousError.NotReady, $"The hidden server is registered but had no free parked connection at the relay {triple}."),
        _ when reply.StartsWith("-ERR", StringComparison.Ordinal) => new RendezvousException(RendezvousError.Refused, $"The relay at {triple} refused: {reply}"),
        _ => NotTheProtocol(reply, triple),
    };

    /// <summary>A reply that is not the protocol at all: the registrar handed out the address of another service.</summary>
    private static RendezvousException NotTheProtocol(string reply, RendezvousTriple triple)
    {
        var bytes = Encoding.Latin1.GetBytes(reply);
        var what = AnswerText.IsTls(bytes) ? "answered with TLS" : $"answered {AnswerText.Quote(bytes)}";
        return new RendezvousException(
            RendezvousError.Transport,
            $"The relay at {triple} {what}, which is not the rendezvous protocol (+OK or -ERR ...): the registrar hands out a port that is not a Rendezvous relay (default 8899); check the server's Rendezvous:RendezvousEndpoint and Rendezvous:Registrar:PublicHost and PublicPort.");
    }
}
