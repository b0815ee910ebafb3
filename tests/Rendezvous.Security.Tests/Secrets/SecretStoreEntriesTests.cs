using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Security.Tests.Secrets;

/// <summary>The TOTP secrets as the admin page's <see cref="IRegistrationEntryStore"/>, over a real SQLite file.</summary>
public sealed class SecretStoreEntriesTests
{
    private const string Uuid = "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

    private TemporaryDirectory _directory = null!;
    private ServiceProvider _provider = null!;
    private FakeTimeProvider _time = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = new TemporaryDirectory();
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.Zero));
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);
        new DependencyInjection.TotpSecurityServerBuilderExtensionsTests.TestServerBuilder(services).AddTotpSecurity(o => o.DatabasePath = _directory.Combine("rendezvous.db"));
        _provider = services.BuildServiceProvider();
    }

    [TearDown]
    public async Task TearDown()
    {
        await _provider.DisposeAsync();
        _directory.Dispose();
    }

    private IRegistrationEntryStore Entries => _provider.GetRequiredService<IRegistrationEntryStore>();

    private SecretStore Secrets => _provider.GetRequiredService<SecretStore>();

    [Test]
    public void The_creation_form_asks_for_the_step_and_the_digits_with_their_ranges_and_defaults()
    {
        Assert.That(
            Entries.CreationFields,
            Is.EqualTo(new[]
            {
                new RegistrationEntryField("step", "Time step (seconds, 1 to 300)", "30", Numeric: true),
                new RegistrationEntryField("digits", "Digits (6 to 8)", "6", Numeric: true),
            }));
    }

    [Test]
    public void Bad_values_are_named_with_what_is_accepted()
    {
        var problems = Entries.Validate(new Dictionary<string, string> { ["step"] = "0", ["digits"] = "five" });

        Assert.That(problems, Is.EqualTo(new[]
        {
            "The time step '0' is not accepted; it must be a whole number of seconds from 1 to 300.",
            "The digits 'five' are not accepted; a code has from 6 to 8 digits.",
        }));
    }

    [Test]
    public async Task An_entry_is_created_with_a_random_secret_listed_without_it_and_refused_twice()
    {
        var values = new Dictionary<string, string> { ["step"] = "60", ["digits"] = "8" };

        var created = await Entries.TryCreateAsync(Uuid, values).WaitAsync(TestTimeouts.Short);
        var again = await Entries.TryCreateAsync(Uuid, values).WaitAsync(TestTimeouts.Short);
        var stored = await Secrets.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short);
        var settings = await Entries.TryGetClientSettingsAsync(Uuid).WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(created, Is.EqualTo(new RegistrationEntry(Uuid, _time.GetUtcNow(), "step 60 s, 8 digits")));
            Assert.That(again, Is.Null, "a UUID has one entry");
            Assert.That(stored!.Secret, Has.Length.EqualTo(SecretFormat.GeneratedSecretBytes));
            Assert.That(settings!.ToJsonString(), Is.EqualTo($$"""{"secret":"{{SecretFormat.ToBase32(stored.Secret)}}","step":60,"digits":8}"""));
        });
    }

    [Test]
    public async Task Rotating_replaces_the_secret_and_removing_ends_the_entry()
    {
        await Entries.TryCreateAsync(Uuid, new Dictionary<string, string> { ["step"] = "30", ["digits"] = "6" }).WaitAsync(TestTimeouts.Short);
        var before = (await Secrets.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short))!.Secret;

        var rotated = await Entries.RotateAsync(Uuid).WaitAsync(TestTimeouts.Short);
        var after = (await Secrets.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short))!.Secret;
        var removed = await Entries.RemoveAsync(Uuid).WaitAsync(TestTimeouts.Short);
        var list = await Entries.ListAsync().WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(rotated, Is.True);
            Assert.That(after, Is.Not.EqualTo(before));
            Assert.That(removed, Is.True);
            Assert.That(list, Is.Empty);
        });
    }
}
