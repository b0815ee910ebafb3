using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Rendezvous.Security.Internal;

/// <summary>
/// The one SQLite call Microsoft.Data.Sqlite does not expose, made into the very library it loaded (<c>e_sqlite3</c>).
/// </summary>
internal static class NativeMethods
{
    /// <summary><c>SQLITE_FCNTL_HAS_MOVED</c>: whether the file a connection has open is no longer the one at its path.</summary>
    private const int HasMovedOperation = 20;

    private const int SqliteOk = 0;

    /// <summary>
    /// Whether the database file <paramref name="connection"/> has open was removed, renamed or replaced by another
    /// file since it was opened (SQLite compares the open file's identity with the path's). A VFS that cannot tell
    /// (Windows, where an open file cannot be removed) answers no.
    /// </summary>
    public static bool HasMoved(SqliteConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (s_unavailable)
        {
            return false;
        }

        try
        {
            int moved = 0;
            int result = sqlite3_file_control(connection.Handle!.DangerousGetHandle(), IntPtr.Zero, HasMovedOperation, ref moved);
            return result == SqliteOk && moved != 0;
        }
        catch (Exception exception) when (exception is DllNotFoundException or EntryPointNotFoundException)
        {
            // A SQLite library of another name (a custom SQLitePCLRaw provider): removal is still noticed, replacement is not.
            s_unavailable = true;
            return false;
        }
    }

    private static volatile bool s_unavailable;

    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int sqlite3_file_control(IntPtr db, IntPtr databaseName, int operation, ref int argument);
}
