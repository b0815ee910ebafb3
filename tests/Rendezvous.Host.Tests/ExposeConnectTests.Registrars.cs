using System.Net;
using System.Net.Sockets;
using System.Text;
using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary><c>--registrar</c> given more than once to expose and connect, and expose's pool bounds.</summary>
public sealed partial class ExposeConnectTests
{
    [Test]
    public async Task Expose_and_connect_take_several_registrars_and_go_past_one_that_is_down()
    {
        var echo = AddService(LocalTcpService.Echo());
        var down = $"https://127.0.0.1:{FreeLoopbackPort()}/";
        var expose = await StartExposeAsync(echo.Port, "--registrar", down, "--registrar", _server.RegistrarUrl.ToString(), "--min-pool", "1", "--max-pool", "4");

        var connect = Track(RendezvousProcess.StartBinary(
            _directory.Path, ["connect", "--registrar", down, "--registrar", _server.RegistrarUrl.ToString(), "--uuid", _uuid, "--pin", _server.CertificateFingerprint, "--stdio"]));
        var reading = ReadToEndAsync(connect.StandardOutput);
        await connect.StandardInput.WriteAsync(Encoding.ASCII.GetBytes("through the second registrar")).AsTask().WaitAsync(TestTimeouts.Long);
        connect.StandardInput.Close();

        var echoed = Encoding.ASCII.GetString(await reading.WaitAsync(TestTimeouts.Long));
        var exitCode = await connect.WaitForExitAsync(ExitTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo("through the second registrar"), connect.Error);
            Assert.That(exitCode, Is.Zero, connect.Error);
            Assert.That(expose.Error, Does.Contain($"through {down}, {_server.RegistrarUrl}"));
        });
    }

    [TestCase("--registrar", "http://127.0.0.1:8898/", "--registrar 'http://127.0.0.1:8898/' is http://")]
    [TestCase("--max-pool", "0", "--max-pool '0' must be a number from 1 to 64")]
    [TestCase("--min-pool", "x", "--min-pool 'x' must be a number from 1 to 64")]
    public async Task Expose_refuses_a_bad_registrar_or_pool_bound_with_exit_2(string flag, string value, string message)
    {
        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", _configPath, "--to", "127.0.0.1:9", flag, value);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
            Assert.That(result.Error, Does.Contain(message));
        });
    }

    [Test]
    public async Task Connect_exits_8_when_every_registrar_is_down()
    {
        var result = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "connect", "--registrar", $"https://127.0.0.1:{FreeLoopbackPort()}/", "--registrar", $"https://127.0.0.1:{FreeLoopbackPort()}/",
            "--uuid", _uuid, "--pin", _server.CertificateFingerprint, "--stdio");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.Unreachable), result.Error);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
