using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>
/// Opens two-socket sessions through a <see cref="Target"/> and tells the responder ends apart: the
/// initiator sends its 8-byte session id first, and whichever responder receives it belongs to it.
/// Works the same through the relay (any parked responder may be paired) and through haproxy (accepts
/// come in any order).
/// </summary>
internal sealed class SessionOpener(Target target)
{
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<Socket>> _waiting = new();

    public async Task<(Socket Initiator, Socket Responder)> OpenAsync(ulong id, CancellationToken cancellationToken)
    {
        var mine = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[id] = mine;
        try
        {
            // Every open supplies one responder and one initiator, so the counts always balance.
            var responder = RouteResponderAsync(cancellationToken);
            var idBytes = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(idBytes, id);
            Socket initiator;
            try
            {
                initiator = await target.ConnectInitiatorAsync(idBytes, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _ = responder.ContinueWith(static _ => { }, TaskScheduler.Default);
                throw;
            }

            try
            {
                await responder.ConfigureAwait(false);
                using var registration = cancellationToken.Register(() => mine.TrySetCanceled(cancellationToken));
                return (initiator, await mine.Task.ConfigureAwait(false));
            }
            catch
            {
                initiator.Dispose();
                throw;
            }
        }
        finally
        {
            _waiting.TryRemove(id, out _);
        }
    }

    private async Task RouteResponderAsync(CancellationToken cancellationToken)
    {
        var socket = await target.NextResponderAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var idBytes = new byte[8];
            await Target.ReceiveExactlyAsync(socket, idBytes, cancellationToken).ConfigureAwait(false);
            var id = BinaryPrimitives.ReadUInt64LittleEndian(idBytes);
            if (!_waiting.TryGetValue(id, out var owner) || !owner.TrySetResult(socket))
            {
                throw new DataMismatchException($"a responder received session id {id}, which no initiator is waiting for");
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
