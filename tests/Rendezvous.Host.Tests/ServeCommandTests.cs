using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using OtpNet;
using Rendezvous.Host.Commands;
using Rendezvous.Host.Tests.Packaging;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary><c>rendezvous serve</c> as a real child process: start, certificate, provisioning, registration, SIGTERM, bad flags.</summary>
public sealed partial class ServeCommandTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    // The default drain time (10 s) plus the host's margin (5 s).
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(15);

    private TemporaryDirectory _directory = null!;
    private RendezvousProcess? _serve;

    [GeneratedRegex(@"Registrar listening on (?<url>https://127\.0\.0\.1:[0-9]+)")]
    private static partial Regex RegistrarListening();

    [GeneratedRegex(@"Rendezvous relay listening on 127\.0\.0\.1:(?<port>[0-9]+)")]
    private static partial Regex RelayListening();

    [GeneratedRegex(@"Registrar certificate SHA-256 fingerprint (?<fingerprint>[0-9A-F]{2}(:[0-9A-F]{2}){31})")]
    private static partial Regex Fingerprint();

    [GeneratedRegex(@"^UUID:\s+(?<uuid>\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex UuidLine();

    [GeneratedRegex(@"^Secret:\s+(?<secret>[A-Z2-7]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex SecretLine();

    [SetUp]
    public void CreateDirectory() => _directory = new TemporaryDirectory();

    [TearDown]
    public void StopServeAndDeleteDirectory()
    {
        _serve?.Dispose();
        _serve = null;
        _directory.Dispose();
    }

    private string CertificatePath => _directory.Combine("registrar.crt");

    private string KeyPath => _directory.Combine("registrar.key");

    private sealed record Started(Uri RegistrarUrl, int RelayPort, string Fingerprint);

    private Task<Started> StartServeAsync(params string[] extraArgs) =>
        WaitForStartAsync(RendezvousProcess.Start(_directory.Path, ServeArgs(extraArgs)));

    private string[] ServeArgs(params string[] extraArgs) =>
        ["serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0", "--admin-url", "http://127.0.0.1:0", .. extraArgs];

    /// <summary>Keeps <paramref name="serve"/> to be stopped after the test and waits for its fingerprint and both listeners.</summary>
    private async Task<Started> WaitForStartAsync(RendezvousProcess serve)
    {
        _serve = serve;
        var fingerprint = (await _serve.WaitForOutputAsync(Fingerprint())).Groups["fingerprint"].Value;
        var relayPort = int.Parse((await _serve.WaitForOutputAsync(RelayListening())).Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture);
        var url = new Uri((await _serve.WaitForOutputAsync(RegistrarListening())).Groups["url"].Value);
        return new Started(url, relayPort, fingerprint);
    }

    /// <summary>A refusal is one "rendezvous serve: ..." line per problem, not an unhandled exception with a stack trace.</summary>
    private static void AssertCleanRefusal(string error)
    {
        Assert.That(error, Does.StartWith("rendezvous serve: "));
        Assert.That(error, Does.Not.Contain("Unhandled exception"));
        Assert.That(error, Does.Not.Contain("   at "));
    }

    [Test]
    public async Task Serve_logs_the_certificate_fingerprint_and_both_listeners_with_their_real_ports()
    {
        var started = await StartServeAsync();

        Assert.Multiple(() =>
        {
            Assert.That(started.RegistrarUrl.Port, Is.Not.Zero);
            Assert.That(started.RelayPort, Is.Not.Zero);
            Assert.That(_serve!.HasExited, Is.False);
        });
    }

    [Test]
    public async Task Serve_under_the_units_environment_logs_the_young_generation_budget_it_sets()
    {
        // The Environment= lines of deploy/rendezvous.service, as systemd would give them.
        var environment = File.ReadAllLines(RepositoryRoot.Combine("deploy", "rendezvous.service"))
            .Where(line => line.StartsWith("Environment=", StringComparison.Ordinal))
            .Select(line => line["Environment=".Length..].Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);
        Assert.That(environment, Does.ContainKey("DOTNET_GCgen0size"));

        await WaitForStartAsync(RendezvousProcess.Start(_directory.Path, environment, ServeArgs()));

        // The runtime's largest budget follows the smallest one set (6 MiB for 4 MiB), against 16 MiB for a 32 MiB L3 cache.
        var line = await _serve!.WaitForOutputAsync(new Regex(@"Garbage collector: workstation, concurrent, young generation budget up to (?<kib>[0-9]+) KiB \((?<source>[^)]*)\)"));
        Assert.Multiple(() =>
        {
            Assert.That(line.Groups["source"].Value, Is.EqualTo($"DOTNET_GCgen0size={environment["DOTNET_GCgen0size"]}"));
            Assert.That(int.Parse(line.Groups["kib"].Value, System.Globalization.CultureInfo.InvariantCulture), Is.LessThanOrEqualTo(8 * 1024));
        });
    }

    [Test]
    public async Task Serve_logs_the_runtimes_default_young_generation_budget_without_the_unit()
    {
        await StartServeAsync();

        Assert.That(_serve!.Output, Does.Match(@"Garbage collector: workstation, concurrent, young generation budget up to [0-9]+ KiB \(the runtime's default\)"));
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public async Task Serve_creates_the_registrar_certificate_and_an_owner_only_key_in_the_data_directory()
    {
        var started = await StartServeAsync();

        Assert.That(File.Exists(CertificatePath), Is.True, CertificatePath);
        Assert.That(File.Exists(KeyPath), Is.True, KeyPath);
        using X509Certificate2 certificate = RegistrarCertificates.LoadPem(CertificatePath, KeyPath);
        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(KeyPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(RegistrarCertificates.GetSha256Fingerprint(certificate), Is.EqualTo(started.Fingerprint));
            Assert.That(_serve!.Output, Does.Contain(CertificatePath));
        });
    }

    /// <summary>A user added by <c>rendezvous users add</c> in a second process, registered with a TOTP code, then looked up.</summary>
    private sealed record Registration(string Uuid, string Secret, string Code, RegistrarReply Registered, RegistrarReply LookedUp);

    private async Task<Registration> AddUserThenRegisterAndLookUpAsync(Started started)
    {
        var (exitCode, output, error) = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "users", "add", "--data-dir", _directory.Path);
        Assert.That(exitCode, Is.Zero, error);
        var uuid = UuidLine().Match(output).Groups["uuid"].Value;
        var secret = SecretLine().Match(output).Groups["secret"].Value;
        Assert.That(uuid, Is.Not.Empty, output);
        Assert.That(secret, Is.Not.Empty, output);

        using var registrar = RegistrarClient.CreatePinned(started.RegistrarUrl, started.Fingerprint);
        var code = new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(DateTime.UtcNow);
        var registered = await registrar.RegisterAsync(uuid, code);
        var lookedUp = await registrar.LookUpAsync(uuid);
        return new Registration(uuid, secret, code, registered, lookedUp);
    }

    [Test]
    public async Task A_user_added_by_a_second_process_while_serve_runs_registers_and_is_looked_up()
    {
        var started = await StartServeAsync();

        var (_, secret, _, registered, lookedUp) = await AddUserThenRegisterAndLookUpAsync(started);

        Assert.Multiple(() =>
        {
            Assert.That(registered.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(registered.ContentType, Is.EqualTo("application/json"));
            Assert.That(registered.Triple.Host, Is.EqualTo("127.0.0.1"));
            Assert.That(registered.Triple.Port, Is.EqualTo(started.RelayPort));
            Assert.That(registered.Triple.Cookie, Does.StartWith("R"));
            Assert.That(lookedUp.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(lookedUp.Triple.Cookie, Is.EqualTo(registered.Triple.InitiatorCookie));
        });

        await RelayRoundTrip.AssertPairsAndSplicesAsync(new IPEndPoint(IPAddress.Loopback, started.RelayPort), registered.Triple.Cookie, lookedUp.Triple.Cookie);

        // Secrets never reach the logs.
        Assert.That(_serve!.Output + _serve.Error, Does.Not.Contain(secret));
    }

    [Test]
    public async Task Sigterm_stops_serve_with_exit_code_0_within_the_drain_time()
    {
        await StartServeAsync();

        await _serve!.TerminateAsync();

        Assert.That(await _serve.WaitForExitAsync(DrainTime), Is.Zero, _serve.Error);
    }

    [Test]
    public async Task Cert_show_prints_the_fingerprint_serve_logged()
    {
        var started = await StartServeAsync();

        var shown = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "cert", "show", "--data-dir", _directory.Path);

        Assert.That(shown.ExitCode, Is.Zero, shown.Error);
        Assert.That(shown.Output, Does.Contain($"SHA-256 fingerprint: {started.Fingerprint}"));
    }

    [Test]
    public async Task A_bad_rendezvous_endpoint_exits_non_zero_naming_the_value()
    {
        var (exitCode, output, error) = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "nope");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            AssertCleanRefusal(error);
            Assert.That(error, Does.Contain("'nope'"));
            Assert.That(error, Does.Contain("RendezvousEndpoint"));
        });
    }

    [Test]
    public async Task A_bad_registrar_url_exits_non_zero_naming_the_value()
    {
        var (exitCode, output, error) = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "serve", "--data-dir", _directory.Path, "--registrar-url", "ftp://x", "--rendezvous-endpoint", "127.0.0.1:0");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            AssertCleanRefusal(error);
            Assert.That(error, Does.Contain("'ftp://x'"));
            Assert.That(error, Does.Contain("RegistrarUrl"));
        });
    }

    [Test]
    public async Task A_certificate_without_a_key_is_refused_with_a_clear_message()
    {
        using (var certificate = RegistrarCertificates.CreateSelfSigned("localhost", [], TimeSpan.FromDays(1)))
        {
            RegistrarCertificates.WritePem(certificate, _directory.Combine("own.crt"), _directory.Combine("own.key"));
        }

        var (exitCode, output, error) = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "serve", "--data-dir", _directory.Path, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0",
            "--cert", _directory.Combine("own.crt"));

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(ServeCommand.StartFailed), error);
            AssertCleanRefusal(error);
            Assert.That(error, Does.Contain("--key"));
            Assert.That(File.Exists(CertificatePath), Is.False, "no certificate may be generated when the configuration is refused");
        });
    }
}
