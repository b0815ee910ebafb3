using System.Text.Json.Nodes;
using Rendezvous.Client.Agent;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>
/// The hidden server's config file as an app loads it. Config files that once threw out of <see cref="HiddenServerConfigFile.TryLoad"/> instead of being refused with one line
/// (a repeated property and control characters found by eng/fuzz.sh config, the lone surrogates and the NUL by reading
/// the parser while writing its fuzzing target; the inputs are also in tests/Rendezvous.Fuzz/crashes/config/).
/// </summary>
[TestFixture]
public sealed class HiddenServerConfigFileTests
{
    private const string Uuid = "123e4567-e89b-12d3-a456-426614174000";
    private const string Secret = "JBSWY3DPEHPK3PXPJBSWY3DP";

    [TestCase("{\"registrarUrl\":\"\\ud800\",\"uuid\":\"" + Uuid + "\",\"secret\":\"" + Secret + "\",\"trustSystemStore\":true}", "\"registrarUrl\"", "lone surrogate")]
    [TestCase("{\"registrarUrl\":\"https://a/\",\"uuid\":\"" + Uuid + "\",\"secret\":\"\\udc00" + Secret + "\",\"trustSystemStore\":true}", "\"secret\"", "base32")]
    [TestCase("{\"registrarUrl\":\"https://a/\",\"registrarUrl\":\"https://b/\",\"uuid\":\"" + Uuid + "\",\"secret\":\"" + Secret + "\",\"trustSystemStore\":true}", "not valid JSON", "registrarUrl")]
    [TestCase("{\"registrarUrl\":\"https://a/\",\"uuid\":\"" + Uuid + "\",\"secret\":\"" + Secret + "\",\"registrarCaFile\":\"ca\\u0000.pem\"}", "\"registrarCaFile\"", "NUL character")]
    [TestCase("t\u001b[2J\r\n\u0007{\"registrarUrl\"", "not valid JSON: ", "\\x1B[2J\\x0D\\x0A\\x07", TestName = "{m}(control characters in the JSON parser's message are escaped)")]
    public void A_file_that_once_threw_is_refused_with_one_line_naming_the_field(string json, string field, string problem)
    {
        using var folder = new TemporaryDirectory();
        string path = folder.Combine("hidden-server.json");
        File.WriteAllText(path, json);

        bool valid = HiddenServerConfigFile.TryLoad(path, out HiddenServerConfigFile? config, out string? error);

        Assert.Multiple(() =>
        {
            Assert.That(valid, Is.False, $"accepted: {config}");
            Assert.That(error, Does.Contain(path).And.Contain(field).And.Contain(problem));
            Assert.That(error, Does.Not.Contain("\n"));
        });
    }

    [Test]
    public void A_written_file_loads_back_into_agent_options_that_validate()
    {
        using var folder = new TemporaryDirectory();
        string path = folder.Combine("hidden-server.json");
        string pin = string.Join(':', Enumerable.Repeat("0A", 32));
        var written = new HiddenServerConfigFile(new Uri("https://rendezvous.example.com:8898/"), Uuid, Secret, 60, 8, pin);

        written.Write(path);
        var loaded = HiddenServerConfigFile.Load(path);
        var options = loaded.ToAgentOptions();

        Assert.Multiple(() =>
        {
            Assert.That(loaded, Is.EqualTo(written));
            Assert.That(options.Validate, Throws.Nothing);
            Assert.That((options.RegistrarUrl, options.Uuid, options.Secret, options.Step, options.Digits), Is.EqualTo((written.RegistrarUrl, Uuid, Secret, 60, 8)));
            Assert.That(options.Trust.PinnedFingerprint, Is.EqualTo(pin));
            Assert.That(options.Trust.TrustSystemStore, Is.Null);
            Assert.That(loaded.ToString(), Does.Not.Contain(Secret));
            if (!OperatingSystem.IsWindows())
            {
                Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            }
        });
    }

    [Test]
    public void A_CA_file_is_found_beside_the_config_file_and_step_and_digits_default()
    {
        using var folder = new TemporaryDirectory();
        Directory.CreateDirectory(folder.Combine("conf"));
        File.WriteAllText(folder.Combine("conf", "ca.pem"), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
        string path = folder.Combine("conf", "hidden-server.json");
        File.WriteAllText(path, new JsonObject { ["registrarUrl"] = "https://127.0.0.1:8898/", ["uuid"] = Uuid.ToUpperInvariant(), ["secret"] = Secret, ["registrarCaFile"] = "ca.pem" }.ToJsonString());

        var loaded = HiddenServerConfigFile.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(loaded.RegistrarCaFile, Is.EqualTo(folder.Combine("conf", "ca.pem")));
            Assert.That(loaded.ToTrust().CertificateAuthorityPath, Is.EqualTo(loaded.RegistrarCaFile));
            Assert.That(loaded.Uuid, Is.EqualTo(Uuid), "the UUID in its canonical form");
            Assert.That((loaded.Step, loaded.Digits), Is.EqualTo((30, 6)));
        });
    }

    [TestCase("\"registrarUrl\":\"http://127.0.0.1:8898/\"", "\"registrarUrl\": it is \"http://127.0.0.1:8898/\", which is http://, but https:// is required")]
    [TestCase("\"registrarUrl\":\"https://a/\",\"step\":301", "\"step\": it is 301; it must be a number of seconds from 1 to 300")]
    [TestCase("\"registrarUrl\":\"https://a/\",\"digits\":\"6\"", "\"digits\": it is \"6\"; it must be a number from 6 to 8")]
    [TestCase("\"registrarUrl\":\"https://a/\",\"registrarFingerprint\":\"AB\"", "\"registrarFingerprint\": it is \"AB\"; it must be the registrar certificate's SHA-256 fingerprint")]
    public void Load_throws_naming_the_file_the_field_its_value_and_what_is_accepted(string fields, string expected)
    {
        using var folder = new TemporaryDirectory();
        string path = folder.Combine("hidden-server.json");
        File.WriteAllText(path, $"{{{fields},\"uuid\":\"{Uuid}\",\"secret\":\"{Secret}\",\"trustSystemStore\":true}}");

        var ex = Assert.Throws<InvalidDataException>(() => HiddenServerConfigFile.Load(path));

        Assert.That(ex!.Message, Does.Contain($"the config file '{path}' has a bad {expected}"));
    }

    [Test]
    public void A_bad_secret_is_refused_without_showing_it_and_a_missing_file_names_the_path()
    {
        using var folder = new TemporaryDirectory();
        string path = folder.Combine("hidden-server.json");
        File.WriteAllText(path, $"{{\"registrarUrl\":\"https://a/\",\"uuid\":\"{Uuid}\",\"secret\":\"SHORT0SECRET1\",\"trustSystemStore\":true}}");
        string missing = folder.Combine("missing.json");

        var badSecret = Assert.Throws<InvalidDataException>(() => HiddenServerConfigFile.Load(path));
        bool found = HiddenServerConfigFile.TryLoad(missing, out _, out string? notFound);

        Assert.Multiple(() =>
        {
            Assert.That(badSecret!.Message, Does.Contain("\"secret\"").And.Contain("base32 of at least 80 bits").And.Not.Contain("SHORT0SECRET1"));
            Assert.That(found, Is.False);
            Assert.That(notFound, Does.StartWith($"cannot read the config file '{missing}'"));
        });
    }

    [TestCase(null, "https://localhost:8898/")]
    [TestCase("rendezvous.example.com", "https://rendezvous.example.com:8898/")]
    [TestCase("::1", "https://[::1]:8898/")]
    public void The_default_registrar_url_is_the_public_host_on_8898(string? publicHost, string expected)
    {
        Assert.That(HiddenServerConfigFile.DefaultRegistrarUrl(publicHost), Is.EqualTo(new Uri(expected)));
    }
}
