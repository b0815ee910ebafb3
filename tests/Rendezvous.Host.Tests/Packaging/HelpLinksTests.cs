using System.CommandLine;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>The tool package has no docs/ folder: its help links the documentation by absolute URL.</summary>
public sealed class HelpLinksTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [TestCase("serve", "configuration.md")]
    public async Task The_help_links_the_docs_by_absolute_url(string command, string page)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exitCode = await Program.BuildRootCommand()
            .Parse([command, "--help"])
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = error })
            .WaitAsync(Timeout);

        var help = output.ToString();
        var urls = PackageReadmes.Urls(help).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, error.ToString());
            Assert.That(urls, Does.Contain($"{PackageReadmes.RepositoryBlobUrl}docs/{page}"));
            Assert.That(help, Does.Not.Contain($" docs/{page}"), "a relative docs/ path means nothing to a tool installed from a package");
            Assert.That(PackageReadmes.BrokenRepositoryLinks(urls), Is.Empty);
        });
    }
}
