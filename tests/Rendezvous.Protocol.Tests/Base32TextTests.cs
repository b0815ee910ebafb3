using System.Text;

namespace Rendezvous.Protocol.Tests;

public sealed class Base32TextTests
{
    // RFC 4648 section 10, without padding.
    [TestCase("", "")]
    [TestCase("f", "MY")]
    [TestCase("fo", "MZXQ")]
    [TestCase("foo", "MZXW6")]
    [TestCase("foob", "MZXW6YQ")]
    [TestCase("fooba", "MZXW6YTB")]
    [TestCase("foobar", "MZXW6YTBOI")]
    public void Encodes_the_rfc_4648_vectors(string plain, string encoded)
    {
        Assert.That(Base32Text.Encode(Encoding.ASCII.GetBytes(plain)), Is.EqualTo(encoded));
    }

    [TestCase("MZXW6YTBOI", "foobar")]
    [TestCase("mzxw6ytboi", "foobar")]
    [TestCase("MZXW6YTBOI======", "foobar")]
    [TestCase(" MZXW 6YTB OI ", "foobar")]
    [TestCase("MZXW6YQ=", "foob")]
    public void Decodes_any_case_with_optional_padding_and_spaces(string encoded, string plain)
    {
        Assert.That(Base32Text.TryDecode(encoded, 1, out var bytes), Is.True);
        Assert.That(Encoding.ASCII.GetString(bytes!), Is.EqualTo(plain));
    }

    [TestCase("MZXW6YTB1I")]
    [TestCase("MZXW6YTB8I")]
    [TestCase("MZXW-6YTBOI")]
    [TestCase("")]
    [TestCase("   ")]
    [TestCase(null)]
    public void Refuses_text_that_is_not_base32(string? text)
    {
        Assert.That(Base32Text.TryDecode(text, 1, out var bytes), Is.False);
        Assert.That(bytes, Is.Null);
    }

    [Test]
    public void Refuses_fewer_bytes_than_the_minimum()
    {
        Assert.That(Base32Text.TryDecode("MZXW6YTBOI", 7, out _), Is.False);
        Assert.That(Base32Text.TryDecode("MZXW6YTBOI", 6, out _), Is.True);
    }

    [Test]
    public void Random_bytes_round_trip()
    {
        var random = new Random(42);
        for (var length = 0; length < 64; length++)
        {
            var bytes = new byte[length];
            random.NextBytes(bytes);

            Assert.That(Base32Text.TryDecode(Base32Text.Encode(bytes), 0, out var decoded), Is.EqualTo(length > 0));
            if (length > 0)
            {
                Assert.That(decoded, Is.EqualTo(bytes));
            }
        }
    }
}
