using System.Runtime.Versioning;
using Rendezvous.Client.Agent;
using Rendezvous.Host.Commands;
using Rendezvous.Security;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Host.Tests.Commands;

public sealed partial class UsersCommandTests
{
    [Test]
    public async Task Rotate_stores_a_new_random_secret_keeping_step_and_digits()
    {
        CliResult added = await RunAsync("users", "add", Uuid, "--step", "60", "--digits", "8");

        CliResult result = await RunAsync("users", "rotate", Uuid);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        SecretEntry stored = (await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!;
        string printed = Cli.Value(result.Output, "Secret:");
        Assert.Multiple(() =>
        {
            Assert.That(printed, Is.Not.EqualTo(Cli.Value(added.Output, "Secret:")));
            Assert.That(SecretFormat.ToBase32(stored.Secret), Is.EqualTo(printed));
            Assert.That(stored.Secret, Has.Length.EqualTo(SecretFormat.GeneratedSecretBytes));
            Assert.That(stored.Step, Is.EqualTo(60));
            Assert.That(stored.Digits, Is.EqualTo(8));
            Assert.That(Cli.Value(result.Output, "URI:"), Is.EqualTo(stored.ToOtpAuthUri()));
        });
    }

    [Test]
    public async Task Rotate_with_secret_stores_the_given_secret()
    {
        await RunAsync("users", "add", Uuid);

        CliResult result = await RunAsync("users", "rotate", Uuid, "--secret", "JBSWY3DPEHPK3PXP");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        SecretEntry stored = (await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!;
        Assert.That(SecretFormat.ToBase32(stored.Secret), Is.EqualTo("JBSWY3DPEHPK3PXP"));
    }

    [Test]
    [UnsupportedOSPlatform("windows")]
    public async Task Rotate_with_config_out_writes_the_new_secret_to_a_0600_config_file()
    {
        await RunAsync("users", "add", Uuid);
        string path = ConfigPath;

        CliResult result = await RunAsync(
            "users", "rotate", Uuid, "--config-out", path, "--registrar-url", "https://relay.example.com:9443/");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(HiddenServerConfigFile.TryLoad(path, out HiddenServerConfigFile? config, out string? problem), Is.True, problem);
        SecretEntry stored = (await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!;
        Assert.Multiple(() =>
        {
            Assert.That(config!.Secret, Is.EqualTo(SecretFormat.ToBase32(stored.Secret)));
            Assert.That(config.RegistrarUrl, Is.EqualTo(new Uri("https://relay.example.com:9443/")));
            Assert.That(config.RegistrarFingerprint, Is.EqualTo(RegistrarFingerprint()));
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(result.Output, Does.Contain($"Config: {path}"));
        });
    }

    [Test]
    public async Task Rotate_keeps_the_old_secret_when_the_config_file_cannot_be_written()
    {
        await RunAsync("users", "add", Uuid);
        byte[] before = (await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!.Secret;
        string unwritable = _directory.Combine("no-such-directory", "hidden.json");

        CliResult result = await RunAsync("users", "rotate", Uuid, "--config-out", unwritable);

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
        Assert.That(result.Error, Does.Contain(unwritable).And.Contain("not rotated"));
        Assert.That((await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!.Secret, Is.EqualTo(before));
    }

    [Test]
    public async Task Rotate_with_bad_base32_fails_naming_the_value_and_keeps_the_old_secret()
    {
        await RunAsync("users", "add", Uuid);
        byte[] before = (await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!.Secret;

        CliResult result = await RunAsync("users", "rotate", Uuid, "--secret", "NOT-BASE32!");

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.BadInput));
        Assert.That(result.Error, Does.Contain("--secret 'NOT-BASE32!'"));
        Assert.That((await Store.TryGetAsync(Uuid).WaitAsync(Timeout))!.Secret, Is.EqualTo(before));
    }

    private SqliteSecretStore Store => SqliteSecretStore.ForDataDirectory(_directory.Path);

    /// <summary>The fingerprint of the registrar certificate in the data directory, as serve would use it.</summary>
    private string RegistrarFingerprint()
    {
        RegistrarCertificateResult certificate = RegistrarCertificates.LoadOrCreate(_directory.Path, []);
        certificate.Certificate.Dispose();
        return certificate.Sha256Fingerprint;
    }
}
