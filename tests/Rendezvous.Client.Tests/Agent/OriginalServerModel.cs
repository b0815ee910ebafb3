using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Moq;
using OtpNet;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>One registration attempt as a registrar saw it: when (by its clock) and whether it was accepted.</summary>
internal sealed record RegistrationAttempt(DateTimeOffset At, bool Accepted);

/// <summary>
/// What the original node-rendezvous server does that our clients must cope with (it is not available
/// here, so its behaviour is modelled): its registrar accepts the TOTP code of the current step only, by
/// its own clock, and accepts it again and again within that step (no replay check, no skew window).
/// </summary>
internal static class OriginalServerModel
{
    /// <summary>
    /// A policy that accepts exactly the current step's code of <paramref name="identity"/>, reused or not;
    /// its clock is <paramref name="time"/> less <paramref name="lag"/>.
    /// </summary>
    public static Mock<IRegistrationPolicy> CurrentStepOnlyPolicy(HiddenServerIdentity identity, TimeProvider time, ConcurrentQueue<RegistrationAttempt> attempts, TimeSpan lag = default)
    {
        var totp = new Totp(identity.Secret, 30, OtpHashMode.Sha1, 6);
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns((RegistrationRequest request, CancellationToken _) =>
            {
                var now = time.GetUtcNow() - lag;
                var accepted = string.Equals(request.Uuid, identity.Uuid, StringComparison.OrdinalIgnoreCase)
                    && string.Equals(request.Response, totp.ComputeTotp(now.UtcDateTime), StringComparison.Ordinal);
                attempts.Enqueue(new RegistrationAttempt(now, accepted));
                return ValueTask.FromResult(accepted ? RegistrationDecision.Accept() : RegistrationDecision.Reject());
            });
        return policy;
    }
}

/// <summary>
/// The original's relay as far as a hidden server sees it: an <c>R</c> line parks the connection, one per
/// cookie (a newer one closes the older), and nothing ever closes a superseded registration's parked
/// connections. On 127.0.0.1, port chosen by the system; point a registrar's <c>PublicPort</c> at it.
/// </summary>
internal sealed class OriginalRelay : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly ConcurrentDictionary<string, Socket> _parked = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public OriginalRelay()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptAsync();
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>Connections parked now (one per cookie).</summary>
    public int ParkedCount => _parked.Count;

    /// <summary>Resets every parked connection (RST), as when the relay's host drops them.</summary>
    public void ResetAll()
    {
        foreach (var (cookie, socket) in _parked)
        {
            if (_parked.TryRemove(cookie, out _))
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop.WaitAsync(TestTimeouts.Short);
        foreach (var socket in _parked.Values)
        {
            socket.Dispose();
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
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ParkAsync(socket);
        }
    }

    private async Task ParkAsync(Socket socket)
    {
        var line = new StringBuilder();
        var buffer = new byte[1];
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(TestTimeouts.Short);
            while (line.Length < 256 && await socket.ReceiveAsync(buffer, timeout.Token) == 1 && buffer[0] != '\n')
            {
                line.Append((char)buffer[0]);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            socket.Dispose();
            return;
        }

        var text = line.ToString();
        if (!text.StartsWith('R') || text.Length < 2)
        {
            socket.Dispose();
            return;
        }

        _parked.AddOrUpdate(text[1..], socket, (_, previous) =>
        {
            previous.Dispose();
            return socket;
        });
    }
}
