using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary><c>rendezvous serve</c> under a low descriptor limit, flooded with idle connections from one address.</summary>
public sealed partial class ServeCommandTests
{
    private const int DescriptorLimit = 1024;
    private const int FloodPerPort = 1000;

    [GeneratedRegex(@"Lowered Rendezvous:Relay:MaxConnections from 20000 to (?<relay>[0-9]+), Rendezvous:RegistrarMaxConnections from 1000 to (?<registrar>[0-9]+)")]
    private static partial Regex CapsLowered();

    [GeneratedRegex("AcceptFailed|Accepting rendezvous connections failed")]
    private static partial Regex AcceptFailedLine();

    [Test]
    [Platform(Include = "Linux")]
    [SupportedOSPlatform("linux")]
    public async Task Serve_under_a_low_descriptor_limit_survives_an_idle_flood_of_both_ports_and_serves_after_it()
    {
        var started = await WaitForStartAsync(RendezvousProcess.StartUnder(
            _directory.Path, "prlimit", [$"--nofile={DescriptorLimit}:{DescriptorLimit}", "--"], new Dictionary<string, string>(), ServeArgs()));
        var lowered = await _serve!.WaitForOutputAsync(CapsLowered());
        Assert.That(_serve.Output, Does.Contain($"more than the process's descriptor limit (RLIMIT_NOFILE) of {DescriptorLimit}"));

        var flood = new List<Socket>();
        try
        {
            // Idle connections, no TLS ClientHello and no first line, from 127.0.0.1 like one attacker.
            await FloodAsync(flood, new IPEndPoint(IPAddress.Loopback, started.RegistrarUrl.Port));
            await FloodAsync(flood, new IPEndPoint(IPAddress.Loopback, started.RelayPort));

            // The process died about 10 s into such a flood (a runtime thread failed to open a file): hold it longer.
            var held = DateTime.UtcNow + TimeSpan.FromSeconds(12);
            while (DateTime.UtcNow < held && !_serve.HasExited)
            {
                await Task.Delay(100);
            }

            Assert.That(_serve.HasExited, Is.False, $"serve died under the flood.\nstdout:\n{_serve.Output}\nstderr:\n{_serve.Error}");
        }
        finally
        {
            flood.ForEach(socket => socket.Dispose());
        }

        var (_, _, _, registered, lookedUp) = await AddUserThenRegisterAndLookUpAsync(started);
        Assert.That(registered.Status, Is.EqualTo(HttpStatusCode.OK), "a legitimate registration after the flood");
        await RelayRoundTrip.AssertPairsAndSplicesAsync(new IPEndPoint(IPAddress.Loopback, started.RelayPort), registered.Triple.Cookie, lookedUp.Triple.Cookie);

        var log = _serve.Output + _serve.Error;
        var acceptFailures = AcceptFailedLine().Matches(log).Count;
        Assert.Multiple(() =>
        {
            Assert.That(int.Parse(lowered.Groups["relay"].Value, System.Globalization.CultureInfo.InvariantCulture), Is.LessThan(DescriptorLimit));
            Assert.That(log, Does.Not.Contain("Out of memory"));
            Assert.That(acceptFailures, Is.LessThanOrEqualTo(3), "at most one accept failure line per 10 s");
            Assert.That(log, Does.Not.Contain("Too many open files in system"), "EMFILE is not ENFILE");
            Assert.That(log, Does.Not.Contain("   at "), "no stack trace");
        });
    }

    [Test]
    [Platform(Include = "Linux")]
    [SupportedOSPlatform("linux")]
    public async Task Serve_refuses_to_start_cleanly_when_the_descriptor_limit_leaves_too_few_connections()
    {
        using var serve = RendezvousProcess.StartUnder(_directory.Path, "prlimit", ["--nofile=400:400", "--"], new Dictionary<string, string>(), ServeArgs());

        var exitCode = await serve.WaitForExitAsync(ExitTimeout);

        Assert.That(exitCode, Is.EqualTo(3), serve.Error);
        AssertCleanRefusal(serve.Error);
        Assert.That(serve.Error, Does.Contain("The process's descriptor limit (RLIMIT_NOFILE) is 400, too low: "));
        Assert.That(serve.Error, Does.Contain("LimitNOFILE="));
    }

    /// <summary>Opens <see cref="FloodPerPort"/> connections to <paramref name="target"/> (each bounded in time); those the server closes at once count too.</summary>
    private static async Task FloodAsync(List<Socket> flood, IPEndPoint target)
    {
        for (var i = 0; i < FloodPerPort; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            flood.Add(socket);
            try
            {
                await socket.ConnectAsync(target).WaitAsync(TestTimeouts.Short);
            }
            catch (SocketException)
            {
                // Refused or reset over a cap: what an attacker gets.
            }
            catch (TimeoutException)
            {
                // The listen backlog is full: the server has all it will take.
                return;
            }
        }
    }
}
