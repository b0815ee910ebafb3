using Rendezvous.Host.Commands;

namespace Rendezvous.Host.Tests.Commands;

/// <summary>The registrar URL of the config file that add, rotate and export write: https:// only, and a warning for a loopback default.</summary>
public sealed partial class UsersCommandTests
{
    [TestCase("add")]
    [TestCase("rotate")]
    [TestCase("export")]
    public async Task Config_out_with_an_http_registrar_url_exits_2_naming_it_and_writes_nothing(string command)
    {
        if (command != "add")
        {
            await RunAsync("users", "add", Uuid);
        }

        CliResult result = await RunAsync("users", command, Uuid, "--config-out", ConfigPath, "--registrar-url", "http://x:8898/");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.BadInput), result.Error);
            Assert.That(result.Error, Does.Contain("--registrar-url 'http://x:8898/' is http://, but https:// is required"));
            Assert.That(File.Exists(ConfigPath), Is.False);
        });
        if (command == "add")
        {
            Assert.That(await Store.TryGetAsync(Uuid).WaitAsync(Timeout), Is.Null, "the entry is not added");
        }
    }

    [Test]
    public async Task Add_config_out_without_public_host_warns_that_a_hidden_server_elsewhere_cannot_reach_localhost()
    {
        CliResult result = await RunAsync("users", "add", Uuid, "--config-out", ConfigPath);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.Zero, result.Error);
            Assert.That(result.Error, Does.StartWith("Warning: the config file names the registrar as localhost (https://localhost:8898/) because --public-host is not given"));
            Assert.That(result.Error, Does.Contain("a hidden server on another machine cannot reach it there").And.Contain("--public-host NAME").And.Contain("--registrar-url URL"));
            Assert.That(result.Output, Does.Not.Contain("Warning"), "standard output stays the entry's description");
        });
    }

    [TestCase("--public-host", "rendezvous.example.com")]
    [TestCase("--registrar-url", "https://127.0.0.1:8898/")]
    public async Task Add_config_out_with_the_registrar_named_does_not_warn(string option, string value)
    {
        CliResult result = await RunAsync("users", "add", Uuid, "--config-out", ConfigPath, option, value);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Error, Is.Empty);
    }
}
