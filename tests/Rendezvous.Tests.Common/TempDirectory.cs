namespace Rendezvous.Tests.Common;

/// <summary>A fresh directory under the system temp directory, deleted with its contents on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    /// <summary>Creates the directory.</summary>
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rendezvous-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    /// <summary>The full path of the directory.</summary>
    public string Path { get; }

    /// <summary>A path inside the directory.</summary>
    /// <param name="relative">The relative path.</param>
    /// <returns>The combined path.</returns>
    public string Combine(string relative) => System.IO.Path.Combine(Path, relative);

    /// <summary>Deletes the directory and everything in it.</summary>
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a file still open elsewhere must not fail the test.
        }
    }
}
