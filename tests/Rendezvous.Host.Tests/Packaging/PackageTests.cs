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

    private static readonly string[] Libraries = ["Rendezvous.Protocol", "Rendezvous.Security", "Rendezvous.Client", "Rendezvous.Server", "Rendezvous.Redis"];

    /// <summary>The libraries released in eng/baseline's version; Rendezvous.Redis came after 0.1.0.</summary>
    private static readonly string[] ReleasedLibraries = ["Rendezvous.Protocol", "Rendezvous.Security", "Rendezvous.Client", "Rendezvous.Server"];

    private const string Tool = "Rendezvous.Tool";

    /// <summary>
    /// The runtimes whose native SQLite the tool package carries: those where .NET 10 and ASP.NET Core run
    /// (src/Rendezvous.Host/README.md lists them).
    /// </summary>
    private static readonly string[] ToolRuntimes =
    [
        "linux-x64", "linux-arm64", "linux-arm", "linux-musl-x64", "linux-musl-arm64", "linux-musl-arm",
        "osx-x64", "osx-arm64", "win-x64", "win-arm64", "win-x86",
    ];

    // The packages' version is the one the rendezvous assembly was built with (Directory.Build.props).
    private static readonly string Version = typeof(Rendezvous.Host.Commands.ServeCommand).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    private TemporaryDirectory _output = null!;

    [OneTimeSetUp]
    public async Task PackTheSolution()
    {
        _output = new TemporaryDirectory();
        var (exitCode, output) = await RunAsync(
            RendezvousProcess.Dotnet,
            RepositoryRoot.Path,
            PackTimeout,
            ["pack", "Rendezvous.sln", "--no-build", "-c", RepositoryRoot.Configuration, "-o", _output.Path, "-nologo", "--disable-build-servers", "-nodeReuse:false"]);

        Assert.That(exitCode, Is.Zero, $"dotnet pack failed:\n{output}");
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

    /// <summary>
    /// The library's pack runs package validation against its released package in eng/baseline/ (eng/ship-api.sh), so
    /// the pack in <see cref="PackTheSolution"/> fails on a breaking change; the baseline carries the library.
    /// </summary>
    [TestCaseSource(nameof(ReleasedLibraries))]
    public async Task The_library_is_validated_against_its_released_package(string id)
    {
        var (exitCode, output) = await RunAsync(
            RendezvousProcess.Dotnet,
            RepositoryRoot.Path,
            TestTimeouts.Long,
            ["msbuild", $"src/{id}", "-getProperty:EnablePackageValidation", "-getProperty:PackageValidationBaselinePath", "-nologo", "-nodeReuse:false"]);
        Assert.That(exitCode, Is.Zero, output);
        var properties = System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("Properties");
        var baseline = properties.GetProperty("PackageValidationBaselinePath").GetString()!;

        Assert.Multiple(() =>
        {
            Assert.That(properties.GetProperty("EnablePackageValidation").GetString(), Is.EqualTo("true"));
            Assert.That(File.Exists(baseline), Is.True, $"{baseline} is missing: run eng/ship-api.sh on a release commit");
        });
        using var package = ZipFile.OpenRead(baseline);
        Assert.That(package.GetEntry($"lib/net10.0/{id}.dll"), Is.Not.Null);
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

    [Test]
    public void The_tool_package_carries_native_sqlite_only_for_the_runtimes_the_tool_runs_on()
    {
        using var package = Open(Tool);
        var runtimes = package.Entries
            .Select(e => e.FullName.Split('/'))
            .Where(path => path.Length > 4 && path[3] == "runtimes")
            .Select(path => path[4])
            .Distinct()
            .Order(StringComparer.Ordinal);

        Assert.That(runtimes, Is.EqualTo(ToolRuntimes.Order(StringComparer.Ordinal)));
    }

    [Test]
    public void The_tool_readme_names_the_platforms_it_carries_sqlite_for()
    {
        var readme = File.ReadAllText(RepositoryRoot.Combine("src", "Rendezvous.Host", "README.md"));

        Assert.That(ToolRuntimes.Where(rid => !readme.Contains($"`{rid}`", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task The_tool_installed_from_its_package_runs_and_writes_its_sqlite_database()
    {
        using var tools = new TemporaryDirectory();
        var config = tools.Combine("nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="packed" value="{_output.Path}" />
              </packageSources>
            </configuration>
            """);
        var (installed, installOutput) = await RunAsync(
            RendezvousProcess.Dotnet, tools.Path, PackTimeout, ["tool", "install", Tool, "--version", Version, "--tool-path", tools.Combine("bin"), "--configfile", config]);
        Assert.That(installed, Is.Zero, installOutput);

        var rendezvous = tools.Combine("bin", OperatingSystem.IsWindows() ? "rendezvous.exe" : "rendezvous");
        var dotnetRoot = Path.GetDirectoryName(new FileInfo(RendezvousProcess.Dotnet).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? RendezvousProcess.Dotnet)!;
        var environment = new Dictionary<string, string> { ["DOTNET_ROOT"] = dotnetRoot };
        var (helped, help) = await RunAsync(rendezvous, tools.Path, TestTimeouts.Long, ["--help"], environment);
        var (added, add) = await RunAsync(rendezvous, tools.Path, TestTimeouts.Long, ["users", "add", "--data-dir", tools.Combine("data")], environment);

        Assert.Multiple(() =>
        {
            Assert.That(helped, Is.Zero, help);
            Assert.That(help, Does.Contain("serve"));
            Assert.That(added, Is.Zero, add);
            Assert.That(new FileInfo(tools.Combine("data", "rendezvous.db")).Length, Is.GreaterThan(0), "SQLite wrote the secret");
        });
    }

    /// <summary>Runs a command to its end; returns its exit code and what it wrote to standard output and error.</summary>
    private static async Task<(int ExitCode, string Output)> RunAsync(
        string fileName, string workingDirectory, TimeSpan timeout, string[] arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: false);
            throw;
        }

        return (process.ExitCode, $"{await output.WaitAsync(TestTimeouts.Short)}\n{await error.WaitAsync(TestTimeouts.Short)}");
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
