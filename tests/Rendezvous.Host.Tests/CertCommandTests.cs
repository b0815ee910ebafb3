using System.CommandLine;
using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;
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

    [Test]
    public async Task Create_with_a_name_writes_name_crt_and_name_key()
    {
        int exitCode = await RunAsync("cert", "create", "--cn", "hidden", "--name", "e2e", "--out", _directory.Path);

        Assert.That(exitCode, Is.Zero, _error.ToString());
        using X509Certificate2 certificate = RegistrarCertificates.LoadPem(_directory.Combine("e2e.crt"), _directory.Combine("e2e.key"));
        Assert.Multiple(() =>
        {
            Assert.That(File.Exists(CertificatePath) || File.Exists(KeyPath), Is.False, "no registrar.* files");
            Assert.That(_output.ToString(), Does.Contain(_directory.Combine("e2e.crt")).And.Contain(_directory.Combine("e2e.key")));
        });
    }

    [TestCase("")]
    [TestCase("../e2e")]
    [TestCase("tls/e2e")]
    [TestCase(".hidden")]
    [TestCase("e2e.crt")]
    [TestCase("with space")]
    public async Task Bad_name_exits_2_naming_the_value_and_writes_nothing(string name)
    {
        int exitCode = await RunAsync("cert", "create", "--cn", "hidden", "--name", name, "--out", _directory.Path);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain($"--name '{name}'"));
            Assert.That(Directory.GetFileSystemEntries(_directory.Path), Is.Empty);
        });
    }

    [Test]
    public async Task Show_prints_the_fingerprint_subject_names_and_validity_of_the_data_directorys_certificate()
    {
        Assert.That(await RunAsync("cert", "create", "--cn", "relay.example.com", "--san", "192.0.2.1", "--days", "30", "--out", _directory.Path), Is.Zero);
        using X509Certificate2 created = RegistrarCertificates.LoadPem(CertificatePath, KeyPath);
        _output.GetStringBuilder().Clear();

        int exitCode = await RunAsync("cert", "show", "--data-dir", _directory.Path);

        string output = _output.ToString();
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, _error.ToString());
            Assert.That(output, Does.Contain($"Certificate:         {CertificatePath}"));
            Assert.That(output, Does.Contain($"SHA-256 fingerprint: {RegistrarCertificates.GetSha256Fingerprint(created)}"));
            Assert.That(output, Does.Contain("Subject:             CN=relay.example.com"));
            Assert.That(output, Does.Contain("Names:               relay.example.com, 192.0.2.1"));
            Assert.That(output, Does.Contain("Issuer:              itself (self-signed)"));
            Assert.That(output, Does.Contain($"Valid until:         {created.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC"));
            Assert.That(_error.ToString(), Is.Empty);
        });
    }

    [Test]
    public async Task Show_with_cert_reads_the_first_certificate_of_a_chain_file()
    {
        using X509Certificate2 leaf = RegistrarCertificates.CreateSelfSigned("leaf.example.com", ["leaf.example.com"], TimeSpan.FromDays(1));
        using X509Certificate2 other = RegistrarCertificates.CreateSelfSigned("other.example.com", ["other.example.com"], TimeSpan.FromDays(1));
        string chain = _directory.Combine("fullchain.pem");
        await File.WriteAllTextAsync(chain, leaf.ExportCertificatePem() + "\n" + other.ExportCertificatePem() + "\n").WaitAsync(Timeout);

        int exitCode = await RunAsync("cert", "show", "--cert", chain);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, _error.ToString());
            Assert.That(_output.ToString(), Does.Contain(RegistrarCertificates.GetSha256Fingerprint(leaf)).And.Not.Contain(RegistrarCertificates.GetSha256Fingerprint(other)));
        });
    }

    [Test]
    public async Task Show_of_a_data_directory_without_a_certificate_exits_2_naming_the_path_and_the_fix()
    {
        string missing = _directory.Combine("no-data");

        int exitCode = await RunAsync("cert", "show", "--data-dir", missing);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain(Path.Combine(missing, "registrar.crt")).And.Contain("--data-dir").And.Contain("--cert FILE"));
            Assert.That(_output.ToString(), Is.Empty);
        });
    }

    [Test]
    public async Task Show_of_a_missing_file_exits_2_naming_it()
    {
        string missing = _directory.Combine("nope.crt");

        int exitCode = await RunAsync("cert", "show", "--cert", missing);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain($"there is no file '{missing}'"));
        });
    }

    [TestCase("key")]
    [TestCase("text")]
    [TestCase("garbage-pem")]
    public async Task Show_of_a_file_without_a_certificate_exits_2_naming_it(string kind)
    {
        Assert.That(await RunAsync("cert", "create", "--cn", "localhost", "--out", _directory.Path), Is.Zero);
        string path = kind switch
        {
            "key" => KeyPath,
            "text" => _directory.Combine("notes.txt"),
            _ => _directory.Combine("bad.crt"),
        };
        if (kind == "text")
        {
            await File.WriteAllTextAsync(path, "just some text\n").WaitAsync(Timeout);
        }
        else if (kind == "garbage-pem")
        {
            await File.WriteAllTextAsync(path, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").WaitAsync(Timeout);
        }

        int exitCode = await RunAsync("cert", "show", "--cert", path);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain($"'{path}' holds no certificate"));
        });
    }

    [Test]
    public async Task Show_with_both_data_dir_and_cert_exits_2()
    {
        int exitCode = await RunAsync("cert", "show", "--data-dir", _directory.Path, "--cert", CertificatePath);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(_error.ToString(), Does.Contain("--data-dir or --cert, not both"));
        });
    }
}
