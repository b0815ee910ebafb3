using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Commands;

/// <summary>The password of <c>users import</c>: <c>--password</c>, else <c>REDISCLI_AUTH</c>.</summary>
public sealed partial class UsersImportTests
{
    [Test]
    public async Task Import_with_the_password_imports()
    {
        await SetAsync(_redisWithPassword, (First, Original(First, Base32)));

        CliResult result = await ImportFromAsync(_redisWithPassword, "--password", Password);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(await Store.TryGetAsync(First).WaitAsync(TestTimeouts.Short), Is.Not.Null);
    }

    [Test]
    public async Task Import_takes_the_password_from_REDISCLI_AUTH_when_not_given()
    {
        await SetAsync(_redisWithPassword, (First, Original(First, Base32)));
        Environment.SetEnvironmentVariable(UsersCommand.RedisPasswordVariable, Password);

        CliResult result = await ImportFromAsync(_redisWithPassword);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(await Store.TryGetAsync(First).WaitAsync(TestTimeouts.Short), Is.Not.Null);
    }

    [Test]
    public async Task Import_with_a_wrong_password_fails_saying_the_password_was_refused()
    {
        await SetAsync(_redisWithPassword, (First, Original(First, Base32)));

        CliResult result = await ImportFromAsync(_redisWithPassword, "--password", "not-the-password-1234");

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
        Assert.That(result.Error, Does.Contain($"Redis at {_redisWithPassword.EndPoint} refused the password"));
        Assert.That(result.Error, Does.Not.Contain("not-the-password-1234"), "the password itself is never printed");
        Assert.That(await Store.ListAsync().WaitAsync(TestTimeouts.Short), Is.Empty);
    }

    [Test]
    public async Task Import_without_a_password_fails_saying_one_is_required()
    {
        CliResult result = await ImportFromAsync(_redisWithPassword);

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
        Assert.That(result.Error, Does.Contain($"Redis at {_redisWithPassword.EndPoint} requires a password").And.Contain("REDISCLI_AUTH"));
    }
}
