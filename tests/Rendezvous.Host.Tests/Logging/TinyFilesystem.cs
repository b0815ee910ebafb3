using System.Diagnostics;
using System.Runtime.Versioning;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Logging;

/// <summary>A size-limited tmpfs mounted on a folder (which needs root, as in the container the tests run in), unmounted on dispose.</summary>
[SupportedOSPlatform("linux")]
internal sealed class TinyFilesystem : IDisposable
{
    private readonly string _path;

    private TinyFilesystem(string path) => _path = path;

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (as mount's <c>size=</c> takes it, e.g. <c>64k</c>) on <paramref name="path"/>, created if need be.</summary>
    public static TinyFilesystem Mount(string path, string size)
    {
        Directory.CreateDirectory(path);
        var (exitCode, error) = Run("mount", "-t", "tmpfs", "-o", $"size={size},mode=0750", "tmpfs", path);
        Assume.That(exitCode, Is.Zero, $"a tmpfs cannot be mounted here (root is needed): {error}");
        return new TinyFilesystem(path);
    }

    public void Dispose()
    {
        var (exitCode, error) = Run("umount", _path);
        Assert.That(exitCode, Is.Zero, $"umount {_path}: {error}");
    }

    private static (int ExitCode, string Error) Run(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TestTimeouts.Short))
            {
                process.Kill();
                return (-1, $"{command} did not finish in {TestTimeouts.Short}");
            }

            return (process.ExitCode, error.Result);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
