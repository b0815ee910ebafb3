using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>Several registrars in the config file and the options, and the pool bounds' checks.</summary>
public sealed class SeveralRegistrarsOptionsTests
{
    private const string Uuid = "123e4567-e89b-12d3-a456-426614174000";
    private const string Secret = "JBSWY3DPEHPK3PXPJBSWY3DP";

    [Test]
    public void Further_registrars_round_trip_through_the_config_file_into_the_agent_options()
    {
        using var folder = new TemporaryDirectory();
        var path = folder.Combine("hidden-server.json");
        var written = new HiddenServerConfigFile(new Uri("https://a.example.com:8898/"), Uuid, Secret, 30, 6, null, TrustSystemStore: true)
        {
            MoreRegistrarUrls = [new Uri("https://b.example.com:8898/"), new Uri("https://c.example.com:8898/")],
        };

        written.Write(path);
        var loaded = HiddenServerConfigFile.Load(path);
        var options = loaded.ToAgentOptions();

        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllText(path), Does.Contain("\"registrarUrls\": ["));
            Assert.That(loaded, Is.EqualTo(written));
            Assert.That(options.RegistrarUrl, Is.EqualTo(new Uri("https://a.example.com:8898/")));
            Assert.That(options.RegistrarUrls, Is.EqualTo(written.MoreRegistrarUrls));
            Assert.That(options.Validate, Throws.Nothing);
        });
    }

    [Test]
    public void A_file_without_further_registrars_is_written_as_before()
    {
        var config = new HiddenServerConfigFile(new Uri("https://a.example.com:8898/"), Uuid, Secret, 30, 6, null, TrustSystemStore: true);

        Assert.Multiple(() =>
        {
            Assert.That(config.ToJson(), Does.Not.Contain("registrarUrls"));
            Assert.That(config.ToAgentOptions().RegistrarUrls, Is.Empty);
        });
    }

    [TestCase("\"https://b/\"", "it is \"https://b/\"")]
    [TestCase("[1]", "an entry is not a string")]
    [TestCase("[\"http://b/\"]", "'http://b/' is http://")]
    [TestCase("[\"https://b/\",\"https://c/\",\"https://d/\",\"https://e/\",\"https://f/\",\"https://g/\",\"https://h/\",\"https://i/\"]", "at most 7")]
    public void Bad_further_registrars_are_refused_naming_the_field(string value, string problem)
    {
        using var folder = new TemporaryDirectory();
        var path = folder.Combine("hidden-server.json");
        File.WriteAllText(path, $$"""{"registrarUrl":"https://a/","registrarUrls":{{value}},"uuid":"{{Uuid}}","secret":"{{Secret}}","trustSystemStore":true}""");

        var valid = HiddenServerConfigFile.TryLoad(path, out _, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(valid, Is.False);
            Assert.That(error, Does.Contain("\"registrarUrls\"").And.Contain(problem));
        });
    }

    [Test]
    public void Options_take_registrars_from_either_setting_and_check_each()
    {
        var onlyList = new RendezvousConnectorOptions { RegistrarUrls = [new Uri("https://b.example.com/")] };
        var badInList = new RendezvousConnectorOptions { RegistrarUrl = new Uri("https://a.example.com/"), RegistrarUrls = [new Uri("http://b.example.com/")] };
        var tooMany = new RendezvousConnectorOptions { RegistrarUrl = new Uri("https://a.example.com/"), RegistrarUrls = [.. Enumerable.Range(1, 8).Select(i => new Uri($"https://n{i}.example.com/"))] };
        var none = new RendezvousConnectorOptions();

        Assert.Multiple(() =>
        {
            Assert.That(onlyList.Validate, Throws.Nothing);
            Assert.That(badInList.Validate, Throws.ArgumentException.With.Message.Contains("RegistrarUrls").And.Message.Contains("http://b.example.com/"));
            Assert.That(tooMany.Validate, Throws.ArgumentException.With.Message.Contains("9 registrars"));
            Assert.That(none.Validate, Throws.ArgumentException.With.Message.Contains("registrar URL is missing"));
        });
    }

    [TestCase(3, 2, null, "MinPoolSize is 3")]
    [TestCase(null, 3, 2, "MinPoolSize is not set")]
    [TestCase(1, 2, 65, "MaxPoolSize 65")]
    [TestCase(0, 2, 4, "MinPoolSize is 0")]
    public void Pool_bounds_are_checked(int? min, int pool, int? max, string problem)
    {
        var options = new HiddenServerAgentOptions
        {
            RegistrarUrl = new Uri("https://a.example.com/"),
            Uuid = Uuid,
            Secret = Secret,
            PoolSize = pool,
            MinPoolSize = min,
            MaxPoolSize = max,
        };

        Assert.That(options.Validate, Throws.ArgumentException.With.Message.Contains(problem));
    }
}
