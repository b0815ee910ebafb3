using Rendezvous.Host.Commands;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Commands;

public sealed partial class UsersCommandTests
{
    private const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task Add_without_arguments_prints_a_new_uuid_secret_and_otpauth_uri()
    {
        CliResult result = await RunAsync("users", "add");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        string uuid = Cli.Value(result.Output, "UUID:");
        string secret = Cli.Value(result.Output, "Secret:");
        Assert.That(SecretFormat.TryNormalizeUuid(uuid, out _), Is.True);
        Assert.That(SecretFormat.TryParseBase32(secret, out byte[]? bytes), Is.True);
        Assert.That(bytes, Has.Length.EqualTo(20));
        Assert.That(
            Cli.Value(result.Output, "URI:"),
            Is.EqualTo($"otpauth://totp/Rendezvous:{uuid}?secret={secret}&issuer=Rendezvous&algorithm=SHA1&digits=6&period=30"));
    }

    [Test]
    public async Task Add_stores_the_given_uuid_secret_step_and_digits()
    {
        CliResult result = await RunAsync("users", "add", Uuid.ToUpperInvariant(), "--secret", "JBSWY3DPEHPK3PXP", "--step", "60", "--digits", "8");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        SecretEntry? entry = await SqliteSecretStore.ForDataDirectory(_directory.Path).TryGetAsync(Uuid).WaitAsync(Timeout);
        Assert.That(entry, Is.Not.Null);
        Assert.That(entry!.Secret, Is.EqualTo(new byte[] { 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x21, 0xDE, 0xAD, 0xBE, 0xEF }));
        Assert.That(entry.Step, Is.EqualTo(60));
        Assert.That(entry.Digits, Is.EqualTo(8));
    }

    [Test]
    public async Task List_shows_added_uuid_without_the_secret()
    {
        CliResult added = await RunAsync("users", "add", Uuid);

        CliResult result = await RunAsync("users", "list");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Output, Does.Contain(Uuid));
        Assert.That(result.Output, Does.Contain("STEP").And.Contain("DIGITS").And.Contain("CREATED"));
        Assert.That(result.Output, Does.Not.Contain(Cli.Value(added.Output, "Secret:")));
    }

    [Test]
    public async Task Remove_removes_the_uuid()
    {
        await RunAsync("users", "add", Uuid);

        CliResult result = await RunAsync("users", "remove", Uuid);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That((await RunAsync("users", "list")).Output, Does.Not.Contain(Uuid));
    }

    [Test]
    public async Task Remove_of_an_absent_uuid_fails_naming_it()
    {
        await RunAsync("users", "add", "0d6a1f5e-0000-4000-8000-000000000001");

        CliResult result = await RunAsync("users", "remove", Uuid);

        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.Error, Does.Contain(Uuid));
    }

    [TestCase("show")]
    [TestCase("rotate")]
    [TestCase("remove")]
    [TestCase("export", "--config-out", "hidden.json")]
    public async Task A_data_directory_without_a_database_is_reported_as_such_and_nothing_is_created(string command, params string[] more)
    {
        string typo = _directory.Combine("rendezvous-dat");

        CliResult result = await Cli.RunAsync(["users", command, Uuid, "--data-dir", typo, .. more]);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Error, Does.StartWith($"There is no secret database at {Path.Combine(typo, "rendezvous.db")}").And.Contain("--data-dir"));
            Assert.That(Directory.Exists(typo), Is.False);
        });
    }

    [Test]
    public async Task List_in_a_data_directory_without_a_database_lists_nothing_and_says_why()
    {
        string typo = _directory.Combine("rendezvous-dat");

        CliResult result = await Cli.RunAsync(["users", "list", "--data-dir", typo]);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.Zero);
            Assert.That(result.Error, Does.StartWith("There is no secret database at"));
            Assert.That(Directory.Exists(typo), Is.False);
        });
    }

    [Test]
    public async Task Add_with_bad_base32_fails_naming_the_value()
    {
        CliResult result = await RunAsync("users", "add", "--secret", "NOT-BASE32!");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain("NOT-BASE32!").And.Contain("base32"));
    }

    [Test]
    public async Task Add_with_a_secret_shorter_than_80_bits_fails()
    {
        CliResult result = await RunAsync("users", "add", "--secret", "JBSWY3DPEHPK3PX");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain("JBSWY3DPEHPK3PX").And.Contain("80 bits"));
    }

    [TestCase("add", "--step", "abc", "from 1 to 300")]
    [TestCase("add", "--digits", "six", "6 to 8")]
    [TestCase("import", "--db", "x", "0 or more")]
    public async Task A_number_option_given_text_fails_naming_the_option_the_value_and_what_is_accepted(string command, string option, string value, string accepted)
    {
        CliResult result = await RunAsync(["users", command, option, value, .. command == "import" ? new[] { "--from-redis", "127.0.0.1:1" } : []]);

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain($"{option} '{value}' is not a whole number; expected").And.Contain(accepted));
    }

    [Test]
    public async Task Add_with_step_zero_fails_naming_the_value_and_range()
    {
        CliResult result = await RunAsync("users", "add", "--step", "0");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain("--step 0").And.Contain("between 1 and 300"));
    }

    [Test]
    public async Task Add_with_nine_digits_fails_naming_the_value_and_range()
    {
        CliResult result = await RunAsync("users", "add", "--digits", "9");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain("--digits 9").And.Contain("between 6 and 8"));
    }

    [Test]
    public async Task Add_with_a_bad_uuid_fails_naming_it()
    {
        CliResult result = await RunAsync("users", "add", "not-a-uuid");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain("not-a-uuid"));
    }

    [Test]
    public async Task Add_of_a_duplicate_uuid_fails_naming_it()
    {
        await RunAsync("users", "add", Uuid);

        CliResult result = await RunAsync("users", "add", Uuid);

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain(Uuid).And.Contain("already"));
    }

    [Test]
    public async Task Failed_add_writes_nothing_to_standard_output()
    {
        CliResult result = await RunAsync("users", "add", "--step", "0");

        Assert.That(result.Output, Is.Empty);
    }

    [Test]
    public async Task Data_directory_comes_from_the_environment_when_not_given()
    {
        string? previous = Environment.GetEnvironmentVariable("Rendezvous__DataDirectory");
        Environment.SetEnvironmentVariable("Rendezvous__DataDirectory", _directory.Path);
        try
        {
            CliResult result = await Cli.RunAsync("users", "add", Uuid);

            Assert.That(result.ExitCode, Is.Zero, result.Error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("Rendezvous__DataDirectory", previous);
        }

        Assert.That(await SqliteSecretStore.ForDataDirectory(_directory.Path).TryGetAsync(Uuid).WaitAsync(Timeout), Is.Not.Null);
    }

    [TestCase("show")]
    [TestCase("rotate")]
    [TestCase("export", "--config-out")]
    public async Task Command_for_an_absent_uuid_fails_naming_it_and_writes_nothing(string command, params string[] withFileOption)
    {
        await RunAsync("users", "add", "0d6a1f5e-0000-4000-8000-000000000001");

        CliResult result = await RunAsync(["users", command, Uuid, .. withFileOption.Select(option => $"{option}={ConfigPath}")]);

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
        Assert.That(result.Error, Does.Contain(Uuid).And.Contain("no secret"));
        Assert.That(result.Output, Is.Empty);
        Assert.That(File.Exists(ConfigPath), Is.False);
    }

    [TestCase("show")]
    [TestCase("rotate")]
    [TestCase("export", "--config-out")]
    public async Task Command_for_a_malformed_uuid_fails_naming_it(string command, params string[] withFileOption)
    {
        CliResult result = await RunAsync(["users", command, "not-a-uuid", .. withFileOption.Select(option => $"{option}={ConfigPath}")]);

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.BadInput));
        Assert.That(result.Error, Does.Contain("'not-a-uuid' is not a UUID"));
    }

    private string ConfigPath => _directory.Combine("hidden.json");

    private Task<CliResult> RunAsync(params string[] args) => Cli.RunAsync([.. args, "--data-dir", _directory.Path]);
}
