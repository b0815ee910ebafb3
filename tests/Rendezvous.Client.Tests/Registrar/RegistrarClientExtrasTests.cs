using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Client.Registrar;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Tests.Common;
using RegistrarClient = Rendezvous.Client.Registrar.RegistrarClient;

namespace Rendezvous.Client.Tests.Registrar;

/// <summary>
/// A cluster's extra fields in the registrar's answers (<c>alternates</c>, <c>pool</c>): parsed when well-formed, left out
/// when not (never an exception), and answers without them unchanged; and a registrar name with several addresses.
/// </summary>
public sealed class RegistrarClientExtrasTests
{
    private const string Cookie = "RabcdefghijklmnopqrstuvwxyzABCDEF";

    private static async Task<RendezvousTriple> AnswerAsync(string result)
    {
        await using var stub = await StubRegistrar.StartAsync(200, "{\"result\":{" + result + "}}");
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });
        return await client.RegisterAsync(Guid.NewGuid().ToString(), "123456").WaitAsync(TestTimeouts.Short);
    }

    [Test]
    public async Task Alternates_and_pool_advice_are_parsed()
    {
        var triple = await AnswerAsync($$"""
            "host":"127.0.0.1","port":8899,"cookie":"{{Cookie}}",
            "alternates":[{"host":"127.0.0.2","port":8899},{"host":"node-c.example","port":9000}],"pool":3
            """);

        Assert.Multiple(() =>
        {
            Assert.That(triple, Is.EqualTo(new RendezvousTriple("127.0.0.1", 8899, Cookie)
            {
                Alternates = triple.Alternates,
                PoolAdvice = 3,
            }));
            Assert.That(triple.Alternates, Is.EqualTo(new[] { new RelayAddress("127.0.0.2", 8899), new RelayAddress("node-c.example", 9000) }));
            Assert.That(triple.Relays(), Is.EqualTo(new[] { new RelayAddress("127.0.0.1", 8899), new RelayAddress("127.0.0.2", 8899), new RelayAddress("node-c.example", 9000) }));
        });
    }

    [TestCase("\"alternates\":\"127.0.0.2:8899\",\"pool\":\"3\"", TestName = "Malformed_extras_are_ignored(not an array, pool a string)")]
    [TestCase("\"alternates\":{\"host\":\"127.0.0.2\",\"port\":8899},\"pool\":0", TestName = "Malformed_extras_are_ignored(an object, pool 0)")]
    [TestCase("\"alternates\":null,\"pool\":-1", TestName = "Malformed_extras_are_ignored(null, pool negative)")]
    [TestCase("\"alternates\":[],\"pool\":65", TestName = "Malformed_extras_are_ignored(empty, pool above 64)")]
    [TestCase("\"alternates\":[1,\"x\",null,[]],\"pool\":2.5", TestName = "Malformed_extras_are_ignored(entries not objects, pool not whole)")]
    [TestCase("\"alternates\":[{\"host\":\"\",\"port\":1},{\"host\":\"a b\",\"port\":1},{\"host\":7,\"port\":1},{\"host\":\"h\",\"port\":0},{\"host\":\"h\",\"port\":65536},{\"host\":\"h\",\"port\":\"1\"},{\"host\":\"h\"}],\"pool\":99999999999",
        TestName = "Malformed_extras_are_ignored(entries without a usable host or port, pool huge)")]
    [TestCase("\"alternates\":[{\"host\":\"127.0.0.1\",\"port\":8899}],\"pool\":true", TestName = "Malformed_extras_are_ignored(the owner itself, pool a boolean)")]
    public async Task Malformed_extras_are_ignored(string extras)
    {
        var triple = await AnswerAsync($$"""
            "host":"127.0.0.1","port":8899,"cookie":"{{Cookie}}",{{extras}}
            """);

        Assert.Multiple(() =>
        {
            Assert.That(triple, Is.EqualTo(new RendezvousTriple("127.0.0.1", 8899, Cookie)), "the triple itself is what the answer says");
            Assert.That(triple.Alternates, Is.Empty);
            Assert.That(triple.PoolAdvice, Is.Null);
        });
    }

    [Test]
    public async Task Well_formed_alternates_among_malformed_ones_are_kept_and_at_most_eight()
    {
        var entries = string.Join(",", Enumerable.Range(1, 20).Select(i => i % 2 == 0 ? $$"""{"host":"127.0.0.{{i}}","port":{{8000 + i}}}""" : """{"host":"bad host","port":1}"""));
        var triple = await AnswerAsync($$"""
            "host":"127.0.0.1","port":8899,"cookie":"{{Cookie}}","alternates":[{{entries}},{"host":"127.0.0.2","port":8002}]
            """);

        Assert.That(triple.Alternates, Is.EqualTo(Enumerable.Range(1, 8).Select(i => new RelayAddress($"127.0.0.{i * 2}", 8000 + (i * 2)))));
    }

    [Test]
    public async Task A_huge_alternates_array_costs_a_bounded_look()
    {
        var entries = string.Join(",", Enumerable.Repeat("""{"host":"bad host","port":1}""", 5000));
        var triple = await AnswerAsync($$"""
            "host":"127.0.0.1","port":8899,"cookie":"{{Cookie}}","alternates":[{{entries}},{"host":"127.0.0.2","port":8002}]
            """);

        Assert.That(triple.Alternates, Is.Empty, "only the first few entries are looked at");
    }

    [Test]
    public async Task An_answer_without_extras_is_unchanged()
    {
        var triple = await AnswerAsync($$"""
            "host":"127.0.0.1","port":8899,"cookie":"{{Cookie}}"
            """);

        Assert.Multiple(() =>
        {
            Assert.That(triple, Is.EqualTo(new RendezvousTriple("127.0.0.1", 8899, Cookie)));
            Assert.That(triple.Alternates, Is.Empty);
            Assert.That(triple.PoolAdvice, Is.Null);
            Assert.That(triple.Relays(), Is.EqualTo(new[] { new RelayAddress("127.0.0.1", 8899) }));
        });
    }

    [Test]
    public async Task A_registrar_name_with_several_addresses_is_connected_to_address_by_address_with_the_pin_unchanged()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object));
        var name = new Uri($"https://registrar.test:{server.RegistrarUrl.Port}/");
        var asked = new List<string>();

        // 127.0.0.2 has nothing listening on the registrar's port (it is bound to 127.0.0.1): refused, then the next address.
        using var client = new RegistrarClient(name, ClientTestKit.Pinned(server))
        {
            Resolve = (host, _) =>
            {
                asked.Add(host);
                return Task.FromResult(new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Loopback });
            },
        };
        var triple = await client.RegisterAsync(Guid.NewGuid().ToString(), "123456").WaitAsync(TestTimeouts.Short);

        using var wrongPin = new RegistrarClient(name, new RegistrarTrust { PinnedFingerprint = new string('A', 64) })
        {
            Resolve = (_, _) => Task.FromResult(new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Loopback }),
        };
        var mismatch = Assert.ThrowsAsync<CertificatePinMismatchException>(() => wrongPin.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        using var allRefuse = new RegistrarClient(name, ClientTestKit.Pinned(server))
        {
            Resolve = (_, _) => Task.FromResult(new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3") }),
        };
        var unreachable = Assert.ThrowsAsync<RendezvousException>(() => allRefuse.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(triple.Cookie, Does.StartWith("R"));
            Assert.That(asked, Is.EqualTo(new[] { "registrar.test" }));
            Assert.That(mismatch!.Error, Is.EqualTo(RendezvousError.CertificateMismatch), "a pin that does not match is refused whichever address answered");
            Assert.That(unreachable!.Error, Is.EqualTo(RendezvousError.Transport));
        });
    }
}
