using System.Buffers;
using System.IO.Pipelines;

namespace Rendezvous.Protocol.Broker;

/// <summary>Why watching a waiting connection stopped.</summary>
internal enum WatchEnd
{
    /// <summary>Someone stopped the watch to read the input.</summary>
    Stopped,

    /// <summary>The peer ended its sending direction.</summary>
    Ended,

    /// <summary>The connection was reset or failed.</summary>
    Failed,

    /// <summary>The peer sent more than may be kept; the rest waits in the transport (backpressure).</summary>
    LimitReached,
}

/// <summary>
/// Watches a connection that waits (a parked responder, or an initiator in its grace time) so that a
/// peer that goes away is noticed at once. What the peer sends meanwhile is kept, up to a limit, to be
/// delivered after <c>+OK</c>; past the limit the watch stops and the transport's own buffer limit
/// holds the sender back.
/// </summary>
internal sealed class ConnectionWatch
{
    private readonly PipeReader _input;
    private readonly int _limit;
    private ArrayBufferWriter<byte>? _kept;

    public ConnectionWatch(PipeReader input, int limit)
    {
        _input = input;
        _limit = limit;
        Completion = RunAsync();
    }

    /// <summary>Completes when the watch ends, telling why.</summary>
    public Task<WatchEnd> Completion { get; }

    /// <summary>The bytes received while watching. Read it only after the watch ended.</summary>
    public ReadOnlyMemory<byte> Kept => _kept?.WrittenMemory ?? ReadOnlyMemory<byte>.Empty;

    /// <summary>Stops the watch and leaves the input ready for its next reader.</summary>
    /// <returns>Why the watch ended.</returns>
    public async Task<WatchEnd> StopAsync()
    {
        if (!Completion.IsCompleted)
        {
            _input.CancelPendingRead();
        }

        var end = await Completion.ConfigureAwait(false);
        if (end != WatchEnd.Stopped)
        {
            // The watch ended by itself; a cancellation that came too late must not reach the next reader.
            try
            {
                if (_input.TryRead(out var pending))
                {
                    _input.AdvanceTo(pending.Buffer.Start);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The input failed; its next reader will see that.
            }
        }

        return end;
    }

    private async Task<WatchEnd> RunAsync()
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _input.ReadAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                return WatchEnd.Failed;
            }

            var buffer = result.Buffer;
            var room = _limit - (_kept?.WrittenCount ?? 0);
            var take = (int)Math.Min(room, buffer.Length);
            if (take > 0)
            {
                _kept ??= new ArrayBufferWriter<byte>(Math.Min(_limit, Math.Max(256, take)));
                buffer.Slice(0, take).CopyTo(_kept.GetSpan(take));
                _kept.Advance(take);
            }

            // Everything looked at is consumed, so the pipe never holds bytes marked as examined.
            _input.AdvanceTo(buffer.GetPosition(take));
            if (take < buffer.Length)
            {
                return WatchEnd.LimitReached;
            }

            if (result.IsCanceled)
            {
                return WatchEnd.Stopped;
            }

            if (result.IsCompleted)
            {
                return WatchEnd.Ended;
            }
        }
    }
}
