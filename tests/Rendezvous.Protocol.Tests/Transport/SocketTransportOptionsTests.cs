using Rendezvous.Protocol.Transport;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary><see cref="SocketTransportOptions"/> (shared by both transports) refuses keep-alive settings the kernel cannot take.</summary>
public sealed class SocketTransportOptionsTests
{
    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(32_768)]
    public void A_keep_alive_time_or_interval_out_of_range_is_refused_naming_the_range(int seconds)
    {
        var options = new SocketTransportOptions();

        Assert.Multiple(() =>
        {
            Assert.That(() => options.KeepAliveTime = TimeSpan.FromSeconds(seconds), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("00:00:01").And.Message.Contain("09:06:07"));
            Assert.That(() => options.KeepAliveInterval = TimeSpan.FromSeconds(seconds), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("00:00:01"));
        });
    }

    [Test]
    public void Keep_alive_times_in_fractions_of_a_second_and_counts_out_of_range_are_refused()
    {
        var options = new SocketTransportOptions();

        Assert.Multiple(() =>
        {
            Assert.That(() => options.KeepAliveTime = TimeSpan.FromMilliseconds(1500), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("whole seconds"));
            Assert.That(() => options.KeepAliveRetryCount = 0, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("1 to 127"));
            Assert.That(() => options.KeepAliveRetryCount = 128, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("1 to 127"));
        });
    }
}
