using System.Text.RegularExpressions;
using Rendezvous.Server.Admin;
using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary><c>rendezvous serve</c> as a real child process: what it says about the admin page, and what it refuses.</summary>
public sealed partial class AdminServeProcessTests
{
    private TemporaryDirectory _directory = null!;

    [GeneratedRegex(@"Admin page listening on (?<url>http://127\.0\.0\.1:[0-9]+); sign in with the token in (?<file>\S+)")]
    private static partial Regex AdminListening();

    [GeneratedRegex(@"Rendezvous relay listening on 127\.0\.0\.1:[0-9]+")]
    private static partial Regex RelayListening();

    [SetUp]
    public void CreateDirectory() => _directory = new TemporaryDirectory();

    [TearDown]
    public void DeleteDirectory() => _directory.Dispose();

    [Test]
    public async Task Serve_logs_where_the_admin_page_is_and_the_token_file_but_never_the_token()
    {
        using var serve = RendezvousProcess.Start(
            _directory.Path,
            "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0", "--admin-url", "http://127.0.0.1:0");

        var match = await serve.WaitForOutputAsync(AdminListening());

        var file = match.Groups["file"].Value;
        var token = (await File.ReadAllTextAsync(file).WaitAsync(TestTimeouts.Short)).Trim();
        Assert.Multiple(() =>
        {
            Assert.That(file, Is.EqualTo(_directory.Combine(AdminOptions.TokenFileName)));
            Assert.That(serve.Output + serve.Error, Does.Not.Contain(token));
        });
    }

    [Test]
    public async Task Sigterm_while_serve_is_still_starting_its_listeners_stops_it_with_exit_code_0()
    {
        using var serve = RendezvousProcess.Start(
            _directory.Path,
            "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0", "--admin-url", "http://127.0.0.1:0");

        // The relay listens first; the registrar and the admin page are still starting.
        await serve.WaitForOutputAsync(RelayListening());
        await serve.TerminateAsync();

        Assert.That(await serve.WaitForExitAsync(TimeSpan.FromSeconds(30)), Is.Zero, serve.Output + serve.Error);
    }

    [Test]
    public async Task Serve_refuses_a_non_loopback_admin_url_naming_it_and_the_way_to_allow_it()
    {
        var (exitCode, _, error) = await RendezvousProcess.RunAsync(
            _directory.Path, TimeSpan.FromSeconds(30),
            "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0", "--admin-url", "http://0.0.0.0:0");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            Assert.That(error, Does.StartWith("rendezvous serve: Rendezvous:Admin:Url is 'http://0.0.0.0:0'"));
            Assert.That(error, Does.Contain("Rendezvous:Admin:AllowRemote=true"));
            Assert.That(error, Does.Not.Contain("   at "));
        });
    }
}
