using System.Net;
using System.Text.RegularExpressions;
using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary><c>rendezvous serve --log-file</c> and <c>--log-format</c> in the real process.</summary>
public sealed partial class ServeCommandTests
{
    [GeneratedRegex(@"Registrar listening on https://")]
    private static partial Regex RegistrarListeningLine();

    private string LogFilePath => _directory.Combine("logs", "server.log");

    [Test]
    public async Task No_log_sink_holds_the_secret_the_code_or_the_cookie_even_at_trace()
    {
        // appsettings.json in the working directory (serve's content root), as an operator would set the level.
        await File.WriteAllTextAsync(_directory.Combine("appsettings.json"), """{ "Logging": { "LogLevel": { "Default": "Trace" } } }""");
        var started = await StartServeAsync("--log-file", LogFilePath);

        var (_, secret, code, registered, lookedUp) = await AddUserThenRegisterAndLookUpAsync(started);
        Assert.That(registered.Status, Is.EqualTo(HttpStatusCode.OK), registered.Body);
        await RelayRoundTrip.AssertPairsAndSplicesAsync(new IPEndPoint(IPAddress.Loopback, started.RelayPort), registered.Triple.Cookie, lookedUp.Triple.Cookie);
        await _serve!.TerminateAsync();
        Assert.That(await _serve.WaitForExitAsync(DrainTime), Is.Zero, _serve.Error);

        var file = await File.ReadAllTextAsync(LogFilePath);
        var console = _serve.Output + _serve.Error;
        Assert.Multiple(() =>
        {
            Assert.That(file, Does.Contain("dbug:").Or.Contain("trce:"), "the file got the records below Information");
            Assert.That(file, Does.Match(RegistrarListeningLine().ToString()));
            foreach (var sink in new[] { file, console })
            {
                Assert.That(sink, Does.Not.Contain(secret));
                Assert.That(sink, Does.Not.Match($"(?<![0-9]){code}(?![0-9])"));
                Assert.That(sink, Does.Not.Contain(registered.Triple.Bare));
            }
        });
    }

    [Test]
    public async Task Json_log_format_writes_json_lines_to_the_console_and_the_file()
    {
        var serve = RendezvousProcess.Start(
            _directory.Path,
            "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0",
            "--log-format", "json", "--log-file", LogFilePath);
        _serve = serve;
        await serve.WaitForOutputAsync(RegistrarListeningLine());
        await serve.TerminateAsync();
        Assert.That(await serve.WaitForExitAsync(DrainTime), Is.Zero, serve.Error);

        var lines = serve.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Concat(await File.ReadAllLinesAsync(LogFilePath)).ToList();
        Assert.That(lines, Has.Count.GreaterThan(2));
        Assert.That(lines, Has.All.StartWith("{\"Timestamp\":\"").And.EndWith("}"));
    }

    [Test]
    public async Task An_unknown_log_format_exits_with_3_before_any_listener_starts()
    {
        var (exitCode, output, error) = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0",
            "--log-format", "xml");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            AssertCleanRefusal(error);
            Assert.That(error, Does.Contain("'xml'").And.Contain("simple or json"));
            Assert.That(output, Does.Not.Contain("listening"));
        });
    }

    [Test]
    public async Task A_log_file_that_cannot_be_written_exits_with_3_naming_the_path()
    {
        await File.WriteAllTextAsync(_directory.Combine("not-a-folder"), string.Empty);
        var path = _directory.Combine("not-a-folder", "server.log");

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0",
            "--log-file", path);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            AssertCleanRefusal(error);
            Assert.That(error, Does.Contain($"'{path}'"));
            Assert.That(output, Does.Not.Contain("listening"));
        });
    }
}
