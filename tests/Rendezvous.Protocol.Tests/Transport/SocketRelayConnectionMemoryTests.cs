using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// What a <see cref="SocketRelayConnection"/> rents while it waits for a first line (issue 11, point 9: a slowloris
/// client that sends part of a line and stops must not hold a receive segment), counted through its memory pool.
/// </summary>
public sealed class SocketRelayConnectionMemoryTests
{
    private TcpListener _listener = null!;
    private readonly CountingMemoryPool _pool = new();
    private LoopbackClient? _client;
    private readonly List<IAsyncDisposable> _owned = [];

    [SetUp]
    public void SetUp()
    {
        // A plain listener: the connection under test is made from the accepted socket with the counting pool.
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
    }

    [TearDown]
    public async Task TearDown()
    {
        _client?.Dispose();
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
        }

        _listener.Dispose();
    }

    [Test]
    public async Task A_connection_that_sent_nothing_holds_no_buffer()
    {
        await AcceptAsync();
        Assert.That(await _client!.StaysQuietAsync(), Is.True);

        Assert.That(_pool.RentedBytes, Is.Zero);
    }

    [Test]
    public async Task A_stalled_partial_first_line_holds_a_small_buffer_not_a_receive_segment()
    {
        var connection = await AcceptAsync();
        await _client!.SendAsync("R0123456789");

        // Read it the way the handshake does: looked at, not consumed, waiting for the rest of the line.
        var result = await connection.Input.ReadAsync().AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(Encoding.ASCII.GetString(result.Buffer.ToArray()), Is.EqualTo("R0123456789"));
        connection.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);

        Assert.That(_pool.RentedBytes, Is.InRange(1, SocketRelayConnection.FirstReadSize));
    }

    [Test]
    public async Task A_burst_larger_than_the_first_read_arrives_whole_and_in_order()
    {
        var connection = await AcceptAsync();
        var burst = RandomNumberGenerator.GetBytes(100 * 1024);
        await _client!.SendAsync(burst);
        _client.ShutdownSend();

        var received = new List<byte>();
        while (true)
        {
            var result = await connection.Input.ReadAsync().AsTask().WaitAsync(TestTimeouts.Short);
            received.AddRange(result.Buffer.ToArray());
            connection.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        Assert.That(received.ToArray(), Is.EqualTo(burst));
    }

    [Test]
    public async Task A_connection_closed_before_it_answered_anything_ends_with_a_clean_close()
    {
        var connection = await AcceptAsync();
        await _client!.SendAsync("R0123");

        await connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(await _client.WaitForEndAsync(TestTimeouts.Short), Is.EqualTo(PeerEnd.Closed));
    }

    private async Task<SocketRelayConnection> AcceptAsync()
    {
        var accepting = _listener.AcceptSocketAsync();
        _client = await LoopbackClient.ConnectAsync((IPEndPoint)_listener.LocalEndpoint);
        var socket = (await accepting.WaitAsync(TestTimeouts.Short))!;
        var connection = SocketRelayConnection.Create(socket, pool: _pool);
        _owned.Add(connection);
        return connection;
    }

    /// <summary>Hands out arrays of exactly the size asked for and counts the bytes rented and not returned.</summary>
    private sealed class CountingMemoryPool : MemoryPool<byte>
    {
        private long _rented;

        public long RentedBytes => Interlocked.Read(ref _rented);

        public override int MaxBufferSize => 1024 * 1024;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            var block = new Block(this, new byte[minBufferSize < 0 ? 4096 : minBufferSize]);
            Interlocked.Add(ref _rented, block.Memory.Length);
            return block;
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Block(CountingMemoryPool pool, byte[] array) : IMemoryOwner<byte>
        {
            private int _returned;

            public Memory<byte> Memory => array;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _returned, 1) == 0)
                {
                    Interlocked.Add(ref pool._rented, -array.Length);
                }
            }
        }
    }
}
