using System.Runtime.Versioning;
using Rendezvous.Client.Agent;
using Rendezvous.Host.Commands;
using Rendezvous.Security;

namespace Rendezvous.Host.Tests.Commands;

public sealed partial class UsersCommandTests
{
    [Test]
    [UnsupportedOSPlatform("windows")]
    public async Task Export_writes_the_config_file_of_an_existing_entry_with_mode_0600()
    {
        await RunAsync("users", "add", Uuid, "--step", "45", "--digits", "7");
        string path = ConfigPath;

        CliResult result = await RunAsync("users", "export", Uuid, "--config-out", path, "--public-host", "relay.example.com");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(HiddenServerConfigFile.TryLoad(path, out HiddenServerConfigFile? config, out string? problem), Is.True, problem);
        SecretEntry stored = (await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!;
        Assert.Multiple(() =>
        {
            Assert.That(config!.Uuid, Is.EqualTo(Uuid));
            Assert.That(config.Secret, Is.EqualTo(SecretFormat.ToBase32(stored.Secret)));
            Assert.That(config.Step, Is.EqualTo(45));
            Assert.That(config.Digits, Is.EqualTo(7));
            Assert.That(config.RegistrarUrl, Is.EqualTo(new Uri("https://relay.example.com:8898/")));
            Assert.That(config.RegistrarFingerprint, Is.EqualTo(RegistrarFingerprint()));
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        });
    }

    [Test]
    public async Task Export_into_a_missing_folder_fails_naming_the_file_in_one_sentence()
    {
        await RunAsync("users", "add", Uuid);
        string path = _directory.Combine("no-such-folder", "hidden.json");

        CliResult result = await RunAsync("users", "export", Uuid, "--config-out", path);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Error, Does.StartWith($"Cannot write the config file '{path}': "));
            Assert.That(result.Error.TrimEnd(), Does.EndWith(".").And.Not.EndWith(".."));
        });
    }

    [Test]
    public async Task Export_writes_the_same_file_as_add_with_config_out()
    {
        string added = _directory.Combine("added.json");
        string exported = _directory.Combine("exported.json");
        await RunAsync("users", "add", Uuid, "--config-out", added, "--registrar-url", "https://relay.example.com:9443/");

        CliResult result = await RunAsync("users", "export", Uuid, "--config-out", exported, "--registrar-url", "https://relay.example.com:9443/");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(await File.ReadAllTextAsync(exported).WaitAsync(Timeout), Is.EqualTo(await File.ReadAllTextAsync(added).WaitAsync(Timeout)));
    }

    [Test]
    public async Task Export_without_config_out_fails_naming_the_option()
    {
        await RunAsync("users", "add", Uuid);

        CliResult result = await RunAsync("users", "export", Uuid);

        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.Error, Does.Contain("--config-out"));
    }

    [Test]
    public async Task Export_with_a_registrar_url_that_is_not_https_fails_naming_it()
    {
        await RunAsync("users", "add", Uuid);

        CliResult result = await RunAsync("users", "export", Uuid, "--config-out", ConfigPath, "--registrar-url", "ftp://relay");

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.BadInput));
        Assert.That(result.Error, Does.Contain("--registrar-url 'ftp://relay'"));
    }
}
