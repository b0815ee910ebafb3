using System.Security.Cryptography;
using System.Text;

namespace Rendezvous.Server.Admin;

/// <summary>
/// The token that signs in to the admin page: the configured <c>Rendezvous:Admin:Token</c>, or a random one generated
/// on first run into <c>&lt;DataDirectory&gt;/admin-token</c> (mode 0600) and read from there after. Compared in constant time.
/// </summary>
internal sealed class AdminToken
{
    private const int GeneratedBytes = 32;

    /// <summary>Read and write for the owner only: 0600.</summary>
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly byte[] _hash;

    private AdminToken(string token, string? filePath)
    {
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        FilePath = filePath;
    }

    /// <summary>The file the token was read from or generated into; <see langword="null"/> when it is configured.</summary>
    public string? FilePath { get; }

    /// <summary>Whether the file was created by this call of <see cref="Resolve"/>.</summary>
    public bool Generated { get; private init; }

    /// <summary>Whether the existing file could be read by others (group or world) and was narrowed to owner-only by this call.</summary>
    public bool Narrowed { get; private init; }

    /// <summary>What is wrong with <paramref name="token"/> (too short, spaces), or <see langword="null"/> when it is acceptable.</summary>
    public static string? Problem(string token)
    {
        if (token.Length < AdminOptions.MinimumTokenLength)
        {
            return $"is {token.Length} characters long";
        }

        return token.Any(c => c <= ' ' || char.IsControl(c)) ? "contains spaces or control characters" : null;
    }

    /// <summary>Uses <paramref name="configured"/> when set, else reads or creates the token file in <paramref name="dataDirectory"/>.</summary>
    /// <exception cref="InvalidOperationException">The token file is unusable; the message names it and the fix.</exception>
    public static AdminToken Resolve(string? configured, string dataDirectory)
    {
        if (configured is not null)
        {
            return new AdminToken(configured, null);
        }

        var path = Path.GetFullPath(Path.Combine(dataDirectory, AdminOptions.TokenFileName));
        try
        {
            if (TryCreate(path, out var created))
            {
                return new AdminToken(created, path) { Generated = true };
            }

            var token = File.ReadAllText(path).Trim();
            if (Problem(token) is { } problem)
            {
                throw new InvalidOperationException($"The admin token file '{path}' {problem}; it must hold at least {AdminOptions.MinimumTokenLength} printable characters without spaces. Delete it to have a new token generated, or set Rendezvous:Admin:Token.");
            }

            return new AdminToken(token, path) { Narrowed = NarrowToOwner(path) };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot read or create the admin token file '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>Whether <paramref name="candidate"/> is the token, in time that does not depend on where they differ.</summary>
    public bool Matches(string? candidate) =>
        candidate is not null && CryptographicOperations.FixedTimeEquals(_hash, SHA256.HashData(Encoding.UTF8.GetBytes(candidate)));

    /// <summary>Makes the file owner-only (0600) when group or others may read or write it, e.g. after a restore from a backup.</summary>
    /// <returns>Whether its mode was changed.</returns>
    private static bool NarrowToOwner(string path)
    {
        if (OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & ~(OwnerOnly | UnixFileMode.UserExecute)) == 0)
        {
            return false;
        }

        File.SetUnixFileMode(path, OwnerOnly);
        return true;
    }

    /// <summary>Creates the file with a new random token, owner-only from its first byte; false when it exists already.</summary>
    private static bool TryCreate(string path, out string token)
    {
        token = string.Empty;
        if (File.Exists(path))
        {
            return false;
        }

        var directory = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }

        var generated = Convert.ToBase64String(RandomNumberGenerator.GetBytes(GeneratedBytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        try
        {
            using var stream = new FileStream(path, options);
            stream.Write(Encoding.ASCII.GetBytes(generated + "\n"));
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first; read theirs.
            return false;
        }

        token = generated;
        return true;
    }
}
