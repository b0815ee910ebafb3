using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Security.Tests.DependencyInjection;

public sealed class TotpSecurityServerBuilderExtensionsTests
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public void Registration_policy_resolves_as_the_totp_policy()
    {
        using ServiceProvider provider = Build(o => o.DatabasePath = _directory.Combine("rendezvous.db"));

        Assert.That(provider.GetRequiredService<IRegistrationPolicy>(), Is.InstanceOf<TotpRegistrationPolicy>());
    }

    [Test]
    public void Totp_security_replaces_an_earlier_policy()
    {
        var services = new ServiceCollection();
        var builder = new TestServerBuilder(services);
        builder.AddPolicy(Mock.Of<IRegistrationPolicy>());
        builder.AddTotpSecurity(o => o.DatabasePath = _directory.Combine("rendezvous.db"));
        using ServiceProvider provider = services.BuildServiceProvider();

        Assert.That(provider.GetServices<IRegistrationPolicy>().Single(), Is.InstanceOf<TotpRegistrationPolicy>());
    }

    [Test]
    public void Secret_store_is_the_sqlite_store_at_the_configured_path()
    {
        string path = _directory.Combine("secrets.db");
        using ServiceProvider provider = Build(o => o.DatabasePath = path);

        var store = provider.GetRequiredService<SqliteSecretStore>();

        Assert.That(store.DatabasePath, Is.EqualTo(path));
        Assert.That(provider.GetRequiredService<SecretStore>(), Is.SameAs(store));
    }

    [Test]
    public void System_time_provider_is_registered_when_none_is()
    {
        using ServiceProvider provider = Build();

        Assert.That(provider.GetRequiredService<TimeProvider>(), Is.SameAs(TimeProvider.System));
    }

    [Test]
    public void Database_path_defaults_to_the_default_data_directory_without_configuration()
    {
        using ServiceProvider provider = Build();

        string? path = provider.GetRequiredService<IOptions<TotpSecurityOptions>>().Value.DatabasePath;

        Assert.That(path, Is.EqualTo(Path.Combine("./rendezvous-data", "rendezvous.db")));
    }

    [Test]
    public void Database_path_follows_the_configured_data_directory()
    {
        using ServiceProvider provider = Build(configuration: new() { ["Rendezvous:DataDirectory"] = _directory.Path });

        string? path = provider.GetRequiredService<IOptions<TotpSecurityOptions>>().Value.DatabasePath;

        Assert.That(path, Is.EqualTo(_directory.Combine("rendezvous.db")));
    }

    [Test]
    public void Options_are_bound_from_the_security_section()
    {
        using ServiceProvider provider = Build(configuration: new()
        {
            ["Rendezvous:Security:AllowedSkewSteps"] = "2",
            ["Rendezvous:Security:MaxFailuresPerUuid"] = "7",
            ["Rendezvous:Security:FailureWindow"] = "00:02:00",
        });

        TotpSecurityOptions options = provider.GetRequiredService<IOptions<TotpSecurityOptions>>().Value;

        Assert.That(options.AllowedSkewSteps, Is.EqualTo(2));
        Assert.That(options.MaxFailuresPerUuid, Is.EqualTo(7));
        Assert.That(options.FailureWindow, Is.EqualTo(TimeSpan.FromMinutes(2)));
    }

    [Test]
    public void Configure_action_overrides_configuration()
    {
        using ServiceProvider provider = Build(
            o => o.AllowedSkewSteps = 3,
            new() { ["Rendezvous:Security:AllowedSkewSteps"] = "2" });

        Assert.That(provider.GetRequiredService<IOptions<TotpSecurityOptions>>().Value.AllowedSkewSteps, Is.EqualTo(3));
    }

    [Test]
    public void Bad_options_report_every_failure_at_once()
    {
        using ServiceProvider provider = Build(configuration: new()
        {
            ["Rendezvous:Security:AllowedSkewSteps"] = "42",
            ["Rendezvous:Security:MaxFailuresPerUuid"] = "0",
            ["Rendezvous:Security:FailureWindow"] = "00:00:00",
        });

        OptionsValidationException? thrown = Assert.Throws<OptionsValidationException>(
            () => _ = provider.GetRequiredService<IOptions<TotpSecurityOptions>>().Value);

        Assert.That(thrown!.Failures, Has.Member("Rendezvous:Security:AllowedSkewSteps is 42; it must be between 0 and 10."));
        Assert.That(thrown.Failures, Has.Some.Contains("Rendezvous:Security:MaxFailuresPerUuid is 0"));
        Assert.That(thrown.Failures, Has.Some.Contains("Rendezvous:Security:FailureWindow"));
        Assert.That(thrown.Failures.Count(), Is.EqualTo(3));
    }

    [Test]
    public void Bad_known_address_options_name_the_value_and_the_range()
    {
        using ServiceProvider provider = Build(configuration: new()
        {
            ["Rendezvous:Security:KnownAddressLifetime"] = "00:00:30",
            ["Rendezvous:Security:MaxKnownAddressesPerUuid"] = "0",
            ["Rendezvous:Security:MaxKnownAddresses"] = "99",
        });

        OptionsValidationException? thrown = Assert.Throws<OptionsValidationException>(
            () => _ = provider.GetRequiredService<IOptions<TotpSecurityOptions>>().Value);

        Assert.That(thrown!.Failures, Is.EquivalentTo(new[]
        {
            "Rendezvous:Security:KnownAddressLifetime is 00:00:30; it must be between 00:01:00 and 30.00:00:00.",
            "Rendezvous:Security:MaxKnownAddressesPerUuid is 0; it must be between 1 and 100.",
            "Rendezvous:Security:MaxKnownAddresses is 99; it must be between 100 and 10,000,000.",
        }));
    }

    [Test]
    public void Known_address_options_have_documented_defaults_and_bind_from_configuration()
    {
        var defaults = new TotpSecurityOptions();
        using ServiceProvider provider = Build(configuration: new()
        {
            ["Rendezvous:Security:KnownAddressLifetime"] = "2.00:00:00",
            ["Rendezvous:Security:MaxKnownAddressesPerUuid"] = "8",
            ["Rendezvous:Security:MaxKnownAddresses"] = "5000",
        });

        TotpSecurityOptions bound = provider.GetRequiredService<IOptions<TotpSecurityOptions>>().Value;

        Assert.That((defaults.KnownAddressLifetime, defaults.MaxKnownAddressesPerUuid, defaults.MaxKnownAddresses), Is.EqualTo((TimeSpan.FromHours(24), 4, 100_000)));
        Assert.That((bound.KnownAddressLifetime, bound.MaxKnownAddressesPerUuid, bound.MaxKnownAddresses), Is.EqualTo((TimeSpan.FromDays(2), 8, 5000)));
    }

    [Test]
    public void Bad_options_fail_start_up_validation()
    {
        using ServiceProvider provider = Build(o => o.MaxTrackedKeys = 0);

        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
    }

    private static ServiceProvider Build(Action<TotpSecurityOptions>? configure = null, Dictionary<string, string?>? configuration = null)
    {
        var services = new ServiceCollection();
        if (configuration is not null)
        {
            services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());
        }

        new TestServerBuilder(services).AddTotpSecurity(configure);
        return services.BuildServiceProvider();
    }

    internal sealed class TestServerBuilder(IServiceCollection services) : IRendezvousServerBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
