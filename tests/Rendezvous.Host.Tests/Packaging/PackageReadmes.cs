using System.Text.RegularExpressions;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>
/// The packages' own READMEs (src/PROJECT/README.md, packed as each package's README.md) and what a link in them, or
/// in the tool's help, may point to: absolute URLs only, and those into the repository must name a file that exists.
/// </summary>
internal static partial class PackageReadmes
{
    /// <summary>The repository on its default branch, as Directory.Build.props's PackageProjectUrl names it.</summary>
    public const string RepositoryBlobUrl = "https://github.com/rendezvous-dotnet/rendezvous/blob/main/";

    /// <summary>The packed projects, each with its README beside its project file.</summary>
    public static readonly string[] Projects = ["Rendezvous.Protocol", "Rendezvous.Security", "Rendezvous.Client", "Rendezvous.Server", "Rendezvous.Redis", "Rendezvous.Host"];

    /// <summary>The project a package is packed from (the tool's package id differs from its project's name).</summary>
    public static string ProjectOf(string packageId) => packageId == "Rendezvous.Tool" ? "Rendezvous.Host" : packageId;

    /// <summary>The README of a project, relative to the repository root.</summary>
    public static string Path(string project) => $"src/{project}/README.md";

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"https://\S+")]
    private static partial Regex Url();

    /// <summary>The targets of the markdown links of a text.</summary>
    public static IEnumerable<string> LinkTargets(string markdown) =>
        MarkdownLink().Matches(markdown).Select(m => m.Groups["target"].Value);

    /// <summary>The https:// URLs written out in a plain text (such as a help text).</summary>
    public static IEnumerable<string> Urls(string text) => Url().Matches(text).Select(m => m.Value.TrimEnd('.', ',', ')'));

    /// <summary>Links into the repository whose file does not exist in this clone (anchors ignored).</summary>
    public static IEnumerable<string> BrokenRepositoryLinks(IEnumerable<string> urls) =>
        urls.Where(u => u.StartsWith(RepositoryBlobUrl, StringComparison.Ordinal))
            .Where(u => !File.Exists(RepositoryRoot.Combine(u[RepositoryBlobUrl.Length..].Split('#')[0].Split('/'))));
}
