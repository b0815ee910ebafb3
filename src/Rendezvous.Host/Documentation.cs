using System.Reflection;

namespace Rendezvous.Host;

/// <summary>
/// Absolute links to the documentation, for texts the tool prints (<c>--help</c>): the tool package carries no docs/
/// folder. The base is the package's project URL (Directory.Build.props), stamped into the assembly at build time.
/// </summary>
internal static class Documentation
{
    /// <summary>The docs/ folder of the repository on its default branch, ending in a slash.</summary>
    public static string BaseUrl { get; } =
        typeof(Documentation).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "RendezvousDocumentationUrl").Value!;

    /// <summary>The absolute URL of a page of docs/, e.g. <c>configuration.md</c>.</summary>
    public static string Page(string page) => BaseUrl + page;
}
