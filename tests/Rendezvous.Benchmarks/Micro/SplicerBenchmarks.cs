using System.IO.Pipelines;
using System.Net;
using BenchmarkDotNet.Attributes;
using Rendezvous.Protocol.Splicing;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Benchmarks.Micro;

/// <summary>
/// The splicer's copy loop in steady state over in-memory pipes: one operation writes a chunk into the
/// initiator's input and reads it back from the responder's output. The session is started once in
/// setup, so the per-operation allocations are those of the copy loop alone.
/// </summary>
[MemoryDiagnoser]
public class SplicerBenchmarks
{
    private MemoryConnection _initiator = null!;
    private MemoryConnection _responder = null!;
    private Task<SpliceResult> _splice = null!;
    private byte[] _chunk = null!;

    [Params(1, 1024, 64 * 1024)]
    public int ChunkSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _initiator = new MemoryConnection();
        _responder = new MemoryConnection();
        _chunk = new byte[ChunkSize];
        _splice = Splicer.SpliceAsync(_initiator, _responder, static _ => { });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _initiator.Peer.Output.Complete();
        _responder.Peer.Output.Complete();
        DrainAsync(_responder.Peer.Input).GetAwaiter().GetResult();
        DrainAsync(_initiator.Peer.Input).GetAwaiter().GetResult();
        var result = _splice.GetAwaiter().GetResult();
        if (result.End != SpliceEnd.Completed)
        {
            throw new InvalidOperationException($"the splice ended {result.End}");
        }
    }

    [Benchmark]
    public async ValueTask<long> CopyChunk()
    {
        await _initiator.Peer.Output.WriteAsync(_chunk).ConfigureAwait(false);
        var reader = _responder.Peer.Input;
        long received = 0;
        while (received < _chunk.Length)
        {
            var read = await reader.ReadAsync().ConfigureAwait(false);
            received += read.Buffer.Length;
            reader.AdvanceTo(read.Buffer.End);
        }

        return received;
    }

    private static async Task DrainAsync(PipeReader reader)
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

    /// <summary>A relay end made of two inline pipes; <see cref="Peer"/> is the remote side.</summary>
    private sealed class MemoryConnection : RelayConnection
    {
        private static readonly PipeOptions Options = new(
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 256 * 1024,
            resumeWriterThreshold: 128 * 1024,
            useSynchronizationContext: false);

        private readonly Pipe _inbound = new(Options);
        private readonly Pipe _outbound = new(Options);

        public MemoryConnection()
        {
            Peer = new DuplexPipe(_outbound.Reader, _inbound.Writer);
        }

        public IDuplexPipe Peer { get; }

        public override PipeReader Input => _inbound.Reader;

        public override PipeWriter Output => _outbound.Writer;

        public override EndPoint? RemoteEndPoint => null;

        public override void Abort()
        {
            _inbound.Writer.Complete(new IOException("aborted"));
            _outbound.Reader.Complete();
        }

        public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
        {
            public PipeReader Input { get; } = input;

            public PipeWriter Output { get; } = output;
        }
    }
}
