using System.Buffers;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A memory pool whose blocks are a few bytes long, so that a <see cref="System.IO.Pipelines.Pipe"/>
/// built on it hands readers multi-segment buffers.
/// </summary>
/// <param name="blockSize">The size of every block.</param>
public sealed class TinyBlockMemoryPool(int blockSize) : MemoryPool<byte>
{
    /// <inheritdoc />
    public override int MaxBufferSize => blockSize;

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => new Block(new byte[blockSize]);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Block(byte[] array) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory => array;

        public void Dispose()
        {
        }
    }
}
