using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// One reusable socket operation: a <see cref="SocketAsyncEventArgs"/> awaited as a <see cref="ValueTask{TResult}"/>,
/// one operation at a time. A connection owns one per direction for its whole life, so receives and sends
/// allocate nothing and the socket never caches operation objects of its own. It is not bound to a socket:
/// a splice receives from one socket and sends to the other with the same operation. Continuations run on
/// the thread that completed the operation (the socket engine's, or a thread-pool worker).
/// </summary>
internal sealed class SocketOperation : SocketAsyncEventArgs, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _source;

    public SocketOperation()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    /// <summary>Receives into <paramref name="buffer"/>; an empty buffer waits until data (or the end) is there without taking any.</summary>
    /// <returns>The byte count; 0 for the end of the stream (or for an empty buffer).</returns>
    /// <exception cref="SocketException">The receive failed (for example the peer reset).</exception>
    public ValueTask<int> ReceiveAsync(Socket socket, Memory<byte> buffer)
    {
        _source.Reset();
        SetBuffer(buffer);
        return socket.ReceiveAsync(this) ? new ValueTask<int>(this, _source.Version) : CompletedResult();
    }

    /// <summary>Sends from <paramref name="buffer"/>; may send less than all of it.</summary>
    /// <returns>The byte count sent.</returns>
    /// <exception cref="SocketException">The send failed.</exception>
    public ValueTask<int> SendAsync(Socket socket, ReadOnlyMemory<byte> buffer)
    {
        _source.Reset();
        SetBuffer(System.Runtime.InteropServices.MemoryMarshal.AsMemory(buffer));
        return socket.SendAsync(this) ? new ValueTask<int>(this, _source.Version) : CompletedResult();
    }

    /// <summary>Sends all of <paramref name="buffer"/>.</summary>
    /// <exception cref="SocketException">The send failed.</exception>
    public async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var sent = await SendAsync(socket, buffer).ConfigureAwait(false);
            buffer = buffer[sent..];
        }
    }

    /// <summary>Forgets the buffer, so an idle operation keeps no memory alive.</summary>
    public void ClearBuffer() => SetBuffer(Memory<byte>.Empty);

    int IValueTaskSource<int>.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _source.SetResult(BytesTransferred);
        }
        else
        {
            _source.SetException(new SocketException((int)SocketError));
        }
    }

    private ValueTask<int> CompletedResult() => SocketError == SocketError.Success
        ? new ValueTask<int>(BytesTransferred)
        : ValueTask.FromException<int>(new SocketException((int)SocketError));
}
