using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Client.Agent;
using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary>
/// How expose and connect trust the registrar (https:// only; pin, CA file or system store), what they say when
/// the registrar's certificate or port is not what they expect, and the config file's mode.
/// </summary>
public sealed partial class ExposeConnectTests
{
    [Test]
    public async Task Connect_with_an_http_registrar_exits_2_naming_the_url_even_with_the_right_pin()
    {
        var http = $"http://127.0.0.1:{_server.RegistrarUrl.Port}/";

        var result = await ConnectOnceAsync(http, "--pin", _server.CertificateFingerprint);

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.StartWith($"rendezvous connect: --registrar '{http}' is http://, but https:// is required"));
    }

    [Test]
    public async Task Expose_with_an_http_registrar_url_in_the_config_exits_2_naming_the_file_and_the_url()
    {
        var http = $"http://127.0.0.1:{_server.RegistrarUrl.Port}/";
        var config = WriteConfig("http.json", json => json["registrarUrl"] = http);

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", config, "--to", "127.0.0.1:22");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.StartWith($"rendezvous expose: the config file '{config}' has a bad \"registrarUrl\": it is \"{http}\", which is http://, but https:// is required"));
    }

    [Test]
    public async Task Expose_warns_when_its_config_file_can_be_read_by_others_and_says_how_to_fix_it()
    {
        var echo = AddService(LocalTcpService.Echo());
        File.SetUnixFileMode(_configPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var expose = await StartExposeAsync(echo.Port);

        Assert.That(expose.Error, Does.Contain($"rendezvous expose: warning: {_configPath} has mode 0644: other users of this machine may read the TOTP secret in it. Make it owner-only: chmod 600 {_configPath}"));
    }

    [Test]
    public async Task Expose_with_an_owner_only_config_file_does_not_warn()
    {
        var echo = AddService(LocalTcpService.Echo());

        var expose = await StartExposeAsync(echo.Port);

        Assert.That(expose.Error, Does.Not.Contain("warning"));
    }

    [Test]
    public async Task Expose_trusting_only_the_system_store_refuses_the_self_signed_registrar_with_exit_5_and_the_fingerprint_to_pin()
    {
        var config = WriteConfig("system.json", json =>
        {
            json.Remove("registrarFingerprint");
            json["trustSystemStore"] = true;
        });

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", config, "--to", "127.0.0.1:22");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.PinMismatch), result.Error);
        Assert.That(result.Error, Does.Contain($"The registrar at {_server.RegistrarUrl} presented a certificate that the system trust store does not trust (it is self-signed or its issuer is not a trusted CA); its SHA-256 fingerprint is {_server.CertificateFingerprint}."));
        Assert.That(result.Error, Does.Contain($"pin it in {config}: \"registrarFingerprint\": \"{_server.CertificateFingerprint}\", or \"registrarCaFile\""));
    }

    [Test]
    public async Task Expose_config_that_does_not_say_how_to_trust_the_registrar_exits_2_naming_the_choices()
    {
        var config = WriteConfig("no-trust.json", json => json.Remove("registrarFingerprint"));

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", config, "--to", "127.0.0.1:22");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.Contain(config).And.Contain("\"registrarFingerprint\"").And.Contain("\"registrarCaFile\"").And.Contain("\"trustSystemStore\": true"));
    }

    [Test]
    public async Task Expose_config_with_a_missing_ca_file_exits_2_naming_it()
    {
        var config = WriteConfig("missing-ca.json", json =>
        {
            json.Remove("registrarFingerprint");
            json["registrarCaFile"] = "no-such-ca.pem";
        });

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", config, "--to", "127.0.0.1:22");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.Contain("\"registrarCaFile\"").And.Contain(_directory.Combine("no-such-ca.pem")).And.Contain("does not exist"));
    }

    [Test]
    public async Task Expose_with_a_ca_file_config_registers_with_a_registrar_whose_certificate_chains_to_that_ca()
    {
        using var chain = TestCertificateChain.Create();
        using var caDirectory = new TemporaryDirectory();
        var data = caDirectory.Combine("data");
        var (certificatePath, keyPath) = chain.WriteFullChain();
        await using var caServer = await RendezvousTestServer.StartAsync(
            b => b.AddTotpSecurity(),
            new Dictionary<string, string?> { ["Rendezvous:CertificatePath"] = certificatePath, ["Rendezvous:KeyPath"] = keyPath },
            dataDirectory: data);
        var added = await RendezvousProcess.RunAsync(caDirectory.Path, ExitTimeout, "users", "add", "--data-dir", data);
        Assert.That(added.ExitCode, Is.Zero, added.Error);
        var uuid = Regex.Match(added.Output, @"UUID:\s+(\S+)").Groups[1].Value;
        var secret = Regex.Match(added.Output, @"Secret:\s+(\S+)").Groups[1].Value;

        // The root CA next to the config file, named relative to it, as an operator copies the two together.
        await File.WriteAllTextAsync(caDirectory.Combine("root-ca.pem"), chain.Root.ExportCertificatePem());
        var config = caDirectory.Combine("hidden.json");
        new HiddenServerConfigFile(caServer.RegistrarUrl, uuid, secret, 30, 6, RegistrarFingerprint: null).Write(config);
        var json = JsonNode.Parse(await File.ReadAllTextAsync(config))!.AsObject();
        json["registrarCaFile"] = "root-ca.pem";
        await File.WriteAllTextAsync(config, json.ToJsonString());
        var echo = AddService(LocalTcpService.Echo());

        var expose = Track(RendezvousProcess.Start(_directory.Path, "expose", "--config", config, "--to", $"127.0.0.1:{echo.Port}"));
        await expose.WaitForErrorAsync(Registered());

        // And connect trusts the same CA with --ca: the round trip goes through.
        var connect = Track(RendezvousProcess.StartBinary(
            _directory.Path, "connect", "--registrar", caServer.RegistrarUrl.ToString(), "--uuid", uuid, "--ca", caDirectory.Combine("root-ca.pem"), "--stdio"));
        var reading = ReadToEndAsync(connect.StandardOutput);
        await connect.StandardInput.WriteAsync(Encoding.ASCII.GetBytes("trusted by its CA")).AsTask().WaitAsync(TestTimeouts.Short);
        connect.StandardInput.Close();
        Assert.That(Encoding.ASCII.GetString(await reading.WaitAsync(TestTimeouts.Long)), Is.EqualTo("trusted by its CA"), connect.Error);
        Assert.That(await connect.WaitForExitAsync(ExitTimeout), Is.Zero, connect.Error);
    }

    [Test]
    public async Task Connect_without_a_pin_to_a_self_signed_registrar_exits_5_naming_its_fingerprint_and_the_flags_that_trust_it()
    {
        var result = await ConnectOnceAsync(_server.RegistrarUrl.ToString());

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.PinMismatch), result.Error);
        Assert.That(result.Error, Does.StartWith($"rendezvous connect: The registrar at {_server.RegistrarUrl} presented a certificate that the system trust store does not trust"));
        Assert.That(result.Error, Does.Contain($"its SHA-256 fingerprint is {_server.CertificateFingerprint}.").And.Contain($"pass --pin {_server.CertificateFingerprint}, or --ca FILE"));
        Assert.That(result.Error, Does.Not.Contain("is pinned"));
    }

    [Test]
    public async Task Connect_to_the_relay_port_as_registrar_exits_8_saying_it_did_not_speak_tls_and_which_port_is_whose()
    {
        var relayAsRegistrar = $"https://127.0.0.1:{_server.RelayEndPoint.Port}/";

        var result = await ConnectOnceAsync(relayAsRegistrar, "--pin", _server.CertificateFingerprint);

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.Unreachable), result.Error);
        Assert.That(result.Error, Does.StartWith($"rendezvous connect: The registrar at {relayAsRegistrar} did not speak TLS: it answered '-ERR"));
        Assert.That(result.Error, Does.Contain("Is the port the registrar's (default 8898) and not the relay's (8899)?"));
        Assert.That(result.Error, Does.Not.Contain("An error occurred while sending the request"));
    }

    [Test]
    public async Task Connect_to_a_port_that_answers_plain_text_exits_8_quoting_the_answer()
    {
        var plain = AddService(LocalTcpService.Answering("220 smtp.example.com ESMTP ready\r\n"u8.ToArray()));
        var url = $"https://127.0.0.1:{plain.Port.ToString(CultureInfo.InvariantCulture)}/";

        var result = await ConnectOnceAsync(url, "--pin", _server.CertificateFingerprint);

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.Unreachable), result.Error);
        Assert.That(result.Error, Does.StartWith($"rendezvous connect: The registrar at {url} did not speak TLS: it answered '220 smtp.example.com ESMTP ready' in plain text."));
    }

    /// <summary>Runs <c>connect --stdio</c> to the provisioned UUID through <paramref name="registrar"/>, trusting it by <paramref name="trust"/>, to its end.</summary>
    private Task<(int ExitCode, string Output, string Error)> ConnectOnceAsync(string registrar, params string[] trust) =>
        RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, ["connect", "--registrar", registrar, "--uuid", _uuid, .. trust, "--stdio"]);

    /// <summary>Writes a copy of the provisioned config file, changed by <paramref name="change"/>, mode 0600; returns its path.</summary>
    private string WriteConfig(string name, Action<JsonObject> change)
    {
        var json = JsonNode.Parse(File.ReadAllText(_configPath))!.AsObject();
        change(json);
        var path = _directory.Combine(name);
        File.WriteAllText(path, json.ToJsonString());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }
}
