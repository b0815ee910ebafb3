namespace Rendezvous.Host.Tests.Packaging;

/// <summary>The clone the tests were built from: the folder above the test assembly that holds Rendezvous.sln.</summary>
internal static class RepositoryRoot
{
    /// <summary>The folder of the test assembly (bin/&lt;Configuration&gt;/net10.0).</summary>
    public static string TestDirectory => System.IO.Path.GetDirectoryName(typeof(RepositoryRoot).Assembly.Location)!;

    /// <summary>The configuration the tests were built in, e.g. Release.</summary>
    public static string Configuration => new DirectoryInfo(TestDirectory).Parent!.Name;

    /// <summary>The repository's root folder.</summary>
    public static string Path { get; } = Find();

    /// <summary>A path below the root.</summary>
    public static string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    private static string Find()
    {
        var directory = new DirectoryInfo(TestDirectory);
        while (directory is not null && !File.Exists(System.IO.Path.Combine(directory.FullName, "Rendezvous.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException($"no Rendezvous.sln above {TestDirectory}");
    }
}
