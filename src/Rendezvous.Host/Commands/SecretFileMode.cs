using System.Globalization;

namespace Rendezvous.Host.Commands;

/// <summary>Unix modes of files that hold a secret (the admin token, a hidden server's config file): owner-only is 0600.</summary>
internal static class SecretFileMode
{
    /// <summary>Read and write for the owner only: 0600.</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Whether group or others have any access to <paramref name="path"/> (or a special bit is set), with its
    /// <paramref name="mode"/>. Always <see langword="false"/> on Windows, which has no Unix modes.
    /// </summary>
    /// <exception cref="IOException">The file's mode cannot be read.</exception>
    public static bool IsOpenToOthers(string path, out UnixFileMode mode)
    {
        mode = OwnerOnly;
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        mode = File.GetUnixFileMode(path);
        return (mode & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0;
    }

    /// <summary>The mode in octal, as chmod and ls show it, e.g. <c>0644</c>.</summary>
    public static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');

    /// <summary>
    /// The warning for a secret-holding file that others may read, naming it, its mode and the fix; <see langword="null"/>
    /// when it is owner-only, on Windows, or when its mode cannot be read.
    /// </summary>
    public static string? Warning(string path, string holds)
    {
        try
        {
            if (!IsOpenToOthers(path, out var mode))
            {
                return null;
            }

            var fullPath = Path.GetFullPath(path);
            return string.Create(
                CultureInfo.InvariantCulture,
                $"warning: {fullPath} has mode {Octal(mode)}: other users of this machine may read {holds}. Make it owner-only: chmod 600 {fullPath}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
