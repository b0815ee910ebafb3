using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Commands;

/// <summary>
/// Config files that once threw out of <see cref="HiddenServerConfig.TryRead"/> instead of being refused with one line
/// (a repeated property and control characters found by eng/fuzz.sh config, the lone surrogates and the NUL by reading
/// the parser while writing its fuzzing target; the inputs are also in tests/Rendezvous.Fuzz/crashes/config/).
/// </summary>
[TestFixture]
public sealed class HiddenServerConfigTests
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

        bool valid = HiddenServerConfig.TryRead(path, out HiddenServerConfig? config, out string? error);

        Assert.Multiple(() =>
        {
            Assert.That(valid, Is.False, $"accepted: {config}");
            Assert.That(error, Does.Contain(path).And.Contain(field).And.Contain(problem));
            Assert.That(error, Does.Not.Contain("\n"));
        });
    }
}
