using System.Runtime.InteropServices;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>Something registered with an <see cref="EpollLoop"/>: a listener or a connection.</summary>
internal interface IEpollTarget
{
    /// <summary>The registration's token (slot and generation); an event carrying another one is stale and dropped.</summary>
    long Token { get; }

    /// <summary>Handles the readiness in <paramref name="events"/> (<c>EPOLLIN</c>, <c>EPOLLOUT</c>, ...), on the loop's thread. Must not throw.</summary>
    void OnEvents(uint events);
}

/// <summary>
/// One edge-triggered epoll loop on a thread of its own. Descriptors are registered once, for reading and writing
/// (<c>EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET</c>): no further <c>epoll_ctl</c> per connection, and an idle
/// connection costs the loop nothing but a slot. The process has one loop per processor
/// (<see cref="Next"/> hands them out in turn); they live as long as the process, as .NET's own socket engine does.
/// </summary>
internal sealed unsafe class EpollLoop
{
    private const int MaxEvents = 256;
    private static EpollLoop[]? s_loops;
    private static int s_next;

    private readonly int _epfd;
    private readonly object _gate = new();
    private readonly Stack<int> _free = new();
    private IEpollTarget?[] _targets = new IEpollTarget?[256];
    private int[] _generations = new int[256];
    private int _used;

    private EpollLoop(int index)
    {
        _epfd = EpollNative.epoll_create1(EpollNative.EPOLL_CLOEXEC);
        if (_epfd < 0)
        {
            throw EpollNative.SocketError(EpollNative.LastError);
        }

        var thread = new Thread(Run) { IsBackground = true, Name = $"Rendezvous epoll {index}" };
        thread.UnsafeStart();
    }

    /// <summary>How many loops the process runs: one per processor it may use.</summary>
    internal static int Count => Shared.Length;

    private static EpollLoop[] Shared => LazyInitializer.EnsureInitialized(ref s_loops, static () =>
    {
        var loops = new EpollLoop[Math.Max(1, Environment.ProcessorCount)];
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = new EpollLoop(i);
        }

        return loops;
    });

    /// <summary>The next loop in turn, to spread connections over the processors.</summary>
    internal static EpollLoop Next()
    {
        var loops = Shared;
        return loops[(int)((uint)Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }

    /// <summary>The first loop (listeners wait there).</summary>
    internal static EpollLoop First => Shared[0];

    /// <summary>Reserves a slot for <paramref name="target"/>: the token to pass to <see cref="Add"/>.</summary>
    internal long Reserve(IEpollTarget target)
    {
        lock (_gate)
        {
            if (!_free.TryPop(out var slot))
            {
                slot = _used++;
                if (slot == _targets.Length)
                {
                    var targets = new IEpollTarget?[slot * 2];
                    var generations = new int[slot * 2];
                    _targets.CopyTo(targets, 0);
                    _generations.CopyTo(generations, 0);
                    _generations = generations;
                    Volatile.Write(ref _targets, targets);
                }
            }

            var generation = ++_generations[slot];
            _targets[slot] = target;
            return (uint)slot | ((long)generation << 32);
        }
    }

    /// <summary>Watches <paramref name="fd"/> for <paramref name="events"/>, reporting them to the target of <paramref name="token"/>.</summary>
    /// <returns>0, or the errno of a failed <c>epoll_ctl</c>.</returns>
    internal int Add(int fd, uint events, long token)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(long*)(ev + EpollNative.EpollDataOffset) = token;
        return EpollNative.epoll_ctl(_epfd, EpollNative.EPOLL_CTL_ADD, fd, ev) == 0 ? 0 : EpollNative.LastError;
    }

    /// <summary>Stops watching <paramref name="fd"/> (closing a descriptor does that by itself).</summary>
    internal void Remove(int fd)
    {
        var ev = stackalloc byte[16];
        _ = EpollNative.epoll_ctl(_epfd, EpollNative.EPOLL_CTL_DEL, fd, ev);
    }

    /// <summary>Frees the slot of <paramref name="token"/>; a late event for it is dropped (its generation is gone).</summary>
    internal void Release(long token)
    {
        var slot = (int)(uint)token;
        lock (_gate)
        {
            if (_generations[slot] == (int)(token >> 32) && _targets[slot] is not null)
            {
                _targets[slot] = null;
                _free.Push(slot);
            }
        }
    }

    /// <summary>
    /// Hands an event to its target. Continuations of reads and flushes run inline from here; should one throw, the
    /// connection it belongs to is aborted instead of the loop's thread (and with it every connection of the loop) dying.
    /// </summary>
    private static void Dispatch(IEpollTarget target, uint events)
    {
        try
        {
            target.OnEvents(events);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            (target as RelayConnection)?.Abort();
        }
    }

    private void Run()
    {
        var size = EpollNative.EpollEventSize;
        var dataOffset = EpollNative.EpollDataOffset;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * size));
        while (true)
        {
            var count = EpollNative.epoll_wait(_epfd, events, MaxEvents, -1);
            if (count < 0)
            {
                if (EpollNative.LastError == EpollNative.EINTR)
                {
                    continue;
                }

                // Only a broken epoll descriptor fails here; waiting on it again would spin.
                Environment.FailFast($"epoll_wait failed with errno {EpollNative.LastError}.");
            }

            var targets = Volatile.Read(ref _targets);
            for (var i = 0; i < count; i++)
            {
                var ev = events + (i * size);
                var token = *(long*)(ev + dataOffset);
                var slot = (int)(uint)token;
                if (slot < targets.Length && targets[slot] is { } target && target.Token == token)
                {
                    Dispatch(target, *(uint*)ev);
                }
            }
        }
    }
}
