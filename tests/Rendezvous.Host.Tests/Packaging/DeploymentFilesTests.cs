using Rendezvous.Host.Commands;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>deploy/rendezvous.service and docs/operations.md, which quotes it, stay in step with each other and with serve.</summary>
public sealed class DeploymentFilesTests
{
    private static string Unit => File.ReadAllText(RepositoryRoot.Combine("deploy", "rendezvous.service"));

    [Test]
    public void Operations_md_quotes_the_shipped_unit_file_exactly()
    {
        var guide = File.ReadAllText(RepositoryRoot.Combine("docs", "operations.md"));
        var start = guide.IndexOf("```ini\n", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), "docs/operations.md has no ```ini block");
        start += "```ini\n".Length;
        var end = guide.IndexOf("```\n", start, StringComparison.Ordinal);

        Assert.That(guide[start..end], Is.EqualTo(Unit));
    }

    [Test]
    public void The_unit_starts_serve_as_a_notify_service_with_flags_serve_accepts()
    {
        var execStart = Unit.Split('\n').Single(line => line.StartsWith("ExecStart=", StringComparison.Ordinal));
        var words = execStart["ExecStart=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var serve = ServeCommand.Create();

        Assert.Multiple(() =>
        {
            Assert.That(Unit, Does.Contain("\nType=notify\n"));
            Assert.That(words[1], Is.EqualTo("serve"));
            Assert.That(serve.Parse(words[2..]).Errors, Is.Empty, execStart);
        });
    }
}
