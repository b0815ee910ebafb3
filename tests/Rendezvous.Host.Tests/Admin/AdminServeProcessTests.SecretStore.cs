using System.Net;
using System.Text.RegularExpressions;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary>A real <c>rendezvous serve</c> whose secrets database is moved away and put back while it serves.</summary>
public sealed partial class AdminServeProcessTests
{
    [GeneratedRegex(@"The secrets database \S+ works again")]
    private static partial Regex StoreRecovered();

    [Test]
    public async Task Serve_reports_a_database_moved_away_on_healthz_logs_it_once_and_recovers_when_it_is_back()
    {
        using var serve = RendezvousProcess.Start(
            _directory.Path,
            "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0", "--admin-url", "http://127.0.0.1:0");
        var admin = new Uri((await serve.WaitForOutputAsync(AdminListening())).Groups["url"].Value);
        using var http = new HttpClient { BaseAddress = admin, Timeout = TestTimeouts.Short };
        Assert.That((await http.GetAsync("/healthz").WaitAsync(TestTimeouts.Short)).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        var path = _directory.Combine(SqliteSecretStore.DefaultFileName);
        string[] files = [.. new[] { string.Empty, "-wal", "-shm" }.Select(suffix => path + suffix).Where(File.Exists)];
        foreach (var file in files)
        {
            File.Move(file, file + ".away");
        }

        for (var i = 0; i < 3; i++)
        {
            using var failing = await http.GetAsync("/healthz").WaitAsync(TestTimeouts.Short);
            Assert.That(failing.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        }

        Assert.That(File.Exists(path), Is.False);
        foreach (var file in files)
        {
            File.Move(file + ".away", file);
        }

        Assert.That((await http.GetAsync("/healthz").WaitAsync(TestTimeouts.Short)).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        await serve.WaitForOutputAsync(StoreRecovered());
        var log = serve.Output + serve.Error;
        Assert.Multiple(() =>
        {
            Assert.That(Regex.Count(log, "The secrets database .* is failing: .*was removed while in use"), Is.EqualTo(1), log);
            Assert.That(StoreRecovered().Count(log), Is.EqualTo(1), log);
            Assert.That(log, Does.Not.Contain("   at "), "no stack trace");
            Assert.That(log, Does.Not.Contain("Health check"), "not one line per /healthz request");
        });
    }
}
