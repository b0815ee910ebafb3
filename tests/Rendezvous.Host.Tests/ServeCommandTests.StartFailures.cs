using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary><c>rendezvous serve</c> that cannot start: one line on standard error, exit code 3, no stack trace unless at Debug.</summary>
public sealed partial class ServeCommandTests
{
    /// <summary>The flags that start serve on free ports; <paramref name="flag"/> replaced by <paramref name="value"/>.</summary>
    private string[] ServeArgs(string flag, string value)
    {
        var args = new List<string>
        {
            "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0", "--admin-url", "http://127.0.0.1:0",
        };
        args[args.IndexOf(flag) + 1] = value;
        return [.. args];
    }

    /// <summary>A loopback listener holding a port, so that serve cannot bind it.</summary>
    private static Socket HoldPort(out int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen();
        port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        return socket;
    }

    private static void AssertOneCleanFailureLine(int exitCode, string output, string error, string mentions)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            Assert.That(lines, Has.Length.EqualTo(1), error);
            Assert.That(error, Does.StartWith("rendezvous serve: ").And.Contain(mentions));
            Assert.That(error + output, Does.Not.Contain("   at "), "no stack trace below Debug");
            Assert.That(output, Does.Not.Contain(" fail: ").And.Not.Contain(" crit: "), "no failure record besides the message");
        });
    }

    [TestCase("--registrar-url", "https://127.0.0.1:{0}", "--registrar-url")]
    [TestCase("--rendezvous-endpoint", "127.0.0.1:{0}", "--rendezvous-endpoint")]
    [TestCase("--admin-url", "http://127.0.0.1:{0}", "--admin-url")]
    public async Task A_port_in_use_is_one_line_on_stderr_without_a_stack_trace(string flag, string valueFormat, string mentions)
    {
        using var holder = HoldPort(out var port);
        var value = string.Format(CultureInfo.InvariantCulture, valueFormat, port);

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, ServeArgs(flag, value));

        AssertOneCleanFailureLine(exitCode, output, error, mentions);
        Assert.That(error, Does.Contain(value));
    }

    [Test]
    public async Task An_unknown_transport_is_one_line_naming_the_value_and_the_transports_accepted()
    {
        var args = ServeArgs("--admin-url", "none").Append("--transport").Append("bogus").ToArray();

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, args);

        AssertOneCleanFailureLine(exitCode, output, error, "Rendezvous:Relay:Transport is 'bogus'");
        Assert.That(error, Does.Contain("Auto, Socket, Epoll"));
    }

    [TestCase("socket")]
    [TestCase("epoll")]
    public async Task The_relay_says_which_transport_it_listens_with(string transport)
    {
        Assume.That(transport != "epoll" || Rendezvous.Protocol.Transport.EpollRelayListenerFactory.IsSupported, "the epoll transport runs on Linux only");
        await StartServeAsync("--transport", transport);

        Assert.That(_serve!.Output, Does.Contain($"({transport} transport)"));
    }

    [TestCase(true, TestName = "A_second_serve_on_the_same_ports_exits_with_one_line_and_the_first_keeps_every_relay_connection")]
    [TestCase(false, TestName = "A_second_serve_on_the_same_relay_endpoint_exits_with_one_line_and_the_first_keeps_every_relay_connection")]
    public async Task A_second_serve_on_the_same_relay_port_exits_and_leaves_the_port_to_the_first(bool sameRegistrarPort)
    {
        var started = await StartServeAsync();
        var secondDirectory = _directory.Combine("second");
        var relayEndpoint = $"127.0.0.1:{started.RelayPort}";

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(
            _directory.Path,
            ExitTimeout,
            "serve", "--data-dir", secondDirectory, "--registrar-url", sameRegistrarPort ? started.RegistrarUrl.ToString().TrimEnd('/') : "https://127.0.0.1:0",
            "--rendezvous-endpoint", relayEndpoint, "--admin-url", "http://127.0.0.1:0");

        // The relay starts first: its port is the one named, and nothing of the second instance is left bound.
        AssertOneCleanFailureLine(exitCode, output, error, "--rendezvous-endpoint");
        Assert.That(error, Does.Contain(relayEndpoint));

        // Every connection to the relay port reaches the first instance (a shared port would give some to the other).
        var (_, _, _, registered, lookedUp) = await AddUserThenRegisterAndLookUpAsync(started);
        var relay = new IPEndPoint(IPAddress.Loopback, started.RelayPort);
        for (var pairing = 0; pairing < 40; pairing++)
        {
            await RelayRoundTrip.AssertPairsAndSplicesAsync(relay, registered.Triple.Cookie, lookedUp.Triple.Cookie);
        }
    }

    // 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails at once, and nothing is sent.
    [TestCase("--registrar-url", "https://192.0.2.1:8898")]
    [TestCase("--admin-url", "http://192.0.2.1:8893")]
    public async Task An_address_this_machine_does_not_have_is_one_line_on_stderr_without_a_stack_trace(string flag, string value)
    {
        // A remote admin URL must be allowed first, or the validator refuses it before any bind.
        await File.WriteAllTextAsync(_directory.Combine("appsettings.json"), """{ "Rendezvous": { "Admin": { "AllowRemote": true } } }""");

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, ServeArgs(flag, value));

        AssertOneCleanFailureLine(exitCode, output, error, flag);
        Assert.That(error, Does.Contain(value));
    }

    [Test]
    public async Task A_data_directory_that_is_a_file_is_one_line_on_stderr_naming_it()
    {
        var file = _directory.Combine("not-a-folder");
        await File.WriteAllTextAsync(file, "x");

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, ServeArgs("--data-dir", file));

        AssertOneCleanFailureLine(exitCode, output, error, "Rendezvous:DataDirectory");
        Assert.That(error, Does.Contain($"'{file}', which is a file"));
    }

    [Test]
    public async Task An_InlineSocketCompletions_that_is_not_true_or_false_is_one_line_on_stderr_naming_it()
    {
        await File.WriteAllTextAsync(_directory.Combine("appsettings.json"), """{ "Rendezvous": { "Relay": { "InlineSocketCompletions": "yes" } } }""");

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, ServeArgs("--data-dir", _directory.Path));

        AssertOneCleanFailureLine(exitCode, output, error, "Rendezvous:Relay:InlineSocketCompletions is 'yes'; use true or false.");
    }

    [Test]
    public void Serve_gets_the_drain_time_plus_five_seconds_as_its_shutdown_timeout_from_AddRendezvousServer()
    {
        using var host = ServeCommand.BuildHost(new Dictionary<string, string?>
        {
            ["Rendezvous:DataDirectory"] = _directory.Path,
            ["Rendezvous:DrainTimeout"] = "00:00:12",
        });

        var timeout = host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout;

        Assert.That(timeout, Is.EqualTo(TimeSpan.FromSeconds(17)));
    }

    [Test]
    public async Task At_debug_the_start_failure_is_logged_with_its_stack_trace()
    {
        await File.WriteAllTextAsync(_directory.Combine("appsettings.json"), """{ "Logging": { "LogLevel": { "Default": "Debug" } } }""");
        using var holder = HoldPort(out var port);

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, ServeArgs("--rendezvous-endpoint", $"127.0.0.1:{port}"));

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            Assert.That(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1), error);
            Assert.That(output, Does.Contain("dbug: Microsoft.Extensions.Hosting.Internal.Host[11]").And.Contain("   at "));
        });
    }
}
