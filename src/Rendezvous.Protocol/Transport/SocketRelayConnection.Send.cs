using System.IO.Pipelines;
using System.Net.Sockets;

namespace Rendezvous.Protocol.Transport;

/// <summary>The send side: bytes written to <see cref="RelayConnection.Output"/> go to the socket.</summary>
public sealed partial class SocketRelayConnection
{
    /// <summary>Set before <see cref="Output"/> is completed for a direct splice: the loop then stops without a FIN.</summary>
    private volatile bool _handingOver;

    /// <summary>
    /// Completes with <see langword="true"/> once the send loop sent everything written to <see cref="Output"/>
    /// and stopped for a direct splice; <see langword="false"/> when sending failed.
    /// </summary>
    private Task<bool> OutputHandedOver => _sendLoop!;

    /// <summary>
    /// Starts the send side at the first use of <see cref="Output"/>: its pipe, its socket operation and its loop.
    /// </summary>
    /// <exception cref="InvalidOperationException">The connection was spliced directly; its output is gone.</exception>
    private Pipe StartSending()
    {
        lock (Gate)
        {
            if (_toSend is { } started)
            {
                return started;
            }

            if (_handingOver)
            {
                throw Spliced();
            }

            var pipe = new Pipe(_sendOptions);
            _sendOp = new SocketOperation();
            _toSend = pipe;
            _sendLoop = SendLoopAsync();
            if (Volatile.Read(ref _aborted) != 0)
            {
                // Aborted before its first answer: the loop must not wait for bytes that cannot be sent.
                pipe.Reader.CancelPendingRead();
            }

            return pipe;
        }
    }

    /// <summary>Ends the sending direction (FIN) of a connection that never sent anything, unless it was aborted.</summary>
    private void ShutdownSend()
    {
        if (Volatile.Read(ref _aborted) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset or closed meanwhile: nothing to end.
        }
    }

    /// <summary>
    /// Sends what is written to the output pipe; its completion becomes a half-close (FIN). It starts on
    /// the caller's thread (no thread-pool hop): its first step waits on the still empty pipe.
    /// </summary>
    private async Task<bool> SendLoopAsync()
    {
        var reader = _toSend!.Reader;
        var op = _sendOp!;
        Exception? error = null;
        var handedOver = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    error = new IOException("The connection was aborted.");
                    break;
                }

                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await op.SendAllAsync(_socket, segment).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            if (error is null)
            {
                if (_handingOver)
                {
                    handedOver = Volatile.Read(ref _aborted) == 0;
                }
                else if (Volatile.Read(ref _aborted) == 0)
                {
                    _socket.Shutdown(SocketShutdown.Send);
                }
            }
        }
        catch (SocketException ex)
        {
            error = new IOException($"Sending failed ({ex.SocketErrorCode}).", ex);
        }
        catch (ObjectDisposedException ex)
        {
            error = new IOException("The connection was aborted.", ex);
        }
        catch (Exception ex)
        {
            // The writer completed Output with an error: the session failed, so reset the connection.
            error = ex;
            Abort();
        }

        op.ClearBuffer();
        await reader.CompleteAsync(error).ConfigureAwait(false);
        if (handedOver)
        {
            // The peer's receive loop sends to this socket from now on; the pipe and the operation are not needed.
            _toSend = null;
            _sendOp = null;
        }

        return handedOver;
    }

    /// <summary>
    /// Stops the send loop once it has sent everything written to <see cref="Output"/> so far, without a
    /// FIN: the spliced peer's receive loop writes to this socket from then on.
    /// </summary>
    private async ValueTask HandOverOutputAsync()
    {
        var writer = Output;
        _handingOver = true;
        try
        {
            await writer.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }
}
