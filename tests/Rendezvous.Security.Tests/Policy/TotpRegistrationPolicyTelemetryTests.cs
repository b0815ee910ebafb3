using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Security.Tests.Policy;

public sealed class TotpRegistrationPolicyTelemetryTests
{
    private const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly byte[] Secret = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];

    private TemporaryDirectory _directory = null!;
    private FakeTimeProvider _time = null!;
    private SqliteSecretStore _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _directory = new TemporaryDirectory();
        _time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_010));
        _store = new SqliteSecretStore(_directory.Combine("rendezvous.db"));
        await _store.AddAsync(new SecretEntry(Uuid, Secret, 30, 6, _time.GetUtcNow())).WaitAsync(Timeout);
    }

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task Verifications_are_counted_by_outcome()
    {
        using var meterFactory = new TestMeterFactory();
        var counts = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (meterFactory.Meters.Contains(instrument.Meter) && instrument.Name == "rendezvous.security.verifications")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "outcome")
                {
                    string outcome = (string)tag.Value!;
                    counts[outcome] = counts.GetValueOrDefault(outcome) + value;
                }
            }
        });
        listener.Start();
        var policy = new TotpRegistrationPolicy(
            _store, Options.Create(new TotpSecurityOptions { MaxFailuresPerUuid = 1 }), _time, meterFactory: meterFactory);

        string code = Code();
        await policy.AuthorizeAsync(Request(code)).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request(code)).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request("000000")).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request("000000")).AsTask().WaitAsync(Timeout);

        Assert.That(meterFactory.Meters.Select(m => m.Name), Is.EqualTo(new[] { "Rendezvous.Security" }));
        Assert.That(counts, Is.EqualTo(new Dictionary<string, long> { ["accepted"] = 1, ["replayed"] = 1, ["rejected"] = 1, ["throttled"] = 1 }));
    }

    [Test]
    public async Task Codes_never_appear_in_logs()
    {
        var logger = new ListLogger<TotpRegistrationPolicy>();
        var policy = new TotpRegistrationPolicy(
            _store, Options.Create(new TotpSecurityOptions { MaxFailuresPerUuid = 1 }), _time, logger);
        string code = Code();

        await policy.AuthorizeAsync(Request(code)).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request(code)).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request(code)).AsTask().WaitAsync(Timeout);

        Assert.That(logger.Messages, Has.Count.EqualTo(3));
        Assert.That(logger.Messages, Has.None.Contains(code));
        Assert.That(logger.Messages, Has.All.Contains(Uuid));
    }

    [Test]
    public async Task Log_events_have_ids_and_names()
    {
        var logger = new ListLogger<TotpRegistrationPolicy>();
        var policy = new TotpRegistrationPolicy(
            _store, Options.Create(new TotpSecurityOptions { MaxFailuresPerUuid = 1 }), _time, logger);

        string code = Code();
        await policy.AuthorizeAsync(Request(code)).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request(code)).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request("000000")).AsTask().WaitAsync(Timeout);
        await policy.AuthorizeAsync(Request("000000")).AsTask().WaitAsync(Timeout);

        Assert.That(logger.Events.Select(e => $"{e.Id} {e.Name}"), Is.EqualTo(new[]
        {
            "2001 RegistrationAccepted",
            "2004 RegistrationReplayed",
            "2002 RegistrationRejected",
            "2003 RegistrationThrottled",
        }));
    }

    private static RegistrationRequest Request(string response) => new(Uuid, response, IPAddress.Loopback);

    private string Code() => new Totp(Secret, 30, OtpHashMode.Sha1, 6).ComputeTotp(_time.GetUtcNow().UtcDateTime);

    private sealed class TestMeterFactory : IMeterFactory
    {
        public List<Meter> Meters { get; } = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            Meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (Meter meter in Meters)
            {
                meter.Dispose();
            }
        }
    }

    private sealed class ListLogger<T> : ILogger<T>
    {
        public List<string> Messages { get; } = [];

        public List<EventId> Events { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Messages.Add(formatter(state, exception));
            Events.Add(eventId);
        }
    }
}
