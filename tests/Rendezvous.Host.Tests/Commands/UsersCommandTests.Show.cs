using Rendezvous.Security;

namespace Rendezvous.Host.Tests.Commands;

public sealed partial class UsersCommandTests
{
    [Test]
    public async Task Show_prints_uuid_step_digits_and_creation_time_without_the_secret()
    {
        CliResult added = await RunAsync("users", "add", Uuid, "--step", "60", "--digits", "8");

        CliResult result = await RunAsync("users", "show", Uuid.ToUpperInvariant());

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        SecretEntry stored = (await SqliteSecretStore.ForDataDirectory(_directory.Path).TryGetAsync(Uuid).WaitAsync(Timeout))!;
        Assert.Multiple(() =>
        {
            Assert.That(Cli.Value(result.Output, "UUID:"), Is.EqualTo(Uuid));
            Assert.That(Cli.Value(result.Output, "Step:"), Is.EqualTo("60"));
            Assert.That(Cli.Value(result.Output, "Digits:"), Is.EqualTo("8"));
            Assert.That(Cli.Value(result.Output, "Created:"), Is.EqualTo($"{stored.CreatedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z"));
            Assert.That(result.Output, Does.Not.Contain(Cli.Value(added.Output, "Secret:")));
        });
    }

    [Test]
    public async Task Show_with_secret_also_prints_the_secret_and_otpauth_uri()
    {
        CliResult added = await RunAsync("users", "add", Uuid);

        CliResult result = await RunAsync("users", "show", Uuid, "--secret");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Cli.Value(result.Output, "Secret:"), Is.EqualTo(Cli.Value(added.Output, "Secret:")));
        Assert.That(Cli.Value(result.Output, "URI:"), Is.EqualTo(Cli.Value(added.Output, "URI:")));
    }
}
