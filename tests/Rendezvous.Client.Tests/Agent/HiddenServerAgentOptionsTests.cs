using OtpNet;
using Rendezvous.Client.Agent;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>The agent's timing options for ownership checks and refusals: defaults and validation.</summary>
public sealed class HiddenServerAgentOptionsTests
{
    private static HiddenServerAgentOptions Valid() => new()
    {
        RegistrarUrl = new Uri("https://registrar.example:8898/"),
        Uuid = Guid.NewGuid().ToString(),
        Secret = Base32Encoding.ToString(KeyGeneration.GenerateRandomKey(20)),
    };

    [Test]
    public void Ownership_check_and_refusal_backoff_have_documented_defaults()
    {
        var options = Valid();

        Assert.Multiple(() =>
        {
            Assert.That(options.OwnershipCheckInterval, Is.EqualTo(TimeSpan.FromSeconds(60)));
            Assert.That(options.MaxRefusalBackoff, Is.EqualTo(TimeSpan.FromMinutes(5)));
            Assert.That(HiddenServerAgent.RefusalsBeforeBackoff, Is.EqualTo(3));
            Assert.DoesNotThrow(options.Validate);
        });
    }

    [Test]
    public void Ownership_check_can_be_turned_off()
    {
        var options = Valid();
        options.OwnershipCheckInterval = Timeout.InfiniteTimeSpan;

        Assert.DoesNotThrow(options.Validate);
    }

    [TestCase("00:00:00.500", "OwnershipCheckInterval is 00:00:00.5000000")]
    [TestCase("2.00:00:00", "OwnershipCheckInterval is 2.00:00:00")]
    [TestCase("-00:00:05", "OwnershipCheckInterval is -00:00:05")]
    public void Out_of_range_ownership_check_interval_is_refused_naming_the_value(string value, string message)
    {
        var options = Valid();
        options.OwnershipCheckInterval = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture);

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.That(ex!.Message, Does.Contain(message).And.Contain("from 1 second to 1 day").And.Contain("InfiniteTimeSpan"));
    }

    [TestCase("00:00:00")]
    [TestCase("1.00:00:01")]
    public void Out_of_range_max_refusal_backoff_is_refused_naming_the_value(string value)
    {
        var options = Valid();
        options.MaxRefusalBackoff = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture);

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.That(ex!.Message, Does.Contain($"MaxRefusalBackoff is {options.MaxRefusalBackoff}; it must be from 1 second to 1 day."));
    }
}
