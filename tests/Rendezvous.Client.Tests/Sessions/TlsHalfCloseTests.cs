using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Client.Sessions;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Sessions;

/// <summary>
/// A TLS session's half-close made while the same session reads, as <see cref="SessionRelay"/> does when a local side
/// ends first: right after the handshake, while the client takes the server's TLS 1.3 session ticket. On Linux the
/// close_notify and the read both go into OpenSSL; unguarded, about 1 such half-close in 100 failed ("shutdown while in
/// init", and no FIN followed, so the peer waited for ever) and some reads failed or crashed the process.
/// </summary>
public sealed class TlsHalfCloseTests
{
    private const int Sessions = 300;

    private X509Certificate2 _certificate = null!;

    [OneTimeSetUp]
    public void CreateCertificate() => _certificate = RegistrarCertificates.CreateSelfSigned("hidden-server", ["hidden.example"], TimeSpan.FromDays(1));

    [OneTimeTearDown]
    public void DisposeCertificate() => _certificate.Dispose();

    [Test]
    public async Task A_half_close_made_while_the_session_reads_sends_its_close_notify_and_both_ends_arrive_every_time()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var server = new TlsHiddenServerAuthenticator(_certificate);
        var client = new TlsMobileClientAuthenticator(RegistrarCertificates.GetSha256Fingerprint(_certificate));
        var request = "half-closed right behind this"u8.ToArray();
        var reply = "and answered after the end"u8.ToArray();
        var withoutCloseNotify = new List<string>();

        for (var i = 0; i < Sessions; i++)
        {
            var (hidden, mobile) = await PairAsync(listener).WaitAsync(TestTimeouts.Short);
            await using (hidden)
            await using (mobile)
            {
                await Task.WhenAll(
                    hidden.AuthenticateAsync(server, TestTimeouts.Short, CancellationToken.None),
                    mobile.AuthenticateAsync(client, TestTimeouts.Short, CancellationToken.None)).WaitAsync(TestTimeouts.Short);

                // The mobile side reads on another thread (taking the ticket) while it sends and half-closes at once.
                var mobileReads = Task.Run(() => ReadToEndAsync(mobile.Stream));
                await mobile.Stream.WriteAsync(request).AsTask().WaitAsync(TestTimeouts.Short);
                await mobile.CompleteSendingAsync().AsTask().WaitAsync(TestTimeouts.Short);

                // The hidden side answers once it saw the end, and ends too, while nothing reads on its side.
                Assert.That(await ReadToEndAsync(hidden.Stream).WaitAsync(TestTimeouts.Short), Is.EqualTo(request), $"session {i}: the request and its end");
                await hidden.Stream.WriteAsync(reply).AsTask().WaitAsync(TestTimeouts.Short);
                await hidden.CompleteSendingAsync().AsTask().WaitAsync(TestTimeouts.Short);
                Assert.That(await mobileReads.WaitAsync(TestTimeouts.Short), Is.EqualTo(reply), $"session {i}: the reply and its end");
                if (!mobile.CloseNotifySent || !hidden.CloseNotifySent)
                {
                    withoutCloseNotify.Add($"#{i} (mobile {mobile.CloseNotifySent}, hidden {hidden.CloseNotifySent})");
                }
            }
        }

        Assert.That(withoutCloseNotify, Is.Empty, "half-closes that ended with a bare FIN");
    }

    private static async Task<(RendezvousSession Hidden, RendezvousSession Mobile)> PairAsync(Socket listener)
    {
        var connecting = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accepting = listener.AcceptAsync();
        await connecting.ConnectAsync(listener.LocalEndPoint!);
        var accepted = await accepting;
        return (Session(accepted, RendezvousRole.HiddenServer), Session(connecting, RendezvousRole.MobileClient));
    }

    private static RendezvousSession Session(Socket socket, RendezvousRole role) =>
        new(socket, new NetworkStream(socket, ownsSocket: false), new RendezvousSessionInfo("hidden.example", role, socket.RemoteEndPoint));

    private static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var all = new MemoryStream();
        await stream.CopyToAsync(all);
        return all.ToArray();
    }
}
