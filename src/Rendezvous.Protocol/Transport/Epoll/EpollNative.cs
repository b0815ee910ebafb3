using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>
/// The few libc calls the epoll transport makes, bound directly (<c>LibraryImport</c>, no marshalling: every argument
/// is an integer or a pointer). Constants are Linux's on x86-64 and ARM64, the two architectures the transport runs on
/// (<see cref="IsSupported"/>).
/// </summary>
internal static unsafe partial class EpollNative
{
    internal const int EAGAIN = 11;
    internal const int EINTR = 4;
    internal const int EMFILE = 24;
    internal const int ENFILE = 23;
    internal const int ENOBUFS = 105;
    internal const int ENOMEM = 12;
    internal const int ECONNABORTED = 103;
    internal const int EPROTO = 71;
    internal const int EPERM = 1;
    internal const int EINVAL = 22;
    internal const int ENOSYS = 38;

    internal const int SOCK_NONBLOCK = 0x800;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int EPOLL_CLOEXEC = 0x80000;
    internal const int EFD_NONBLOCK = 0x800;
    internal const int EFD_CLOEXEC = 0x80000;

    internal const int EPOLL_CTL_ADD = 1;
    internal const int EPOLL_CTL_DEL = 2;

    internal const uint EPOLLIN = 0x001;
    internal const uint EPOLLOUT = 0x004;
    internal const uint EPOLLERR = 0x008;
    internal const uint EPOLLHUP = 0x010;
    internal const uint EPOLLRDHUP = 0x2000;
    internal const uint EPOLLET = 1u << 31;

    internal const int MSG_NOSIGNAL = 0x4000;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;
    internal const uint SPLICE_F_MOVE = 1;
    internal const uint SPLICE_F_NONBLOCK = 2;
    internal const int SHUT_WR = 1;

    internal const int SOL_SOCKET = 1;
    internal const int SO_ERROR = 4;
    internal const int SO_KEEPALIVE = 9;
    internal const int SO_LINGER = 13;
    internal const int IPPROTO_TCP = 6;
    internal const int TCP_NODELAY = 1;
    internal const int TCP_KEEPIDLE = 4;
    internal const int TCP_KEEPINTVL = 5;
    internal const int TCP_KEEPCNT = 6;
    internal const int TCP_INFO = 11;
    internal const int TCP_NOTSENT_LOWAT = 25;

    /// <summary><c>SIOCOUTQ</c>: bytes in the send queue not yet acknowledged by the peer.</summary>
    internal const nuint SIOCOUTQ = 0x5411;

    private const int AF_INET = 2;
    private const int AF_INET6 = 10;

    /// <summary>Whether this process can use the epoll transport: Linux on x86-64 or ARM64.</summary>
    internal static bool IsSupported { get; } = OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>The size of <c>struct epoll_event</c>: packed to 12 bytes on x86-64, 16 elsewhere.</summary>
    internal static int EpollEventSize { get; } = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>Where the 64-bit user data sits in <c>struct epoll_event</c>.</summary>
    internal static int EpollDataOffset { get; } = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int epoll_ctl(int epfd, int op, int fd, byte* @event);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int accept4(int sockfd, byte* addr, int* addrlen, int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint recv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint read(int fd, byte* buf, nuint len);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint write(int fd, byte* buf, nuint len);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int setsockopt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int getsockopt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int ioctl(int fd, nuint request, int* value);

    /// <summary>The errno of the last call above on this thread.</summary>
    internal static int LastError => Marshal.GetLastPInvokeError();

    /// <summary>Sets an integer socket option; returns whether it took.</summary>
    internal static bool SetInt(int fd, int level, int name, int value) => setsockopt(fd, level, name, &value, sizeof(int)) == 0;

    /// <summary>Reads an integer socket option, or <see langword="null"/> when it cannot be read.</summary>
    internal static int? GetInt(int fd, int level, int name)
    {
        int value = 0, length = sizeof(int);
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : null;
    }

    /// <summary>Makes the next <c>close</c> of <paramref name="fd"/> send a TCP reset (linger on, 0 seconds).</summary>
    internal static void SetResetOnClose(int fd)
    {
        var linger = stackalloc int[2] { 1, 0 };
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 2 * sizeof(int));
    }

    /// <summary>Bytes written to <paramref name="fd"/> its peer has not acknowledged, or <see langword="null"/> when unknown.</summary>
    internal static long? Unacknowledged(int fd)
    {
        var queued = 0;
        return ioctl(fd, SIOCOUTQ, &queued) == 0 ? queued : null;
    }

    /// <summary>
    /// Whether the connection on <paramref name="fd"/> is gone: a pending error (a reset by its peer) or the TCP state
    /// <c>TCP_CLOSE</c> (a reset whose error an earlier call already took).
    /// </summary>
    internal static bool HasFailed(int fd)
    {
        if (GetInt(fd, SOL_SOCKET, SO_ERROR) is not 0)
        {
            return true;
        }

        // struct tcp_info begins with the state; TCP_CLOSE is 7.
        var info = stackalloc byte[8];
        var length = 8;
        return getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &length) != 0 || (length >= 1 && info[0] == 7);
    }

    /// <summary>The IP endpoint in a <c>sockaddr_in</c> or <c>sockaddr_in6</c>, or <see langword="null"/> for another family.</summary>
    internal static IPEndPoint? ToEndPoint(ReadOnlySpan<byte> address)
    {
        if (address.Length < 2)
        {
            return null;
        }

        var family = MemoryMarshal.Read<ushort>(address);
        var port = (address[2] << 8) | address[3];
        if (family == AF_INET && address.Length >= 8)
        {
            return new IPEndPoint(new IPAddress(address.Slice(4, 4)), port);
        }

        if (family == AF_INET6 && address.Length >= 28)
        {
            var scope = MemoryMarshal.Read<uint>(address.Slice(24, 4));
            return new IPEndPoint(new IPAddress(address.Slice(8, 16), scope), port);
        }

        return null;
    }

    /// <summary>The exception for a failed call with <paramref name="errno"/>, as .NET's sockets would throw it.</summary>
    internal static SocketException SocketError(int errno) => new(errno switch
    {
        EMFILE or ENFILE => (int)System.Net.Sockets.SocketError.TooManyOpenSockets,
        ENOBUFS or ENOMEM => (int)System.Net.Sockets.SocketError.NoBufferSpaceAvailable,
        ECONNABORTED => (int)System.Net.Sockets.SocketError.ConnectionAborted,
        104 => (int)System.Net.Sockets.SocketError.ConnectionReset,
        32 => (int)System.Net.Sockets.SocketError.Shutdown,
        9 => (int)System.Net.Sockets.SocketError.OperationAborted,
        _ => (int)System.Net.Sockets.SocketError.SocketError,
    });
}
