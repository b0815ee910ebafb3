using System.CommandLine;
using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

public class CertCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private TemporaryDirectory _directory = null!;
    private StringWriter _output = null!;
    private StringWriter _error = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = new TemporaryDirectory();
        _output = new StringWriter();
        _error = new StringWriter();
    }

    [TearDown]
    public void TearDown()
    {
        _output.Dispose();
        _error.Dispose();
        _directory.Dispose();
    }

    private string CertificatePath => _directory.Combine("registrar.crt");

    private string KeyPath => _directory.Combine("registrar.key");

    private Task<int> RunAsync(params string[] args) =>
        Program.BuildRootCommand()
            .Parse(args)
            .InvokeAsync(new InvocationConfiguration { Output = _output, Error = _error })
            .WaitAsync(Timeout);

    [Test]
    public async Task Create_writes_a_loadable_certificate_and_key_and_prints_paths_and_fingerprint()
    {
        int exitCode = await RunAsync(
            "cert", "create", "--cn", "relay.example.com", "--san", "192.0.2.1", "--san", "alt.example.com", "--out", _directory.Path);

        Assert.That(exitCode, Is.Zero, _error.ToString());
        using X509Certificate2 certificate = RegistrarCertificates.LoadPem(CertificatePath, KeyPath);
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false), Is.EqualTo("relay.example.com"));
            Assert.That(san.EnumerateDnsNames(), Is.EquivalentTo(new[] { "relay.example.com", "alt.example.com" }));
            Assert.That(san.EnumerateIPAddresses(), Is.EquivalentTo(new[] { IPAddress.Parse("192.0.2.1") }));
            Assert.That(certificate.NotAfter - certificate.NotBefore, Is.EqualTo(TimeSpan.FromDays(3651)));
            Assert.That(_output.ToString(), Does.Contain(CertificatePath));
            Assert.That(_output.ToString(), Does.Contain(KeyPath));
            Assert.That(_output.ToString(), Does.Contain(RegistrarCertificates.GetSha256Fingerprint(certificate)));
            Assert.That(_error.ToString(), Is.Empty);
        });
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public async Task Create_writes_the_key_with_mode_0600()
    {
        int exitCode = await RunAsync("cert", "create", "--cn", "localhost", "--out", _directory.Path);

        Assert.That(exitCode, Is.Zero, _error.ToString());
        Assert.That(File.GetUnixFileMode(KeyPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
    }

    [Test]
    public async Task Create_uses_the_given_number_of_days()
    {
        int exitCode = await RunAsync("cert", "create", "--cn", "localhost", "--days", "7", "--out", _directory.Path);

        Assert.That(exitCode, Is.Zero, _error.ToString());
        using X509Certificate2 certificate = RegistrarCertificates.LoadPem(CertificatePath, KeyPath);
        Assert.That(certificate.NotAfter - certificate.NotBefore, Is.EqualTo(TimeSpan.FromDays(8)));
    }

    [Test]
    public async Task Create_creates_a_missing_output_directory()
    {
        string output = _directory.Combine("nested", "certs");

        int exitCode = await RunAsync("cert", "create", "--cn", "localhost", "--out", output);

        Assert.That(exitCode, Is.Zero, _error.ToString());
        Assert.That(File.Exists(Path.Combine(output, "registrar.key")), Is.True);
    }

    [TestCase("registrar.crt")]
    [TestCase("registrar.key")]
    public async Task Create_refuses_to_overwrite_an_existing_file_without_force(string existing)
    {
        string path = _directory.Combine(existing);
        await File.WriteAllTextAsync(path, "keep me").WaitAsync(Timeout);

        int exitCode = await RunAsync("cert", "create", "--cn", "localhost", "--out", _directory.Path);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain(path).And.Contain("--force"));
            Assert.That(File.ReadAllText(path), Is.EqualTo("keep me"));
            Assert.That(Directory.GetFiles(_directory.Path), Has.Length.EqualTo(1), "nothing else is written");
        });
    }

    [Test]
    public async Task Create_with_force_replaces_existing_files()
    {
        Assert.That(await RunAsync("cert", "create", "--cn", "localhost", "--out", _directory.Path), Is.Zero);
        string first;
        using (X509Certificate2 certificate = RegistrarCertificates.LoadPem(CertificatePath, KeyPath))
        {
            first = RegistrarCertificates.GetSha256Fingerprint(certificate);
        }

        int exitCode = await RunAsync("cert", "create", "--cn", "localhost", "--out", _directory.Path, "--force");

        Assert.That(exitCode, Is.Zero, _error.ToString());
        using X509Certificate2 replaced = RegistrarCertificates.LoadPem(CertificatePath, KeyPath);
        Assert.That(RegistrarCertificates.GetSha256Fingerprint(replaced), Is.Not.EqualTo(first));
    }

    [TestCase("0")]
    [TestCase("36501")]
    [TestCase("-5")]
    [TestCase("ten")]
    public async Task Bad_days_exit_2_with_one_line_naming_the_value_and_the_range(string days)
    {
        int exitCode = await RunAsync("cert", "create", "--cn", "localhost", "--days", days, "--out", _directory.Path);

        string error = _error.ToString();
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(error, Does.Contain($"'{days}'").And.Contain("1 to 36500"));
            Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
            Assert.That(Directory.GetFiles(_directory.Path), Is.Empty);
        });
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase("bad_name")]
    public async Task Bad_common_name_exits_2_naming_the_value(string commonName)
    {
        int exitCode = await RunAsync("cert", "create", "--cn", commonName, "--out", _directory.Path);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain($"--cn '{commonName}'"));
            Assert.That(Directory.GetFiles(_directory.Path), Is.Empty);
        });
    }

    [Test]
    public async Task Bad_alternative_name_exits_2_naming_the_value()
    {
        int exitCode = await RunAsync("cert", "create", "--cn", "localhost", "--san", "no spaces", "--out", _directory.Path);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain("--san 'no spaces'"));
        });
    }
}
