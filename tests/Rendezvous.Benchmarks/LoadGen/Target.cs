using System.Net;
using System.Net.Sockets;
using System.Text;
using OtpNet;
using Rendezvous.Client;
using Rendezvous.Client.Registrar;
using Rendezvous.Protocol;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>
/// What the generator talks through. Each session is two sockets the generator owns: an initiator it
/// connects, and a responder that is either parked at the relay (<c>R</c> line, then <c>+OK</c>) or
/// accepted by the generator's backend listener behind haproxy. Responders are anonymous: the relay
/// pairs an initiator with any parked responder of the cookie and haproxy's connection may be accepted
/// in any order, so scenarios that need to know which is which send a session id first.
/// </summary>
internal abstract class Target : IAsyncDisposable
{
    public abstract string Name { get; }

    /// <summary>Connects an initiator that sends <paramref name="early"/> right away; returns once the session is paired (relay: after <c>+OK</c>).</summary>
    public abstract Task<Socket> ConnectInitiatorAsync(ReadOnlyMemory<byte> early, CancellationToken cancellationToken);

    /// <summary>Supplies one responder: parks one at the relay (completes once paired) or accepts one at the backend.</summary>
    public abstract Task<Socket> NextResponderAsync(CancellationToken cancellationToken);

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static async Task<Target> CreateAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        switch (options.Target)
        {
            case "relay":
                var (endPoint, cookie) = await ResolveRelayAsync(options, cancellationToken).ConfigureAwait(false);
                return new RelayTarget(endPoint, cookie);
            case "haproxy":
                return new ListenerTarget("haproxy", options.Front ?? throw new ArgumentException("--front HOST:PORT is required for --target haproxy"), options.BackendPort);
            case "direct":
                return new ListenerTarget("direct", null, options.BackendPort);
            default:
                throw new ArgumentException($"--target must be relay, haproxy or direct, not '{options.Target}'");
        }
    }

    /// <summary>The relay at <paramref name="relay"/>, with responders parked under <paramref name="responderCookie"/> (an R cookie).</summary>
    public static Target Relay(IPEndPoint relay, string responderCookie) => new RelayTarget(relay, responderCookie);

    /// <summary>Registers with a TOTP code computed from the secret; tries the next step's code when the current one was already spent.</summary>
    public static async Task<RendezvousTriple> RegisterAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        if (options.RegistrarUrl is null || options.Uuid is null || options.Secret is null)
        {
            throw new ArgumentException("--registrar, --uuid and --secret (or --cookie) are required for --target relay");
        }

        var trust = new RegistrarTrust { PinnedFingerprint = options.Pin, TrustSystemStore = options.Pin is null };
        using var registrar = new RegistrarClient(options.RegistrarUrl, trust);
        var totp = new Totp(Base32Encoding.ToBytes(options.Secret));
        for (var step = 0; ; step++)
        {
            var code = totp.ComputeTotp(DateTime.UtcNow.AddSeconds(30 * step));
            try
            {
                return await registrar.RegisterAsync(options.Uuid, code, cancellationToken).ConfigureAwait(false);
            }
            catch (RendezvousException ex) when (ex.Error == RendezvousError.InvalidRequest && step == 0)
            {
                // The current code was used by an earlier run (replay protection); the next step's is accepted too.
            }
        }
    }

    private static async Task<(IPEndPoint EndPoint, string Cookie)> ResolveRelayAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        if (options.Cookie is { } cookie)
        {
            return (options.Relay ?? throw new ArgumentException("--relay HOST:PORT is required with --cookie"), cookie);
        }

        var triple = await RegisterAsync(options, cancellationToken).ConfigureAwait(false);
        var endPoint = options.Relay ?? new IPEndPoint(
            (await Dns.GetHostAddressesAsync(triple.Host, cancellationToken).ConfigureAwait(false)).First(a => a.AddressFamily == AddressFamily.InterNetwork),
            triple.Port);
        return (endPoint, triple.Cookie);
    }

    /// <summary>Connects a TCP socket with Nagle off.</summary>
    internal static async Task<Socket> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes.</summary>
    public static async ValueTask ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("the connection ended early");
            }

            buffer = buffer[read..];
        }
    }

    /// <summary>Sends all of <paramref name="buffer"/>.</summary>
    public static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var sent = await socket.SendAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            buffer = buffer[sent..];
        }
    }

    private sealed class RelayTarget : Target
    {
        private static readonly byte[] Ok = "+OK\n"u8.ToArray();
        private readonly IPEndPoint _relay;
        private readonly byte[] _responderLine;
        private readonly byte[] _initiatorLine;

        public RelayTarget(IPEndPoint relay, string responderCookie)
        {
            if (responderCookie.Length < 2 || responderCookie[0] != 'R')
            {
                throw new ArgumentException($"'{responderCookie}' is not an R cookie");
            }

            _relay = relay;
            _responderLine = Encoding.ASCII.GetBytes(responderCookie + "\n");
            // Our relay gives initiators the I value derived from the R value (a lookup would return the same).
            _initiatorLine = Encoding.ASCII.GetBytes("I" + RendezvousCookies.InitiatorValueFor(responderCookie[1..]) + "\n");
        }

        public override string Name => "relay";

        public override async Task<Socket> ConnectInitiatorAsync(ReadOnlyMemory<byte> early, CancellationToken cancellationToken)
        {
            var socket = await ConnectAsync(_relay, cancellationToken).ConfigureAwait(false);
            try
            {
                // The line and the first bytes in one segment: the relay keeps them and delivers them after +OK.
                var first = new byte[_initiatorLine.Length + early.Length];
                _initiatorLine.CopyTo(first, 0);
                early.Span.CopyTo(first.AsSpan(_initiatorLine.Length));
                await SendAllAsync(socket, first, cancellationToken).ConfigureAwait(false);
                await ExpectOkAsync(socket, "initiator", cancellationToken).ConfigureAwait(false);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public override async Task<Socket> NextResponderAsync(CancellationToken cancellationToken)
        {
            var socket = await ConnectAsync(_relay, cancellationToken).ConfigureAwait(false);
            try
            {
                await SendAllAsync(socket, _responderLine, cancellationToken).ConfigureAwait(false);
                await ExpectOkAsync(socket, "responder", cancellationToken).ConfigureAwait(false);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        private static async Task ExpectOkAsync(Socket socket, string side, CancellationToken cancellationToken)
        {
            var reply = new byte[4];
            var got = 0;
            while (got < reply.Length)
            {
                var read = await socket.ReceiveAsync(reply.AsMemory(got), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                got += read;
            }

            if (got != reply.Length || !reply.AsSpan().SequenceEqual(Ok))
            {
                // Read the rest of an error line for the message.
                var more = new byte[64];
                var extra = got == reply.Length ? await socket.ReceiveAsync(more, SocketFlags.None, cancellationToken).ConfigureAwait(false) : 0;
                var text = Encoding.ASCII.GetString(reply, 0, got) + Encoding.ASCII.GetString(more, 0, extra);
                throw new IOException($"the relay refused the {side}: '{text.TrimEnd()}'");
            }
        }
    }

    private sealed class ListenerTarget : Target
    {
        private readonly IPEndPoint _connectTo;
        private readonly Socket _listener;

        public ListenerTarget(string name, IPEndPoint? front, int backendPort)
        {
            Name = name;
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, backendPort));
            _listener.Listen(4096);
            _connectTo = front ?? (IPEndPoint)_listener.LocalEndPoint!;
        }

        public override string Name { get; }

        public override async Task<Socket> ConnectInitiatorAsync(ReadOnlyMemory<byte> early, CancellationToken cancellationToken)
        {
            var socket = await ConnectAsync(_connectTo, cancellationToken).ConfigureAwait(false);
            try
            {
                if (!early.IsEmpty)
                {
                    await SendAllAsync(socket, early, cancellationToken).ConfigureAwait(false);
                }

                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public override async Task<Socket> NextResponderAsync(CancellationToken cancellationToken)
        {
            var socket = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            socket.NoDelay = true;
            return socket;
        }

        public override ValueTask DisposeAsync()
        {
            _listener.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
