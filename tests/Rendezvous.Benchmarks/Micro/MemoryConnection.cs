using System.IO.Pipelines;
using System.Net;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Benchmarks.Micro;

/// <summary>
/// A relay end made of two inline pipes, for micro-benchmarks of what runs above the transport; <see cref="Peer"/> is
/// the remote side.
/// </summary>
/// <param name="remote">The peer's address the connection reports (the handler counts handshakes and sessions per address).</param>
internal sealed class MemoryConnection(EndPoint? remote = null) : RelayConnection
{
    private static readonly PipeOptions Options = new(
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 256 * 1024,
        resumeWriterThreshold: 128 * 1024,
        useSynchronizationContext: false);

    private readonly Pipe _inbound = new(Options);
    private readonly Pipe _outbound = new(Options);

    public IDuplexPipe Peer => field ??= new DuplexPipe(_outbound.Reader, _inbound.Writer);

    public override PipeReader Input => _inbound.Reader;

    public override PipeWriter Output => _outbound.Writer;

    public override EndPoint? RemoteEndPoint => remote;

    public override void Abort()
    {
        _inbound.Writer.Complete(new IOException("aborted"));
        _outbound.Reader.Complete();
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Reads <paramref name="reader"/> to its end.</summary>
    public static async Task DrainAsync(PipeReader reader)
    {
        while (true)
        {
            var read = await reader.ReadAsync().ConfigureAwait(false);
            reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                return;
            }
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
