using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using System.Text.RegularExpressions;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Logging;

/// <summary>
/// <c>rendezvous serve</c> run the way systemd runs a <c>Type=notify</c> service: its parent process is named
/// <c>systemd</c> (what Microsoft.Extensions.Hosting.Systemd checks, through /proc/PPID/comm) and NOTIFY_SOCKET
/// names a Unix datagram socket, here one the test listens on.
/// </summary>
[Platform(Include = "Linux")]
[SupportedOSPlatform("linux")]
public sealed partial class SystemdTests
{
    private TemporaryDirectory _directory = null!;
    private Socket _notify = null!;
    private RendezvousProcess? _launcher;
    private int? _servePid;

    [GeneratedRegex(@"rendezvous-pid (?<pid>[0-9]+)")]
    private static partial Regex ServePid();

    [GeneratedRegex(@"^<6>Rendezvous\.Server\.Internal\.RelayListenerService\[3001\] Rendezvous relay listening on ", RegexOptions.Multiline)]
    private static partial Regex JournaldRelayLine();

    [SetUp]
    public void ListenForNotifications()
    {
        _directory = new TemporaryDirectory();
        _notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _notify.Bind(new UnixDomainSocketEndPoint(_directory.Combine("notify.sock")));
    }

    [TearDown]
    public void StopEverything()
    {
        if (_servePid is { } pid)
        {
            try
            {
                using var serve = System.Diagnostics.Process.GetProcessById(pid);
                serve.Kill(entireProcessTree: false);
                serve.WaitForExit(5000);
            }
            catch (ArgumentException)
            {
                // It has exited already.
            }
            catch (InvalidOperationException)
            {
                // It exited between the lookup and the kill.
            }
        }

        _launcher?.Dispose();
        _notify.Dispose();
        _directory.Dispose();
    }

    [Test]
    public async Task Ready_is_sent_once_the_registrar_and_the_relay_accept_connections()
    {
        var (registrarPort, relayPort) = await StartUnderSystemdAsync();

        Assert.That(await ReceiveAsync(), Is.EqualTo("READY=1"));

        // Right away, without retrying: both ports must already be listening when systemd is told we are ready.
        await AssertAcceptsAsync(registrarPort);
        await AssertAcceptsAsync(relayPort);
    }

    [Test]
    public async Task Stopping_is_sent_on_sigterm_and_serve_exits_with_0()
    {
        await StartUnderSystemdAsync();
        Assert.That(await ReceiveAsync(), Is.EqualTo("READY=1"));

        await RendezvousProcess.TerminateAsync(_servePid!.Value);

        Assert.That(await ReceiveAsync(), Is.EqualTo("STOPPING=1"));
        Assert.That(await _launcher!.WaitForExitAsync(TestTimeouts.Long), Is.Zero, _launcher.Error);
    }

    [Test]
    public async Task Console_lines_under_systemd_carry_a_journald_priority_and_no_timestamp()
    {
        await StartUnderSystemdAsync();
        Assert.That(await ReceiveAsync(), Is.EqualTo("READY=1"));

        await _launcher!.WaitForOutputAsync(JournaldRelayLine());

        Assert.That(_launcher.Output, Does.Not.Match(@"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"), "journald stamps each line itself");
    }

    /// <summary>Starts serve on two free loopback ports as the child of a shell named systemd; returns the ports.</summary>
    private async Task<(int Registrar, int Relay)> StartUnderSystemdAsync()
    {
        var launcher = _directory.Combine("systemd");
        File.CreateSymbolicLink(launcher, "/bin/sh");
        var (registrarPort, relayPort) = TwoFreePorts();

        // The shell stays the parent (it waits), says which process is rendezvous, and exits with its exit code.
        _launcher = RendezvousProcess.StartUnder(
            _directory.Path,
            launcher,
            ["-c", "\"$@\" & echo \"rendezvous-pid $!\" >&2; wait $!", "systemd"],
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = _directory.Combine("notify.sock") },
            "serve", "--data-dir", _directory.Path,
            "--registrar-url", $"https://127.0.0.1:{registrarPort}", "--rendezvous-endpoint", $"127.0.0.1:{relayPort}");
        _servePid = int.Parse((await _launcher.WaitForErrorAsync(ServePid())).Groups["pid"].Value, System.Globalization.CultureInfo.InvariantCulture);
        return (registrarPort, relayPort);
    }

    private async Task<string> ReceiveAsync()
    {
        var buffer = new byte[4096];
        var received = await _notify.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TestTimeouts.Long);
        return Encoding.UTF8.GetString(buffer, 0, received).Trim();
    }

    private static async Task AssertAcceptsAsync(int port)
    {
        using var client = new TcpClient(AddressFamily.InterNetwork);
        Assert.That(
            async () => await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TestTimeouts.Short),
            Throws.Nothing,
            $"127.0.0.1:{port} did not accept a connection after READY=1");
    }

    private static (int, int) TwoFreePorts()
    {
        // Both probes are bound at once, so the system cannot hand out the same port twice.
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        first.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        second.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (((IPEndPoint)first.LocalEndPoint!).Port, ((IPEndPoint)second.LocalEndPoint!).Port);
    }
}
