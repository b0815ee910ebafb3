using System.IO.Pipelines;
using System.Net.Sockets;
using Rendezvous.Protocol.Splicing;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Client.Sessions;

/// <summary>
/// Relays a <see cref="RendezvousSession"/> to a local connection, both directions at once: what one
/// side sends is written to the other, flushed once per read. A clean end of stream on one side is
/// passed on as a half-close of the other (the reverse direction keeps flowing until it ends too); an
/// error on either side aborts both. This is what a port forward or an <c>ssh</c> <c>ProxyCommand</c> needs.
/// </summary>
public static class SessionRelay
{
    private const int BufferSize = 16 * 1024;

    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Relays <paramref name="session"/> to a connected <paramref name="socket"/> until both directions
    /// ended. The local end of stream becomes <see cref="RendezvousSession.CompleteSendingAsync"/>; the
    /// session's end of stream becomes <c>socket.Shutdown(SocketShutdown.Send)</c>. Neither is disposed.
    /// </summary>
    /// <param name="session">The rendezvous session.</param>
    /// <param name="socket">A connected stream socket, e.g. to the local service.</param>
    /// <param name="cancellationToken">Aborts both sides.</param>
    /// <returns>How the relay ended.</returns>
    public static async Task<SessionRelayResult> RelayToSocketAsync(RendezvousSession session, Socket socket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(socket);
        using var local = new NetworkStream(socket, ownsSocket: false);
        return await RelayCoreAsync(
            session,
            Reader(local),
            Writer(local),
            () =>
            {
                socket.Shutdown(SocketShutdown.Send);
                return ValueTask.CompletedTask;
            },
            socket.ResetAndDispose,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Relays <paramref name="session"/> to an accepted <paramref name="connection"/> (from an
    /// <see cref="IRelayListener"/>, such as a local port forward's) until both directions ended. The connection's end
    /// of stream becomes <see cref="RendezvousSession.CompleteSendingAsync"/>; the session's end of stream completes
    /// the connection's <see cref="RelayConnection.Output"/> (a half-close). On an error the connection is aborted.
    /// Neither is disposed.
    /// </summary>
    /// <param name="session">The rendezvous session.</param>
    /// <param name="connection">The local connection.</param>
    /// <param name="cancellationToken">Aborts both sides.</param>
    /// <returns>How the relay ended.</returns>
    public static async Task<SessionRelayResult> RelayToConnectionAsync(RendezvousSession session, RelayConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(connection);
        return await RelayCoreAsync(
            session,
            connection.Input,
            connection.Output,
            static () => ValueTask.CompletedTask,
            connection.Abort,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Relays <paramref name="session"/> to a pair of streams, e.g. standard input and output, until
    /// both directions ended. The end of <paramref name="input"/> becomes
    /// <see cref="RendezvousSession.CompleteSendingAsync"/>; the session's end of stream closes
    /// <paramref name="output"/>. On an error both streams are closed and the session aborted.
    /// </summary>
    /// <param name="session">The rendezvous session.</param>
    /// <param name="input">Bytes to send to the peer.</param>
    /// <param name="output">Where the peer's bytes go; closed when the peer finished sending.</param>
    /// <param name="cancellationToken">Aborts both sides.</param>
    /// <returns>How the relay ended.</returns>
    public static async Task<SessionRelayResult> RelayToStreamsAsync(RendezvousSession session, Stream input, Stream output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        return await RelayCoreAsync(
            session,
            Reader(input),
            Writer(output),
            () => output.DisposeAsync(),
            () =>
            {
                input.Dispose();
                output.Dispose();
            },
            cancellationToken).ConfigureAwait(false);
    }

    private static async Task<SessionRelayResult> RelayCoreAsync(
        RendezvousSession session,
        PipeReader localInput,
        PipeWriter localOutput,
        Func<ValueTask> completeLocal,
        Action abortLocal,
        CancellationToken cancellationToken)
    {
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var failedSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var failed = 0;

        void Fail()
        {
            if (Interlocked.Exchange(ref failed, 1) == 0)
            {
                try
                {
                    abort.Cancel();
                }
                catch (ObjectDisposedException)
                {
                }

                session.Abort();
                try
                {
                    abortLocal();
                }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
                {
                }

                failedSignal.TrySetResult();
            }
        }

        using var registration = cancellationToken.Register(Fail);

        // Local → session: a local end of stream is a half-close of the session.
        async Task<long> ToSessionAsync()
        {
            var bytes = await CopyAsync(localInput, Writer(session.Stream), Fail, abort.Token).ConfigureAwait(false);
            if (bytes >= 0)
            {
                await session.CompleteSendingAsync().ConfigureAwait(false);
            }

            return bytes;
        }

        // Session → local: the peer's end of stream is a half-close of the local side.
        async Task<long> ToLocalAsync()
        {
            var bytes = await CopyAsync(Reader(session.Stream), localOutput, Fail, abort.Token).ConfigureAwait(false);
            if (bytes >= 0)
            {
                try
                {
                    await completeLocal().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
                {
                    Fail();
                    return -1;
                }
            }

            return bytes;
        }

        var sent = ToSessionAsync();
        var received = ToLocalAsync();
        var both = Task.WhenAll(sent, received);
        await Task.WhenAny(both, failedSignal.Task).ConfigureAwait(false);
        if (!both.IsCompleted)
        {
            // Aborted. Sockets end their reads when disposed, but a blocking read of a pipe or console
            // (standard input) may not: give the loops a moment, then return without them.
            await Task.WhenAny(both, Task.Delay(AbortGrace, CancellationToken.None)).ConfigureAwait(false);
        }

        var aborted = Volatile.Read(ref failed) != 0;
        return new SessionRelayResult(
            aborted ? (cancellationToken.IsCancellationRequested ? SessionRelayEnd.Cancelled : SessionRelayEnd.Aborted) : SessionRelayEnd.Completed,
            sent.IsCompletedSuccessfully ? Math.Max(0, sent.Result) : 0,
            received.IsCompletedSuccessfully ? Math.Max(0, received.Result) : 0);
    }

    /// <summary>A pipe over <paramref name="stream"/> that leaves it open when completed.</summary>
    private static PipeReader Reader(Stream stream) => PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: BufferSize, leaveOpen: true));

    /// <summary>A pipe over <paramref name="stream"/> that leaves it open when completed.</summary>
    private static PipeWriter Writer(Stream stream) => PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));

    /// <summary>
    /// Copies until end of stream (returns the byte count) or an error (calls <paramref name="fail"/>, returns -1), with
    /// the relay's one half-close copy loop (<see cref="RelayCopy"/>), which completes both pipes at a clean end. Pipes
    /// over streams leave them open: passing the end on to a stream is the caller's.
    /// </summary>
    private static async Task<long> CopyAsync(PipeReader reader, PipeWriter writer, Action fail, CancellationToken cancellationToken)
    {
        var copied = new CopyResult(CopyEnd.WriteFailed, 0);
        try
        {
            copied = await RelayCopy.CopyAsync(reader, writer, onBytes: null, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (copied.End != CopyEnd.Completed)
            {
                // Aborted before the pipes are completed, so that completing a connection's output cannot pass a
                // clean end on.
                fail();
            }

            // Returns the adapters' buffers; after a failure nothing buffered can be sent any more.
            await CompleteQuietlyAsync(reader, writer).ConfigureAwait(false);
        }

        return copied.End == CopyEnd.Completed ? copied.Bytes : -1;
    }

    private static async ValueTask CompleteQuietlyAsync(PipeReader reader, PipeWriter writer)
    {
        await reader.CompleteAsync().ConfigureAwait(false);
        try
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or NotSupportedException or OperationCanceledException)
        {
            // The destination failed; its buffered bytes are dropped with it.
        }
    }
}

/// <summary>How a <see cref="SessionRelay"/> ended.</summary>
public enum SessionRelayEnd
{
    /// <summary>Both directions reached a clean end of stream.</summary>
    Completed,

    /// <summary>An error on one side (a reset, a broken pipe) aborted both.</summary>
    Aborted,

    /// <summary>The caller's token was cancelled; both sides were aborted.</summary>
    Cancelled,
}

/// <summary>The outcome of a <see cref="SessionRelay"/>.</summary>
/// <param name="End">How it ended.</param>
/// <param name="BytesSent">Bytes relayed from the local side to the session's peer.</param>
/// <param name="BytesReceived">Bytes relayed from the session's peer to the local side.</param>
public sealed record SessionRelayResult(SessionRelayEnd End, long BytesSent, long BytesReceived);
