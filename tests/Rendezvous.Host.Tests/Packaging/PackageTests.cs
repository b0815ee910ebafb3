using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>
/// <c>dotnet pack Rendezvous.sln --no-build</c> (of the configuration these tests were built in, so the solution is
/// built already) into a temporary folder, once; each test then opens the packages as zip files.
/// </summary>
[NonParallelizable]
public sealed class PackageTests
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(5);

    private static readonly string[] Libraries = ["Rendezvous.Protocol", "Rendezvous.Security", "Rendezvous.Client", "Rendezvous.Server"];

    private const string Tool = "Rendezvous.Tool";

    // The packages' version is the one the rendezvous assembly was built with (Directory.Build.props).
    private static readonly string Version = typeof(Rendezvous.Host.Commands.ServeCommand).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    private TemporaryDirectory _output = null!;

    [OneTimeSetUp]
    public async Task PackTheSolution()
    {
        _output = new TemporaryDirectory();
        var start = new ProcessStartInfo(RendezvousProcess.Dotnet)
        {
            WorkingDirectory = RepositoryRoot.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            ArgumentList = { "pack", "Rendezvous.sln", "--no-build", "-c", RepositoryRoot.Configuration, "-o", _output.Path, "-nologo", "--disable-build-servers", "-nodeReuse:false" },
        };
        using var pack = Process.Start(start)!;
        var output = pack.StandardOutput.ReadToEndAsync();
        var error = pack.StandardError.ReadToEndAsync();
        try
        {
            await pack.WaitForExitAsync().WaitAsync(PackTimeout);
        }
        catch (TimeoutException)
        {
            pack.Kill(entireProcessTree: false);
            throw;
        }

        Assert.That(pack.ExitCode, Is.Zero, $"dotnet pack failed:\n{await output.WaitAsync(TestTimeouts.Short)}\n{await error.WaitAsync(TestTimeouts.Short)}");
    }

    [OneTimeTearDown]
    public void DeleteOutput() => _output.Dispose();

    private static IEnumerable<string> AllPackages => [.. Libraries, Tool];

    [Test]
    public void Exactly_the_libraries_and_the_tool_are_packed_each_with_a_symbol_package()
    {
        var files = Directory.GetFiles(_output.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal);

        Assert.That(files, Is.EqualTo(AllPackages.SelectMany(id => new[] { $"{id}.{Version}.nupkg", $"{id}.{Version}.snupkg" }).Order(StringComparer.Ordinal)));
    }

    [TestCaseSource(nameof(AllPackages))]
    public void The_package_has_a_readme_that_its_nuspec_names(string id)
    {
        using var package = Open(id);

        Assert.Multiple(() =>
        {
            Assert.That(package.GetEntry("README.md"), Is.Not.Null);
            Assert.That(Metadata(package, "readme")?.Value, Is.EqualTo("README.md"));
        });
    }

    [TestCaseSource(nameof(AllPackages))]
    public void The_package_readme_is_its_own_with_absolute_links_only(string id)
    {
        using var package = Open(id);
        using var reader = new StreamReader(package.GetEntry("README.md")!.Open());
        var readme = reader.ReadToEnd();
        var links = PackageReadmes.LinkTargets(readme).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(readme, Is.EqualTo(File.ReadAllText(RepositoryRoot.Combine(PackageReadmes.Path(PackageReadmes.ProjectOf(id)).Split('/')))));
            Assert.That(readme, Does.StartWith($"# {id}\n"), "the README is the package's, not the repository's");
            Assert.That(links, Is.Not.Empty);
            Assert.That(links.Where(l => !l.StartsWith("https://", StringComparison.Ordinal)), Is.Empty, "a package page has no docs/ folder: links must be absolute");
            Assert.That(PackageReadmes.BrokenRepositoryLinks(links), Is.Empty, "links into the repository must name files that exist");
        });
    }

    [TestCaseSource(nameof(AllPackages))]
    public void The_package_release_notes_point_to_the_changelog(string id)
    {
        using var package = Open(id);

        Assert.That(Metadata(package, "releaseNotes")?.Value, Is.EqualTo($"See {PackageReadmes.RepositoryBlobUrl}CHANGELOG.md"));
        Assert.That(File.Exists(RepositoryRoot.Combine("CHANGELOG.md")), Is.True);
    }

    [TestCaseSource(nameof(Libraries))]
    public void The_library_asks_for_the_first_net10_release_of_its_microsoft_dependencies(string id)
    {
        using var package = Open(id);
        var dependencies = Metadata(package, "dependencies")!.Descendants().Where(e => e.Name.LocalName == "dependency").ToList();
        var microsoft = dependencies
            .Where(d => d.Attribute("id")!.Value.StartsWith("Microsoft.", StringComparison.Ordinal) || d.Attribute("id")!.Value.StartsWith("System.", StringComparison.Ordinal))
            .ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);

        Assert.That(microsoft.Where(d => d.Value != "10.0.0"), Is.Empty, "a lower bound above 10.0.0 forces consumers to upgrade");
    }

    [TestCaseSource(nameof(AllPackages))]
    public void The_package_is_mit_licensed_and_names_its_repository(string id)
    {
        using var package = Open(id);
        var license = Metadata(package, "license");
        var repository = Metadata(package, "repository");

        Assert.Multiple(() =>
        {
            Assert.That(license?.Attribute("type")?.Value, Is.EqualTo("expression"));
            Assert.That(license?.Value, Is.EqualTo("MIT"));
            Assert.That(repository?.Attribute("type")?.Value, Is.EqualTo("git"));
            Assert.That(repository?.Attribute("url")?.Value, Does.StartWith("https://"));
            Assert.That(repository?.Attribute("commit")?.Value, Does.Match("^[0-9a-f]{40}$"), "the commit it was built from");
        });
    }

    [TestCaseSource(nameof(Libraries))]
    public void The_library_package_carries_its_xml_documentation(string id)
    {
        using var package = Open(id);

        Assert.Multiple(() =>
        {
            Assert.That(package.GetEntry($"lib/net10.0/{id}.dll"), Is.Not.Null);
            Assert.That(package.GetEntry($"lib/net10.0/{id}.xml"), Is.Not.Null);
        });
    }

    [Test]
    public void The_tool_package_installs_the_rendezvous_command()
    {
        using var package = Open(Tool);
        var settings = package.GetEntry("tools/net10.0/any/DotnetToolSettings.xml");
        Assert.That(settings, Is.Not.Null);
        using var stream = settings!.Open();
        var command = XDocument.Load(stream).Descendants("Command").Single();

        Assert.Multiple(() =>
        {
            Assert.That(command.Attribute("Name")?.Value, Is.EqualTo("rendezvous"));
            Assert.That(command.Attribute("EntryPoint")?.Value, Is.EqualTo("rendezvous.dll"));
            Assert.That(Metadata(package, "packageTypes")?.Elements().Single().Attribute("name")?.Value, Is.EqualTo("DotnetTool"));
        });
    }

    private ZipArchive Open(string id) => ZipFile.OpenRead(Path.Combine(_output.Path, $"{id}.{Version}.nupkg"));

    private static XElement? Metadata(ZipArchive package, string name)
    {
        var nuspec = package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = nuspec.Open();
        var metadata = XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        return metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name);
    }
}
