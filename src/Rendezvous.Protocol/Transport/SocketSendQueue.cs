using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// What the kernel still holds for a TCP socket's peer: bytes written but not yet acknowledged by it, and the cap on
/// bytes written but not yet sent (<c>TCP_NOTSENT_LOWAT</c>).
/// </summary>
internal static class SocketSendQueue
{
    /// <summary><c>SIOCOUTQ</c> (= <c>TIOCOUTQ</c>) on Linux: bytes in the send queue not yet acknowledged by the peer.</summary>
    private const uint LinuxOutQueue = 0x5411;

    /// <summary><c>TCP_INFO</c> on Linux.</summary>
    private const int LinuxTcpInfo = 11;

    /// <summary>The state <c>TCP_CLOSE</c> in Linux's <c>tcp_info</c>.</summary>
    private const byte LinuxTcpClose = 7;

    /// <summary><c>TCP_NOTSENT_LOWAT</c> on Linux.</summary>
    private const int LinuxNotSentLowWater = 25;

    /// <summary><c>TCP_NOTSENT_LOWAT</c> on macOS.</summary>
    private const int MacNotSentLowWater = 0x201;

    /// <summary><c>SO_NWRITE</c> on macOS: bytes in the send buffer (not yet acknowledged).</summary>
    private const int MacSendBufferUsed = 0x1024;

    private const int MacSocketLevel = 0xFFFF;

    /// <summary>
    /// Whether the unacknowledged bytes of a socket can be read here: Linux on the architectures whose <c>SIOCOUTQ</c>
    /// is 0x5411 (all .NET runs on but PowerPC), and macOS.
    /// </summary>
    internal static bool CanTell { get; } =
        (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture != Architecture.Ppc64le) || OperatingSystem.IsMacOS();

    /// <summary>
    /// How many bytes written to <paramref name="socket"/> its peer has not acknowledged yet (unsent, or sent and
    /// unacknowledged; on Linux a FIN not yet acknowledged counts as one), or <see langword="null"/> when the system cannot
    /// tell (see <see cref="CanTell"/>) or the socket is closed.
    /// </summary>
    internal static long? Unacknowledged(Socket socket)
    {
        if (!CanTell)
        {
            return null;
        }

        try
        {
            if (OperatingSystem.IsMacOS())
            {
                Span<byte> value = stackalloc byte[sizeof(int)];
                return socket.GetRawSocketOption(MacSocketLevel, MacSendBufferUsed, value) == sizeof(int) ? BitConverter.ToInt32(value) : null;
            }

            var handle = socket.SafeHandle;
            var added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                var queued = 0;
                return ioctl((int)handle.DangerousGetHandle(), LinuxOutQueue, ref queued) == 0 ? queued : null;
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether <paramref name="socket"/>'s connection is gone while it still holds unacknowledged bytes: a pending error
    /// (a reset by its peer), or on Linux the state <c>TCP_CLOSE</c> (a reset whose error a failed send already took);
    /// or the socket is closed.
    /// </summary>
    internal static bool HasFailed(Socket socket)
    {
        try
        {
            if (socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is int error && error != 0)
            {
                return true;
            }

            if (!OperatingSystem.IsLinux())
            {
                return false;
            }

            // struct tcp_info begins with the state; TCP_CLOSE is 7.
            Span<byte> info = stackalloc byte[8];
            return socket.GetRawSocketOption((int)ProtocolType.Tcp, LinuxTcpInfo, info) >= 1 && info[0] == LinuxTcpClose;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    /// <summary>
    /// Caps the bytes written to <paramref name="socket"/> but not sent yet (<c>TCP_NOTSENT_LOWAT</c>): a send waits
    /// once more than <paramref name="bytes"/> are queued unsent, so a slow peer's backlog stays with the writer while
    /// the bytes in flight (and so throughput) are not limited. Linux and macOS; ignored elsewhere.
    /// </summary>
    internal static void LimitUnsent(Socket socket, int bytes)
    {
        var option = OperatingSystem.IsLinux() ? LinuxNotSentLowWater : OperatingSystem.IsMacOS() ? MacNotSentLowWater : 0;
        if (option == 0)
        {
            return;
        }

        Span<byte> value = stackalloc byte[sizeof(int)];
        BitConverter.TryWriteBytes(value, bytes);
        socket.SetRawSocketOption((int)ProtocolType.Tcp, option, value);
    }

    /// <summary>Reads <c>TCP_NOTSENT_LOWAT</c> back (for tests), or <see langword="null"/> where it does not exist.</summary>
    internal static int? UnsentLimit(Socket socket)
    {
        var option = OperatingSystem.IsLinux() ? LinuxNotSentLowWater : OperatingSystem.IsMacOS() ? MacNotSentLowWater : 0;
        if (option == 0)
        {
            return null;
        }

        Span<byte> value = stackalloc byte[sizeof(int)];
        return socket.GetRawSocketOption((int)ProtocolType.Tcp, option, value) == sizeof(int) ? BitConverter.ToInt32(value) : null;
    }

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int ioctl(int descriptor, nuint request, ref int value);
}
