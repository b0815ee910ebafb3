namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>A kernel pipe (read and write descriptors) that <c>splice(2)</c> moves a direction's bytes through.</summary>
internal readonly record struct EpollPipe(int Read, int Write);

/// <summary>
/// The pipes the epoll transport splices bulk transfers through, shared by every loop. A direction borrows one while
/// bytes are in flight and gives it back empty as soon as it drained, so the pool holds about as many pipes as
/// directions are busy at once, at most <see cref="MaxPipes"/> (each costs two descriptors and a few pages of kernel
/// memory while it holds bytes); when none is left a direction copies through user space instead.
/// </summary>
internal static unsafe class EpollPipePool
{
    /// <summary>The most pipes the process opens (twice as many descriptors, reserved from the relay's budget).</summary>
    internal const int MaxPipes = 64;

    private static readonly Stack<EpollPipe> s_idle = new();
    private static int s_open;

    /// <summary>How many pipes are open (idle or lent).</summary>
    internal static int Open => Volatile.Read(ref s_open);

    /// <summary>An empty pipe, or <see langword="null"/> when <see cref="MaxPipes"/> are lent or none can be made.</summary>
    internal static EpollPipe? Rent()
    {
        lock (s_idle)
        {
            if (s_idle.TryPop(out var idle))
            {
                return idle;
            }

            if (s_open >= MaxPipes)
            {
                return null;
            }

            s_open++;
        }

        var fds = stackalloc int[2];
        if (EpollNative.pipe2(fds, EpollNative.O_NONBLOCK | EpollNative.O_CLOEXEC) == 0)
        {
            return new EpollPipe(fds[0], fds[1]);
        }

        lock (s_idle)
        {
            s_open--;
        }

        return null;
    }

    /// <summary>Gives back a pipe that holds no bytes.</summary>
    internal static void Return(EpollPipe pipe)
    {
        lock (s_idle)
        {
            s_idle.Push(pipe);
        }
    }

    /// <summary>Closes a pipe that still holds bytes (its direction ended or failed): it cannot be lent again.</summary>
    internal static void Discard(EpollPipe pipe)
    {
        _ = EpollNative.close(pipe.Read);
        _ = EpollNative.close(pipe.Write);
        lock (s_idle)
        {
            s_open--;
        }
    }
}
