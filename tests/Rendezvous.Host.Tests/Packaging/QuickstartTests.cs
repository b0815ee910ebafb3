using System.Diagnostics;
using System.Text.RegularExpressions;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>docs/quickstart.md followed literally on one machine: no port taken twice, no secret left for git to add.</summary>
public sealed partial class QuickstartTests
{
    [GeneratedRegex(@"--listen 127\.0\.0\.1:(?<port>[0-9]+)")]
    private static partial Regex ListenPort();

    [GeneratedRegex(@"--to 127\.0\.0\.1:(?<port>[0-9]+)")]
    private static partial Regex ExposedPort();

    private static IReadOnlyList<int> Ports(Regex pattern) =>
        [.. QuickstartDoc.ShellLines.SelectMany(l => pattern.Matches(l)).Select(m => int.Parse(m.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture)).Distinct()];

    [Test]
    public void Connect_listens_on_ports_that_no_exposed_service_or_the_server_uses()
    {
        var listen = Ports(ListenPort());
        var exposed = Ports(ExposedPort());

        Assert.Multiple(() =>
        {
            Assert.That(listen, Is.Not.Empty, "the quickstart shows connect --listen");
            Assert.That(exposed, Is.Not.Empty, "the quickstart shows expose --to");
            Assert.That(listen.Intersect(exposed), Is.Empty, "connect --listen would take the port of a service expose reaches on the same machine");
            Assert.That(listen.Intersect([8893, 8898, 8899]), Is.Empty, "connect --listen would take a port of serve (admin, registrar, relay)");
        });
    }

    [Test]
    public void The_end_to_end_certificate_is_created_under_the_name_expose_is_given()
    {
        var create = QuickstartDoc.RendezvousCommand("cert create");
        var expose = QuickstartDoc.RendezvousCommand("expose --config hidden.json --to 127.0.0.1:8080 --tls-cert");
        var directory = QuickstartDoc.ValueOf(create, "--out");
        var name = QuickstartDoc.ValueOf(create, "--name");

        Assert.Multiple(() =>
        {
            Assert.That(QuickstartDoc.ValueOf(expose, "--tls-cert"), Is.EqualTo($"{directory}/{name}.crt"));
            Assert.That(QuickstartDoc.ValueOf(expose, "--tls-key"), Is.EqualTo($"{directory}/{name}.key"));
            Assert.That(name, Is.Not.EqualTo("registrar"), "the hidden machine's certificate is not the registrar's");
        });
    }

    [Test]
    public async Task Files_the_quickstart_creates_are_ignored_by_git_in_the_clone()
    {
        Assume.That(Path.Exists(RepositoryRoot.Combine(".git")), Is.True, "not a git checkout");
        var create = QuickstartDoc.RendezvousCommand("cert create");
        string[] created =
        [
            "hidden.json",
            "web.json",
            "rendezvous-data/registrar.key",
            "rendezvous-data/rendezvous.db",
            $"{QuickstartDoc.ValueOf(create, "--out")}/{QuickstartDoc.ValueOf(create, "--name")}.key",
        ];
        Assert.That(QuickstartDoc.Text, Does.Contain("--config-out hidden.json").And.Contain("--config-out web.json"));

        foreach (var path in created)
        {
            Assert.That(await CheckIgnoreAsync(path), Is.Zero, $"git would add {path} (not covered by .gitignore)");
        }
    }

    /// <summary><c>git check-ignore --no-index -q PATH</c> in the clone: 0 when ignored, 1 when not.</summary>
    private static async Task<int> CheckIgnoreAsync(string path)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = RepositoryRoot.Path, UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "check-ignore", "--no-index", "-q", path })
        {
            start.ArgumentList.Add(arg);
        }

        using var git = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TestTimeouts.Long);
        var error = git.StandardError.ReadToEndAsync(timeout.Token);
        await git.WaitForExitAsync(timeout.Token);
        Assert.That(git.ExitCode, Is.AnyOf(0, 1), await error);
        return git.ExitCode;
    }
}
