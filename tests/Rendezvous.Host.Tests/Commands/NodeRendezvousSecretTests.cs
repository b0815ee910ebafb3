using System.Text;
using Rendezvous.Host.Import;

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
}
