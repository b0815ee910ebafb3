using Rendezvous.Server.Admin;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Admin;

/// <summary>The admin settings' validation: every bad value named with what is accepted; secrets never echoed.</summary>
public sealed class AdminOptionsTests
{
    private static IReadOnlyList<string> Failures(AdminOptions options) =>
        new AdminOptionsValidator().Validate(null, options).Failures?.ToList() ?? [];

    [Test]
    public void The_defaults_are_valid_and_listen_on_loopback_port_8893()
    {
        var options = new AdminOptions();

        Assert.Multiple(() =>
        {
            Assert.That(Failures(options), Is.Empty);
            Assert.That(options.Url, Is.EqualTo("http://127.0.0.1:8893"));
            Assert.That(options.Enabled, Is.True);
        });
    }

    [TestCase("none")]
    [TestCase("NONE")]
    [TestCase("")]
    public void None_or_empty_turns_the_listener_off(string url)
    {
        var options = new AdminOptions { Url = url };

        Assert.Multiple(() =>
        {
            Assert.That(options.Enabled, Is.False);
            Assert.That(Failures(options), Is.Empty);
        });
    }

    [TestCase("ftp://127.0.0.1:8893")]
    [TestCase("http://127.0.0.1:8893/admin")]
    [TestCase("nope")]
    public void A_malformed_url_is_refused_naming_it_and_the_accepted_forms(string url)
    {
        var failure = Failures(new AdminOptions { Url = url }).Single();

        Assert.That(failure, Does.Contain($"Rendezvous:Admin:Url is '{url}'").And.Contain("http://127.0.0.1:8893").And.Contain("'none'"));
    }

    [TestCase("http://0.0.0.0:8893")]
    [TestCase("https://*:8893")]
    [TestCase("http://192.0.2.10:8893")]
    public void A_non_loopback_address_is_refused_unless_allowed(string url)
    {
        var refused = Failures(new AdminOptions { Url = url }).Single();
        var allowed = Failures(new AdminOptions { Url = url, AllowRemote = true });

        Assert.Multiple(() =>
        {
            Assert.That(refused, Does.Contain($"'{url}'").And.Contain("not a loopback address").And.Contain("Rendezvous:Admin:AllowRemote=true").And.Contain("ssh -L"));
            Assert.That(allowed, Is.Empty);
        });
    }

    [TestCase("http://localhost:8893")]
    [TestCase("http://[::1]:8893")]
    public void Loopback_names_need_no_permission(string url)
    {
        Assert.That(Failures(new AdminOptions { Url = url }), Is.Empty);
    }

    [Test]
    public void A_short_token_is_refused_without_showing_it()
    {
        var failure = Failures(new AdminOptions { Token = "hunter2" }).Single();

        Assert.Multiple(() =>
        {
            Assert.That(failure, Does.Contain("Rendezvous:Admin:Token").And.Contain("7 characters").And.Contain("at least 16"));
            Assert.That(failure, Does.Not.Contain("hunter2"));
        });
    }

    [Test]
    public void Out_of_range_limits_are_all_reported_at_once()
    {
        var failures = Failures(new AdminOptions { MaxLoginFailures = 0, LoginFailureWindow = TimeSpan.Zero, SessionLifetime = TimeSpan.FromDays(31) });

        Assert.That(failures, Has.Count.EqualTo(3));
        Assert.That(string.Join("\n", failures), Does.Contain("MaxLoginFailures is 0").And.Contain("LoginFailureWindow is 00:00:00").And.Contain("SessionLifetime is 31.00:00:00"));
    }
}

/// <summary>The generated admin token: made once, owner-only, reused; a configured one wins.</summary>
public sealed class AdminTokenTests
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = new TemporaryDirectory();

    [TearDown]
    public void DeleteDirectory() => _directory.Dispose();

    [Test]
    [Platform(Exclude = "Win")]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_token_is_generated_on_first_run_into_an_owner_only_file()
    {
        var token = AdminToken.Resolve(null, _directory.Combine("data"));

        var path = _directory.Combine("data", AdminOptions.TokenFileName);
        var text = File.ReadAllText(path).Trim();
        Assert.Multiple(() =>
        {
            Assert.That(token.Generated, Is.True);
            Assert.That(token.FilePath, Is.EqualTo(path));
            Assert.That(text, Has.Length.GreaterThanOrEqualTo(40));
            Assert.That(token.Matches(text), Is.True);
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        });
    }

    [Test]
    public void The_token_file_is_reused_on_later_runs()
    {
        var first = AdminToken.Resolve(null, _directory.Path);
        var text = File.ReadAllText(_directory.Combine(AdminOptions.TokenFileName)).Trim();

        var second = AdminToken.Resolve(null, _directory.Path);

        Assert.Multiple(() =>
        {
            Assert.That(first.Generated, Is.True);
            Assert.That(second.Generated, Is.False);
            Assert.That(second.Matches(text), Is.True);
        });
    }

    [Test]
    [Platform(Exclude = "Win")]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_token_file_others_may_read_is_narrowed_to_owner_only()
    {
        var path = _directory.Combine(AdminOptions.TokenFileName);
        File.WriteAllText(path, "restored-from-a-backup-0123456789\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var token = AdminToken.Resolve(null, _directory.Path);

        Assert.Multiple(() =>
        {
            Assert.That(token.Narrowed, Is.True);
            Assert.That(token.Matches("restored-from-a-backup-0123456789"), Is.True);
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        });
    }

    [Test]
    public void A_configured_token_is_used_and_no_file_is_made()
    {
        var token = AdminToken.Resolve("configured-token-0123456789", _directory.Path);

        Assert.Multiple(() =>
        {
            Assert.That(token.FilePath, Is.Null);
            Assert.That(token.Matches("configured-token-0123456789"), Is.True);
            Assert.That(token.Matches("configured-token-012345678"), Is.False);
            Assert.That(token.Matches(null), Is.False);
            Assert.That(File.Exists(_directory.Combine(AdminOptions.TokenFileName)), Is.False);
        });
    }

    [Test]
    public void An_unusable_token_file_stops_the_start_naming_the_file_and_the_fix()
    {
        File.WriteAllText(_directory.Combine(AdminOptions.TokenFileName), "short\n");

        var error = Assert.Throws<InvalidOperationException>(() => AdminToken.Resolve(null, _directory.Path));

        Assert.That(error!.Message, Does.Contain(_directory.Combine(AdminOptions.TokenFileName)).And.Contain("Delete it").And.Not.Contain("short\n"));
    }
}
