using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>
/// The dependency picture of docs/architecture.md holds: every shipping project (src/*/*.csproj) references only
/// what the picture allows, and the table there says the same as this test.
/// </summary>
public sealed partial class DependencyPictureTests
{
    /// <summary>Our projects each shipping project may reference. Nothing may reference Host.</summary>
    private static readonly Dictionary<string, string[]> AllowedProjects = new()
    {
        ["Rendezvous.Protocol"] = [],
        ["Rendezvous.Security"] = ["Rendezvous.Protocol"],
        ["Rendezvous.Server"] = ["Rendezvous.Protocol"], // not Security: a custom-policy app ships no SQLite or Otp.NET
        ["Rendezvous.Client"] = ["Rendezvous.Protocol"],
        ["Rendezvous.Redis"] = ["Rendezvous.Protocol", "Rendezvous.Security"], // the cluster's stores: a secret store is Security's seam
        ["Rendezvous.Host"] = ["Rendezvous.Protocol", "Rendezvous.Security", "Rendezvous.Server", "Rendezvous.Client", "Rendezvous.Redis"],
    };

    /// <summary>
    /// Packages (PackageReference) and shared frameworks (FrameworkReference) each may take; <c>*</c> matches any text.
    /// Host is the application and takes what its commands need.
    /// </summary>
    private static readonly Dictionary<string, string[]> AllowedPackages = new()
    {
        // The wire protocol: nothing but the abstractions an embedder already has.
        ["Rendezvous.Protocol"] = ["Microsoft.Extensions.*.Abstractions", "Microsoft.Extensions.Options", "System.IO.Pipelines"],
        ["Rendezvous.Security"] =
        [
            "Microsoft.Data.Sqlite", "Otp.NET", "Microsoft.Extensions.*.Abstractions", "Microsoft.Extensions.Options",
            "Microsoft.Extensions.Configuration.Binder",
        ],
        ["Rendezvous.Server"] = ["Microsoft.AspNetCore.App"], // the shared framework only
        ["Rendezvous.Client"] =
        [
            "Otp.NET", // the TOTP code source
            "Microsoft.Extensions.*.Abstractions", "Microsoft.Extensions.Options", "Microsoft.Extensions.Options.ConfigurationExtensions",
        ],
        ["Rendezvous.Redis"] =
        [
            "StackExchange.Redis", "Microsoft.Extensions.*.Abstractions", "Microsoft.Extensions.Options", "Microsoft.Extensions.Configuration.Binder",
        ],
        ["Rendezvous.Host"] = ["*"],
    };

    [GeneratedRegex(@"^\| `(?<project>Rendezvous\.[A-Za-z]+)` \| (?<projects>[^|]+) \| (?<packages>[^|]+) \|$")]
    private static partial Regex PictureRow();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Quoted();

    private static IEnumerable<string> ProjectFiles() =>
        Directory.GetDirectories(RepositoryRoot.Combine("src"))
            .SelectMany(directory => Directory.GetFiles(directory, "*.csproj"))
            .Order(StringComparer.Ordinal);

    [Test]
    public void Every_shipping_project_is_in_the_picture()
    {
        var projects = ProjectFiles().Select(Path.GetFileNameWithoutExtension).ToList();

        Assert.That(projects, Is.EquivalentTo(AllowedProjects.Keys),
            "a project under src/ that is not in the picture: add it to docs/architecture.md and to this test");
    }

    [Test]
    public void Shipping_projects_reference_only_what_the_picture_allows()
    {
        var offending = new List<string>();
        foreach (string file in ProjectFiles())
        {
            string project = Path.GetFileNameWithoutExtension(file);
            if (!AllowedProjects.TryGetValue(project, out string[]? projects))
            {
                continue; // Every_shipping_project_is_in_the_picture names it
            }

            var items = XDocument.Load(file).Descendants()
                .Where(e => e.Name.LocalName is "ProjectReference" or "PackageReference" or "FrameworkReference")
                .Select(e => (Kind: e.Name.LocalName, Include: (string?)e.Attribute("Include") ?? string.Empty));
            foreach ((string kind, string include) in items)
            {
                bool allowed = kind == "ProjectReference"
                    ? projects.Contains(Path.GetFileNameWithoutExtension(include.Replace('\\', '/')), StringComparer.Ordinal)
                    : AllowedPackages[project].Any(pattern => Matches(pattern, include));
                if (!allowed)
                {
                    offending.Add($"{project}: <{kind} Include=\"{include}\" /> is not allowed by the picture in docs/architecture.md");
                }
            }
        }

        Assert.That(offending, Is.Empty);
    }

    /// <summary>
    /// A shipping assembly opens its internals to test projects only: one package using another's internals breaks
    /// when the two are installed at different versions, and the Host must build as an app on the packages would.
    /// </summary>
    [Test]
    public void Shipping_projects_show_their_internals_to_test_projects_only()
    {
        var offending = ProjectFiles()
            .SelectMany(file => XDocument.Load(file).Descendants()
                .Where(e => e.Name.LocalName == "InternalsVisibleTo")
                .Select(e => (Project: Path.GetFileNameWithoutExtension(file), Friend: (string?)e.Attribute("Include") ?? string.Empty)))
            .Where(item => !item.Friend.EndsWith(".Tests", StringComparison.Ordinal) && item.Friend != "Rendezvous.Fuzz"
                && item.Friend != "Rendezvous.Tests.Common") // the tests' shared helpers (tests/), never packed
            .Select(item => $"{item.Project}: <InternalsVisibleTo Include=\"{item.Friend}\" /> is not a test project")
            .ToList();

        Assert.That(offending, Is.Empty);
    }

    [Test]
    public void The_table_in_architecture_md_says_what_this_test_checks()
    {
        var rows = File.ReadAllLines(RepositoryRoot.Combine("docs", "architecture.md"))
            .Select(line => PictureRow().Match(line))
            .Where(match => match.Success)
            .ToDictionary(match => match.Groups["project"].Value);

        Assert.That(rows.Keys, Is.EquivalentTo(AllowedProjects.Keys), "one row per shipping project");
        Assert.Multiple(() =>
        {
            foreach ((string project, Match row) in rows)
            {
                var projects = row.Groups["projects"].Value.Trim() is "none" ? [] : row.Groups["projects"].Value.Split(',').Select(p => "Rendezvous." + p.Trim());
                Assert.That(projects, Is.EquivalentTo(AllowedProjects[project]), $"{project}'s projects");
                if (AllowedPackages[project] is not ["*"])
                {
                    var packages = Quoted().Matches(row.Groups["packages"].Value).Select(m => m.Groups[1].Value);
                    Assert.That(packages, Is.EquivalentTo(AllowedPackages[project]), $"{project}'s packages");
                }
            }
        });
    }

    [TestCase("Microsoft.Extensions.*.Abstractions", "Microsoft.Extensions.Logging.Abstractions", true)]
    [TestCase("Microsoft.Extensions.*.Abstractions", "Microsoft.Extensions.Logging", false)]
    [TestCase("Microsoft.Extensions.Options", "Microsoft.Extensions.Options.ConfigurationExtensions", false)]
    [TestCase("Otp.NET", "OtpXNET", false)]
    public void A_pattern_matches_whole_names_with_star_for_any_text(string pattern, string name, bool expected) =>
        Assert.That(Matches(pattern, name), Is.EqualTo(expected));

    private static bool Matches(string pattern, string name) =>
        Regex.IsMatch(name, "^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.CultureInvariant);
}
