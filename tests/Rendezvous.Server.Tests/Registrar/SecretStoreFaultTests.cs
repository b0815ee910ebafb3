using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>
/// The secrets database removed or damaged under a real server (real HTTPS, real relay, real SQLite file): every
/// registration gets the documented 503 <c>service unavailable, retry later</c> with Retry-After (never a 500, never a
/// refusal the hidden server would take as final, and nothing counted toward throttling), lookups and
/// pairing of hidden servers registered before go on, one line is logged when it starts failing and one when it
/// works again.
/// </summary>
public sealed class SecretStoreFaultTests
{
    private const string Unavailable = """{"error":{"permanent":false,"diagnostic":"service unavailable, retry later"}}""";
    private static readonly string[] Suffixes = [string.Empty, "-wal", "-shm"];

    private FakeTimeProvider _time = null!;
    private LogCapture _logs = null!;
    private RendezvousTestServer _server = null!;
    private HttpClient _registrar = null!;
    private SqliteSecretStore _store = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        _time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        _logs = new LogCapture();
        _server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), time: _time, logs: _logs);
        _registrar = _server.CreateRegistrarClient();
        _store = _server.Services.GetRequiredService<SqliteSecretStore>();
    }

    [TearDown]
    public async Task StopServerAsync()
    {
        _registrar.Dispose();
        await _server.DisposeAsync();
        _logs.Dispose();
    }

    [Test]
    public async Task Removed_database_answers_registrations_unavailable_and_keeps_relaying()
    {
        var (registered, cookie) = await RegisterAsync();
        var other = await AddSecretAsync();
        using var responder = await LoopbackClient.ConnectWithLineAsync(_server.RelayEndPoint, "R" + cookie);
        await WaitUntilAsync(() => _server.Broker.ParkedCount > 0);

        foreach (var suffix in Suffixes)
        {
            File.Delete(_store.DatabasePath + suffix);
        }

        await AssertServesWhileFailingAsync(registered, other, responder, "was removed while in use");
        Assert.That(File.Exists(_store.DatabasePath), Is.False, "no new empty database is made in its place while serving");
    }

    [Test]
    public async Task Damaged_header_answers_registrations_unavailable_and_keeps_relaying_until_repaired()
    {
        var (registered, cookie) = await RegisterAsync();
        var other = await AddSecretAsync();
        using var responder = await LoopbackClient.ConnectWithLineAsync(_server.RelayEndPoint, "R" + cookie);
        await WaitUntilAsync(() => _server.Broker.ParkedCount > 0);
        await CheckpointAsync();
        var header = new byte[100];
        await using (var file = new FileStream(_store.DatabasePath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            file.ReadExactly(header);
            var noise = new byte[header.Length];
            new Random(7).NextBytes(noise);
            file.Position = 0;
            file.Write(noise);
        }

        await AssertServesWhileFailingAsync(registered, other, responder, "not a database");

        await using (var file = new FileStream(_store.DatabasePath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            file.Write(header);
        }

        await AssertWorksAgainAsync();
    }

    [Test]
    public async Task Database_put_back_serves_registrations_again_with_one_line_logged()
    {
        var (registered, cookie) = await RegisterAsync();
        var other = await AddSecretAsync();
        using var responder = await LoopbackClient.ConnectWithLineAsync(_server.RelayEndPoint, "R" + cookie);
        await WaitUntilAsync(() => _server.Broker.ParkedCount > 0);
        foreach (var suffix in Suffixes)
        {
            File.Move(_store.DatabasePath + suffix, _store.DatabasePath + suffix + ".away");
        }

        await AssertServesWhileFailingAsync(registered, other, responder, "was removed while in use");

        foreach (var suffix in Suffixes)
        {
            File.Move(_store.DatabasePath + suffix + ".away", _store.DatabasePath + suffix);
        }

        await AssertWorksAgainAsync();
    }

    /// <summary>
    /// With the store failing: the right code of a registered and of a never registered UUID, and any number of wrong
    /// codes, get 503 <c>service unavailable</c> with Retry-After, the registered UUID is still found and paired, and exactly
    /// one line (naming <paramref name="reason"/>) was logged, without a stack trace.
    /// </summary>
    private async Task AssertServesWhileFailingAsync(SecretEntry registered, SecretEntry other, LoopbackClient responder, string reason)
    {
        _time.Advance(TimeSpan.FromSeconds(registered.Step));
        AssertUnavailable(await _registrar.RegisterAsync(registered.Uuid, Code(registered)));
        AssertUnavailable(await _registrar.RegisterAsync(other.Uuid, Code(other)));

        // Nothing is judged while the store fails, so nothing is counted: wrong codes get the same answer, never 429.
        for (var i = 0; i < new TotpSecurityOptions().MaxFailuresPerUuid + 1; i++)
        {
            AssertUnavailable(await _registrar.RegisterAsync(other.Uuid, WrongCode(other)));
        }

        var lookup = await _registrar.LookUpAsync(registered.Uuid);
        Assert.That(lookup.Triple.Cookie, Does.StartWith("I"));
        using var initiator = await LoopbackClient.ConnectWithLineAsync(_server.RelayEndPoint, lookup.Triple.Cookie);
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));

        Assert.Multiple(() =>
        {
            Assert.That(Lines("SecretStoreFailing"), Has.Count.EqualTo(1));
            Assert.That(Lines("SecretStoreFailing")[0].Message, Does.Contain(reason));
            Assert.That(_logs.Records.Where(r => r.Exception is not null), Is.Empty, "no stack trace is logged");
            Assert.That(_logs.Records.Where(r => r.Level >= LogLevel.Error && r.EventId.Name != "SecretStoreFailing"), Is.Empty);
        });
    }

    /// <summary>Once the file is back, a new UUID registers and exactly one line says the database works again.</summary>
    private async Task AssertWorksAgainAsync()
    {
        var fresh = await AddSecretAsync();
        Assert.That((await _registrar.RegisterAsync(fresh.Uuid, Code(fresh))).Triple.Cookie, Does.StartWith("R"));
        Assert.Multiple(() =>
        {
            Assert.That(Lines("SecretStoreFailing"), Has.Count.EqualTo(1));
            Assert.That(Lines("SecretStoreRecovered"), Has.Count.EqualTo(1));
        });
    }

    private async Task<(SecretEntry Entry, string Cookie)> RegisterAsync()
    {
        var entry = await AddSecretAsync();
        var cookie = (await _registrar.RegisterAsync(entry.Uuid, Code(entry))).Triple.Cookie;
        Assert.That(cookie, Does.StartWith("R"));
        return (entry, cookie[1..]);
    }

    private async Task<SecretEntry> AddSecretAsync()
    {
        var entry = new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, _time.GetUtcNow());
        await SqliteSecretStore.ForDataDirectory(_server.DataDirectory).AddAsync(entry).WaitAsync(TestTimeouts.Short);
        return entry;
    }

    /// <summary>Moves everything from the WAL into the main file, so its header is what SQLite reads.</summary>
    private async Task CheckpointAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={_store.DatabasePath};Pooling=False");
        await connection.OpenAsync().WaitAsync(TestTimeouts.Short);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
        await command.ExecuteNonQueryAsync().WaitAsync(TestTimeouts.Short);
    }

    private string Code(SecretEntry entry) =>
        new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, entry.Digits).ComputeTotp(_time.GetUtcNow().UtcDateTime);

    private string WrongCode(SecretEntry entry)
    {
        var accepted = new[] { -1, 0, 1 }.Select(s => new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, entry.Digits)
            .ComputeTotp(_time.GetUtcNow().UtcDateTime.AddSeconds(s * entry.Step))).ToArray();
        return Enumerable.Range(0, 4).Select(n => n.ToString(CultureInfo.InvariantCulture).PadLeft(entry.Digits, '0')).First(c => !accepted.Contains(c));
    }

    private static void AssertUnavailable(RegistrarReply reply)
    {
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.RetryAfter, Is.Not.Null);
            Assert.That(reply.BodyBytes, Is.EqualTo(Encoding.UTF8.GetBytes(Unavailable)), reply.Body);
        });
    }

    private List<CapturedLog> Lines(string eventName) => [.. _logs.Records.Where(r => r.EventId.Name == eventName)];

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Short);
        while (!condition())
        {
            await Task.Delay(5, cts.Token);
        }
    }
}
