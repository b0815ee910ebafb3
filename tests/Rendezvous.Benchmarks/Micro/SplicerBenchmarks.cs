using BenchmarkDotNet.Attributes;
using Rendezvous.Protocol.Splicing;

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
        MemoryConnection.DrainAsync(_responder.Peer.Input).GetAwaiter().GetResult();
        MemoryConnection.DrainAsync(_initiator.Peer.Input).GetAwaiter().GetResult();
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
}
