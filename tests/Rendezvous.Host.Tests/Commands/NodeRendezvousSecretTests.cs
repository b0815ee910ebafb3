using System.Text;
using Rendezvous.Redis;

namespace Rendezvous.Host.Tests.Commands;

/// <summary>
/// Original-Redis values that once threw out of <see cref="NodeRendezvousSecret.TryParse"/> instead of being skipped
/// with a reason (found while writing the redis fuzzing target; the inputs are also in
/// tests/Rendezvous.Fuzz/crashes/redis/): a JSON string may hold an escaped lone surrogate, which is no text.
/// </summary>
[TestFixture]
public sealed class NodeRendezvousSecretTests
{
    private const string Secret = "JBSWY3DPEHPK3PXPJBSWY3DP";

    [TestCase("{\"authParams\":{\"protocol\":\"\\ud800\",\"base32\":\"" + Secret + "\"}}", "authParams.protocol")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"algorithm\":\"\\udfff\",\"base32\":\"" + Secret + "\"}}", "authParams.algorithm")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"base32\":\"\\udc00" + Secret + "\"}}", "authParams.base32")]
    public void A_lone_surrogate_is_a_bad_field_not_an_exception(string value, string field)
    {
        bool parsed = NodeRendezvousSecret.TryParse(Encoding.UTF8.GetBytes(value), out NodeRendezvousSecret? secret, out string? problem);

        Assert.That(parsed, Is.False, $"accepted a {secret?.Secret.Length}-byte secret");
        Assert.That(problem, Does.StartWith(field));
    }

    [Test]
    public void Bytes_that_are_not_utf8_inside_a_string_are_a_bad_value_not_an_exception()
    {
        // Found by eng/fuzz.sh redis (crashes/redis/crash-*): the parser accepted the document, reading the field threw.
        byte[] value = [.. "{\"authParams\":{\"protocol\":\"totp\",\"base32\":\""u8, 0x91, .. "abc\"}}"u8];

        bool parsed = NodeRendezvousSecret.TryParse(value, out _, out string? problem);

        Assert.That(parsed, Is.False);
        Assert.That(problem, Is.EqualTo("the value is not UTF-8 text"));
    }

    [Test]
    public void A_field_that_spans_lines_is_shown_on_one_line()
    {
        bool parsed = NodeRendezvousSecret.TryParse("{\"authParams\":{\"protocol\":{\n\"a\":1}}}"u8.ToArray(), out _, out string? problem);

        Assert.That(parsed, Is.False);
        Assert.That(problem, Is.EqualTo("authParams.protocol is {\\x0A\"a\":1}, not \"totp\""));
    }
}
