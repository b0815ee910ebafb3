using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// <see cref="RelayConnection.WaitForDeliveryAsync"/> on real loopback sockets, once per transport, through the output
/// pipe (the path a session takes when it is not spliced directly): it waits for what was written to reach the kernel
/// and then for the kernel's send queue, and tells how much the peer has not acknowledged when the time runs out.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class DeliveryTests(RelayTransport transport)
{
    /// <summary>A receive buffer so small that the reader's kernel takes only a few KiB.</summary>
    private const int SmallReceiveBuffer = 4096;

    private IRelayListener _listener = null!;
    private LoopbackClient? _reader;
    private RelayConnection? _connection;

    [SetUp]
    public async Task SetUp()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "the send queue can be read on Linux and macOS only");
        RelayTransports.AssumeSupported(transport);
        _listener = await RelayTransports.BindAsync(transport);
    }

    [TearDown]
    public async Task TearDown()
    {
        _reader?.Dispose();
        if (_connection is not null)
        {
            await _connection.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
        }

        if (_listener is not null)
        {
            await _listener.DisposeAsync();
        }
    }

    [Test]
    public async Task Delivery_is_reported_once_a_slow_reader_has_acknowledged_every_byte_and_the_end()
    {
        var payload = RandomNumberGenerator.GetBytes(1024 * 1024);
        var (reader, connection) = await AcceptSlowReaderAsync();
        connection.Output.Write(payload);
        await connection.Output.CompleteAsync();

        var delivery = connection.WaitForDeliveryAsync(TestTimeouts.Long, TimeProvider.System).AsTask();
        var received = await reader.ReadToEndAsync();

        Assert.That(await delivery.WaitAsync(TestTimeouts.Long), Is.Zero);
        Assert.That(SHA256.HashData(received), Is.EqualTo(SHA256.HashData(payload)));
    }

    [Test]
    public async Task Bytes_a_reader_does_not_take_within_the_timeout_are_reported_unacknowledged()
    {
        var time = new FakeTimeProvider();
        var payload = RandomNumberGenerator.GetBytes(256 * 1024);
        var (_, connection) = await AcceptSlowReaderAsync();
        connection.Output.Write(payload);
        await connection.Output.CompleteAsync();

        var delivery = connection.WaitForDeliveryAsync(TimeSpan.FromSeconds(5), time).AsTask();
        var advanced = await time.AdvanceUntilAsync(delivery, TimeSpan.FromMilliseconds(500));

        Assert.That(advanced, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(await (Task<long>)delivery, Is.InRange(1L, payload.Length + 1L), "what the reader's kernel did not take, and the FIN");
    }

    [Test]
    public async Task A_reader_that_resets_is_reported_at_once_with_the_bytes_it_did_not_take()
    {
        var (reader, connection) = await AcceptSlowReaderAsync();
        connection.Output.Write(RandomNumberGenerator.GetBytes(256 * 1024));
        await connection.Output.CompleteAsync();
        reader.Reset();

        // The system clock and a linger far beyond the test's timeout: only the reset can end the wait in time.
        var unacknowledged = await connection.WaitForDeliveryAsync(TimeSpan.FromMinutes(10), TimeProvider.System).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(unacknowledged, Is.GreaterThan(0));
    }

    [Test]
    public async Task A_negative_timeout_is_refused()
    {
        var (_, connection) = await AcceptSlowReaderAsync();

        Assert.That(
            async () => await connection.WaitForDeliveryAsync(TimeSpan.FromSeconds(-1), TimeProvider.System),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("timeout"));
    }

    private async Task<(LoopbackClient Reader, RelayConnection Connection)> AcceptSlowReaderAsync()
    {
        (_reader, _connection) = await RelayTransports.AcceptAsync(_listener, SmallReceiveBuffer);
        return (_reader, _connection);
    }
}
