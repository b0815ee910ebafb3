using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Host.Commands;
using Rendezvous.Host.Tests.Packaging;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary>
/// <c>rendezvous expose</c> and <c>rendezvous connect</c> as real child processes, against a real server
/// on 127.0.0.1 with the TOTP policy, provisioned with <c>rendezvous users add --config-out</c>.
/// </summary>
[NonParallelizable]
[UnsupportedOSPlatform("windows")]
public sealed partial class ExposeConnectTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    private readonly List<RendezvousProcess> _children = [];
    private readonly List<IAsyncDisposable> _services = [];
    private TemporaryDirectory _directory = null!;
    private RendezvousTestServer _server = null!;
    private string _configPath = null!;
    private string _uuid = null!;

    [GeneratedRegex(@"registered (?<uuid>\S+); parking")]
    private static partial Regex Registered();

    [GeneratedRegex(@"^rendezvous expose: .* Retrying[^\n]*$", RegexOptions.Multiline)]
    private static partial Regex RetryingLine();

    [GeneratedRegex(@"Listening on 127\.0\.0\.1:(?<port>[0-9]+)")]
    private static partial Regex Listening();

    [GeneratedRegex(@"--tls-pin (?<fingerprint>[0-9A-F]{2}(:[0-9A-F]{2}){31})")]
    private static partial Regex TlsPin();

    private string DataDirectory => _directory.Combine("data");

    [SetUp]
    public async Task StartServerAndProvision()
    {
        _directory = new TemporaryDirectory();
        Directory.CreateDirectory(DataDirectory);
        _server = await RendezvousTestServer.StartAsync(
            b => b.AddTotpSecurity(),
            new Dictionary<string, string?>
            {
                ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "8",
                ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:10",

                // Fifty concurrent connections through one `connect --listen` are fifty sessions from one address for one UUID.
                ["Rendezvous:Relay:MaxSessionsPerAddressPerUuid"] = "64",
            },
            dataDirectory: DataDirectory);
        _configPath = _directory.Combine("hidden.json");
        var added = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "users", "add", "--data-dir", DataDirectory, "--config-out", _configPath, "--registrar-url", _server.RegistrarUrl.ToString());
        Assert.That(added.ExitCode, Is.Zero, added.Error);
        _uuid = ReadConfig(_configPath).GetProperty("uuid").GetString()!;
    }

    [TearDown]
    public async Task StopEverything()
    {
        foreach (var child in _children)
        {
            child.Dispose();
        }

        _children.Clear();
        foreach (var service in _services)
        {
            await service.DisposeAsync();
        }

        _services.Clear();
        await _server.DisposeAsync();
        _directory.Dispose();
    }

    [Test]
    public async Task Users_add_config_out_writes_a_0600_file_pinning_the_certificate_serve_then_uses()
    {
        using var fresh = new TemporaryDirectory();
        var data = fresh.Combine("data");
        var config = fresh.Combine("hidden.json");

        var added = await RendezvousProcess.RunAsync(fresh.Path, ExitTimeout, "users", "add", "--data-dir", data, "--config-out", config, "--public-host", "rendezvous.example.com");

        Assert.That(added.ExitCode, Is.Zero, added.Error);
        Assert.That(File.GetUnixFileMode(config), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        var json = ReadConfig(config);
        var uuid = Regex.Match(added.Output, @"UUID:\s+(\S+)").Groups[1].Value;
        var secret = Regex.Match(added.Output, @"Secret:\s+(\S+)").Groups[1].Value;
        Assert.Multiple(() =>
        {
            Assert.That(json.GetProperty("registrarUrl").GetString(), Is.EqualTo("https://rendezvous.example.com:8898/"));
            Assert.That(json.GetProperty("uuid").GetString(), Is.EqualTo(uuid));
            Assert.That(json.GetProperty("secret").GetString(), Is.EqualTo(secret));
            Assert.That(json.GetProperty("step").GetInt32(), Is.EqualTo(30));
            Assert.That(json.GetProperty("digits").GetInt32(), Is.EqualTo(6));
        });

        // serve, started later on the same data directory, presents the very certificate the file pins.
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), dataDirectory: data);
        Assert.That(json.GetProperty("registrarFingerprint").GetString(), Is.EqualTo(server.CertificateFingerprint));
    }

    [Test]
    public async Task Users_add_config_out_pins_the_running_servers_certificate()
    {
        var json = ReadConfig(_configPath);

        Assert.That(json.GetProperty("registrarFingerprint").GetString(), Is.EqualTo(_server.CertificateFingerprint));
        Assert.That(json.GetProperty("registrarUrl").GetString(), Is.EqualTo(_server.RegistrarUrl.ToString()));
    }

    [Test]
    public async Task Echo_service_is_reached_through_expose_and_connect_listen()
    {
        var echo = AddService(LocalTcpService.Echo());
        await StartExposeAsync(echo.Port);
        var port = await StartListenAsync();

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TestTimeouts.Short);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("ping through rendezvous\n")).AsTask().WaitAsync(TestTimeouts.Short);
        client.Client.Shutdown(SocketShutdown.Send);

        var received = await ReadToEndAsync(stream).WaitAsync(TestTimeouts.Long);
        Assert.That(Encoding.ASCII.GetString(received), Is.EqualTo("ping through rendezvous\n"));
    }

    [Test]
    public async Task Http_server_is_reached_through_expose_and_connect_listen()
    {
        var httpPort = FreePort();
        using var http = new HttpListener();
        http.Prefixes.Add($"http://127.0.0.1:{httpPort}/");
        http.Start();
        var serving = Task.Run(async () =>
        {
            while (http.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await http.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                var body = Encoding.UTF8.GetBytes($"hello from {context.Request.Url!.AbsolutePath} behind NAT");
                context.Response.ContentType = "text/plain";
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        });

        await StartExposeAsync(httpPort);
        var port = await StartListenAsync();
        using var client = new HttpClient { Timeout = TestTimeouts.Long };

        var first = await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/first")).WaitAsync(TestTimeouts.Long);
        var second = await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/second")).WaitAsync(TestTimeouts.Long);

        Assert.That(first, Is.EqualTo("hello from /first behind NAT"));
        Assert.That(second, Is.EqualTo("hello from /second behind NAT"));
        http.Stop();
        await serving.WaitAsync(TestTimeouts.Short);
    }

    [Test]
    public async Task Fifty_concurrent_connections_through_listen_carry_random_payloads_intact()
    {
        var echo = AddService(LocalTcpService.Echo());
        await StartExposeAsync(echo.Port, "--pool", "8");
        var port = await StartListenAsync();

        async Task<bool> OneAsync(int seed)
        {
            var payload = new byte[new Random(seed).Next(1, 256 * 1024)];
            RandomNumberGenerator.Fill(payload);
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            var stream = client.GetStream();
            var reading = ReadToEndAsync(stream);
            await stream.WriteAsync(payload);
            client.Client.Shutdown(SocketShutdown.Send);
            var echoed = await reading;
            return SHA256.HashData(echoed).AsSpan().SequenceEqual(SHA256.HashData(payload));
        }

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(OneAsync)).WaitAsync(TimeSpan.FromSeconds(90));

        Assert.That(results, Is.All.True);
        Assert.That(echo.Connections, Is.EqualTo(50));
    }

    [Test]
    public async Task Half_close_passes_through_the_whole_chain_and_the_answer_still_arrives()
    {
        var digest = AddService(LocalTcpService.DigestAfterEnd());
        await StartExposeAsync(digest.Port);
        var port = await StartListenAsync();
        var payload = new byte[300_000];
        RandomNumberGenerator.Fill(payload);

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TestTimeouts.Short);
        var stream = client.GetStream();
        await stream.WriteAsync(payload).AsTask().WaitAsync(TestTimeouts.Long);
        client.Client.Shutdown(SocketShutdown.Send);

        // The service answers only after it saw our end of stream, so the answer travels after the half-close; then EOF.
        var answer = Encoding.ASCII.GetString(await ReadToEndAsync(stream).WaitAsync(TestTimeouts.Long));
        Assert.That(answer, Is.EqualTo($"{Convert.ToHexString(SHA256.HashData(payload))} {payload.Length}\n"));
    }

    [Test]
    public async Task Stdio_relays_binary_stdin_and_stdout_and_exits_when_both_ended()
    {
        var echo = AddService(LocalTcpService.Echo());
        await StartExposeAsync(echo.Port);
        var payload = new byte[200_000];
        RandomNumberGenerator.Fill(payload);

        var connect = Track(RendezvousProcess.StartBinary(_directory.Path, [.. ConnectArgs(), "--stdio"]));
        var reading = ReadToEndAsync(connect.StandardOutput);
        await connect.StandardInput.WriteAsync(payload).AsTask().WaitAsync(TestTimeouts.Long);
        connect.StandardInput.Close();

        var echoed = await reading.WaitAsync(TestTimeouts.Long);
        Assert.That(echoed, Is.EqualTo(payload), connect.Error);
        Assert.That(await connect.WaitForExitAsync(ExitTimeout), Is.Zero, connect.Error);
    }

    [Test]
    public async Task End_to_end_tls_works_with_the_printed_pin_and_a_wrong_pin_exits_5()
    {
        var echo = AddService(LocalTcpService.Echo());

        // The quickstart's commands as written there, run in the working directory like a reader's.
        var created = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, QuickstartDoc.RendezvousCommand("cert create"));
        Assert.That(created.ExitCode, Is.Zero, created.Error);
        var documented = QuickstartDoc.RendezvousCommand("expose --config hidden.json --to 127.0.0.1:8080 --tls-cert");
        var expose = await StartExposeAsync(
            echo.Port, "--tls-cert", QuickstartDoc.ValueOf(documented, "--tls-cert"), "--tls-key", QuickstartDoc.ValueOf(documented, "--tls-key"));
        var pin = (await expose.WaitForOutputAsync(TlsPin())).Groups["fingerprint"].Value;

        var connect = Track(RendezvousProcess.StartBinary(_directory.Path, [.. ConnectArgs(), "--tls-pin", pin, "--stdio"]));
        var reading = ReadToEndAsync(connect.StandardOutput);
        await connect.StandardInput.WriteAsync(Encoding.ASCII.GetBytes("secret over tls")).AsTask().WaitAsync(TestTimeouts.Short);
        connect.StandardInput.Close();
        var echoed = await WithProcessOutputOnTimeoutAsync(reading, TestTimeouts.Long, connect, expose);
        Assert.That(Encoding.ASCII.GetString(echoed), Is.EqualTo("secret over tls"), connect.Error);
        Assert.That(await connect.WaitForExitAsync(ExitTimeout), Is.Zero, connect.Error);

        var wrong = OtherFingerprint(pin);
        var refused = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, [.. ConnectArgs(), "--tls-pin", wrong, "--stdio"]);
        Assert.That(refused.ExitCode, Is.EqualTo(ClientExitCodes.PinMismatch), refused.Error);
        Assert.That(refused.Error, Does.Contain(pin).And.Contain(wrong));
    }

    [Test]
    public async Task Expose_keeps_serving_when_the_local_service_refuses()
    {
        var closedPort = FreePort();
        var expose = await StartExposeAsync(closedPort);

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, [.. ConnectArgs(), "--stdio"]);
            Assert.That(result.ExitCode, Is.Not.Zero, "the session to a refusing service must not look like a clean end");
            Assert.That(result.Error, Does.StartWith("rendezvous connect: "));
        }

        await WaitUntilAsync(() => Regex.Matches(expose.Error, "cannot connect to 127.0.0.1:").Count >= 2, expose);
        Assert.That(expose.HasExited, Is.False, expose.Error);
    }

    [Test]
    public async Task Expose_stops_cleanly_on_sigterm()
    {
        var echo = AddService(LocalTcpService.Echo());
        var expose = await StartExposeAsync(echo.Port);

        await expose.TerminateAsync();

        Assert.That(await expose.WaitForExitAsync(ExitTimeout), Is.EqualTo(ClientExitCodes.Success), expose.Error);
        Assert.That(expose.Error, Does.Contain("rendezvous expose: stopped."));
    }

    [Test]
    public async Task Expose_exits_4_when_another_hidden_server_takes_the_uuid_over()
    {
        var echo = AddService(LocalTcpService.Echo());
        var first = await StartExposeAsync(echo.Port);

        // The second one's first code is likely the one the first used in this TOTP step, which our
        // registrar refuses as a replay: it registers with the next step's code, up to 32 s later.
        var second = Track(RendezvousProcess.Start(_directory.Path, ["expose", "--config", _configPath, "--to", $"127.0.0.1:{echo.Port}"]));
        await second.WaitForErrorAsync(Registered(), TimeSpan.FromSeconds(60));

        Assert.That(await first.WaitForExitAsync(ExitTimeout), Is.EqualTo(ClientExitCodes.Superseded), first.Error);
        Assert.That(first.Error, Does.Contain("registered by another hidden server"));
    }

    [Test]
    public async Task Expose_status_lines_end_the_problem_with_a_full_stop_before_saying_it_retries()
    {
        var unreachable = _directory.Combine("unreachable.json");
        await File.WriteAllTextAsync(unreachable, File.ReadAllText(_configPath).Replace(_server.RegistrarUrl.ToString(), $"https://127.0.0.1:{FreePort()}/", StringComparison.Ordinal));
        File.SetUnixFileMode(unreachable, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var expose = Track(RendezvousProcess.Start(_directory.Path, "expose", "--config", unreachable, "--to", "127.0.0.1:22"));

        var line = await expose.WaitForErrorAsync(RetryingLine());
        await expose.TerminateAsync();

        Assert.That(line.Value, Does.Contain("could not be reached").And.Match(@"\S\. Retrying\.$"), "the problem and the next sentence run together");
    }

    [Test]
    public async Task Connect_to_an_unknown_uuid_exits_6()
    {
        var result = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "connect", "--registrar", _server.RegistrarUrl.ToString(), "--uuid", Guid.NewGuid().ToString(), "--pin", _server.CertificateFingerprint, "--stdio");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.NotRegistered), result.Error);
        Assert.That(result.Error, Does.StartWith("rendezvous connect: ").And.Contain("not registered"));
    }

    [Test]
    public async Task Connect_with_a_wrong_registrar_pin_exits_5_naming_both_fingerprints()
    {
        var wrong = OtherFingerprint(_server.CertificateFingerprint);

        var result = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "connect", "--registrar", _server.RegistrarUrl.ToString(), "--uuid", _uuid, "--pin", wrong, "--stdio");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.PinMismatch), result.Error);
        Assert.That(result.Error, Does.Contain(wrong).And.Contain(_server.CertificateFingerprint));
    }

    [Test]
    public async Task Connect_to_an_unreachable_registrar_exits_8()
    {
        var result = await RendezvousProcess.RunAsync(
            _directory.Path, ExitTimeout, "connect", "--registrar", $"https://127.0.0.1:{FreePort()}/", "--uuid", _uuid, "--pin", _server.CertificateFingerprint, "--stdio");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.Unreachable), result.Error);
        Assert.That(result.Error, Does.StartWith("rendezvous connect: ").And.Contain("could not be reached"));
    }

    [Test]
    public async Task Connect_when_the_hidden_server_has_nothing_parked_exits_7()
    {
        // Registered (a PUT with a valid code) but nothing parked: the relay answers "-ERR not ready".
        var json = ReadConfig(_configPath);
        var totp = new OtpNet.Totp(OtpNet.Base32Encoding.ToBytes(json.GetProperty("secret").GetString()));
        using (var registrar = _server.CreateRegistrarClient())
        {
            using var put = await registrar.PutAsync(new Uri($"?uuid={_uuid}&response={totp.ComputeTotp()}", UriKind.Relative), null).WaitAsync(TestTimeouts.Short);
            Assert.That(await put.Content.ReadAsStringAsync(), Does.Contain("\"result\""));
        }

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, [.. ConnectArgs(), "--stdio"]);

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.NotReady), result.Error);
        Assert.That(result.Error, Does.Contain("no free parked connection").And.Not.Contain("running"));
    }

    [Test]
    public async Task Expose_with_a_bad_config_file_exits_2_naming_the_field_and_the_file()
    {
        var bad = _directory.Combine("bad.json");
        await File.WriteAllTextAsync(bad, File.ReadAllText(_configPath).Replace(_uuid, "not-a-uuid", StringComparison.Ordinal));

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", bad, "--to", "127.0.0.1:22");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.StartWith("rendezvous expose: ").And.Contain("\"uuid\"").And.Contain(bad).And.Contain("not-a-uuid"));
    }

    [Test]
    public async Task Expose_with_a_missing_config_file_exits_2()
    {
        var missing = _directory.Combine("missing.json");

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", missing, "--to", "127.0.0.1:22");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.Contain(missing));
    }

    [TestCase("127.0.0.1")]
    [TestCase("127.0.0.1:0")]
    [TestCase("127.0.0.1:99999")]
    [TestCase("bad host:22")]
    public async Task Expose_with_a_bad_to_exits_2_naming_it(string to)
    {
        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", _configPath, "--to", to);

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.Contain($"--to '{to}'"));
    }

    [Test]
    public async Task Expose_with_a_wrong_registrar_fingerprint_exits_5()
    {
        var wrong = OtherFingerprint(_server.CertificateFingerprint);
        var bad = _directory.Combine("wrong-pin.json");
        await File.WriteAllTextAsync(bad, File.ReadAllText(_configPath).Replace(_server.CertificateFingerprint, wrong, StringComparison.Ordinal));

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, "expose", "--config", bad, "--to", "127.0.0.1:22");

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.PinMismatch), result.Error);
        Assert.That(result.Error, Does.Contain(wrong).And.Contain(_server.CertificateFingerprint));
    }

    [TestCase("--listen", "nowhere")]
    [TestCase("--pin", "12:34")]
    [TestCase("--uuid", "not-a-uuid")]
    public async Task Connect_with_bad_input_exits_2_naming_the_value(string flag, string value)
    {
        var args = new List<string> { "connect", "--registrar", _server.RegistrarUrl.ToString(), "--uuid", _uuid, "--pin", _server.CertificateFingerprint };
        var at = args.IndexOf(flag);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args.AddRange([flag, value]);
        }

        if (flag != "--listen")
        {
            args.Add("--stdio");
        }

        var result = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, [.. args]);

        Assert.That(result.ExitCode, Is.EqualTo(ClientExitCodes.BadInput), result.Error);
        Assert.That(result.Error, Does.Contain($"{flag} '{value}'"));
    }

    [Test]
    public async Task Ssh_logs_in_through_expose_and_connect_stdio_as_a_proxy_command()
    {
        const string Sshd = "/usr/sbin/sshd";
        Assume.That(File.Exists(Sshd), Is.True, "openssh-server is not installed (eng/test.sh installs it)");
        Assume.That(FindOnPath("ssh") is not null && FindOnPath("ssh-keygen") is not null, Is.True, "openssh-client is not installed (eng/test.sh installs it)");
        if (!Directory.Exists("/run/sshd"))
        {
            // sshd's privilege separation directory; the package creates it only when its service starts.
            Directory.CreateDirectory("/run/sshd");
        }

        var keys = _directory.Combine("ssh");
        Directory.CreateDirectory(keys);
        var hostKey = Path.Combine(keys, "host_ed25519");
        var userKey = Path.Combine(keys, "user_ed25519");
        Assert.That(await RunToolAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", string.Empty, "-f", hostKey), Is.Zero);
        Assert.That(await RunToolAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", string.Empty, "-f", userKey), Is.Zero);
        var authorizedKeys = Path.Combine(keys, "authorized_keys");
        File.Copy(userKey + ".pub", authorizedKeys);

        var sshPort = FreePort();
        using var sshd = StartTool(
            Sshd, "-D", "-e", "-p", sshPort.ToString(CultureInfo.InvariantCulture), "-o", "ListenAddress=127.0.0.1", "-h", hostKey,
            "-o", $"AuthorizedKeysFile={authorizedKeys}", "-o", "StrictModes=no", "-o", "PidFile=none");
        try
        {
            await WaitForPortAsync(sshPort, sshd.Process);
            await StartExposeAsync(sshPort);

            string[] proxyArgs = [RendezvousProcess.Dotnet, RendezvousProcess.DllPath, .. ConnectArgs(), "--stdio"];
            var proxy = string.Join(' ', proxyArgs.Select(ShellQuote));
            using var ssh = StartTool(
                "ssh", "-o", $"ProxyCommand={proxy}", "-i", userKey, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", $"{Environment.UserName}@rendezvous", "echo hello-through-rendezvous");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await ssh.Process.WaitForExitAsync(timeout.Token);

            Assert.That(ssh.Output.Trim(), Is.EqualTo("hello-through-rendezvous"), $"ssh: {ssh.Error}\nsshd: {sshd.Error}");
            Assert.That(ssh.Process.ExitCode, Is.Zero, ssh.Error);
        }
        finally
        {
            sshd.Kill();
        }
    }

    private static JsonElement ReadConfig(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.Clone();
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Awaits <paramref name="task"/>; when it does not finish in time, fails with what each process wrote to standard error so far.</summary>
    private static async Task<T> WithProcessOutputOnTimeoutAsync<T>(Task<T> task, TimeSpan timeout, params RendezvousProcess[] processes)
    {
        try
        {
            return await task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"not done within {timeout.TotalSeconds:0} s.\n" + string.Join("\n", processes.Select(p => $"stderr of process {p.Id} ({(p.HasExited ? "exited" : "running")}):\n{p.Error}")));
            throw;
        }
    }

    private static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, RendezvousProcess process)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Long);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
            {
                Assert.Fail($"condition not met in time.\nstderr:\n{process.Error}");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }

    private static async Task WaitForPortAsync(int port, Process owner)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Long);
        while (true)
        {
            Assert.That(owner.HasExited, Is.False, "sshd exited");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port, cts.Token);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, cts.Token);
            }
        }
    }

    private static string? FindOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(dir => Path.Combine(dir, tool)).FirstOrDefault(File.Exists);

    private static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static async Task<int> RunToolAsync(string file, params string[] args)
    {
        using var tool = StartTool(file, args);
        using var cts = new CancellationTokenSource(TestTimeouts.Long);
        await tool.Process.WaitForExitAsync(cts.Token);
        return tool.Process.ExitCode;
    }

    private static Tool StartTool(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var tool = new Tool(new Process { StartInfo = start });
        tool.Process.OutputDataReceived += (_, e) => tool.Append(tool.OutputBuilder, e.Data);
        tool.Process.ErrorDataReceived += (_, e) => tool.Append(tool.ErrorBuilder, e.Data);
        tool.Process.Start();
        tool.Process.StandardInput.Close();
        tool.Process.BeginOutputReadLine();
        tool.Process.BeginErrorReadLine();
        return tool;
    }

    private LocalTcpService AddService(LocalTcpService service)
    {
        _services.Add(service);
        return service;
    }

    private RendezvousProcess Track(RendezvousProcess process)
    {
        _children.Add(process);
        return process;
    }

    private string[] ConnectArgs() =>
        ["connect", "--registrar", _server.RegistrarUrl.ToString(), "--uuid", _uuid, "--pin", _server.CertificateFingerprint];

    private async Task<RendezvousProcess> StartExposeAsync(int port, params string[] extra)
    {
        var expose = Track(RendezvousProcess.Start(_directory.Path, ["expose", "--config", _configPath, "--to", $"127.0.0.1:{port}", .. extra]));
        await expose.WaitForErrorAsync(Registered());
        return expose;
    }

    private async Task<int> StartListenAsync()
    {
        var listen = Track(RendezvousProcess.Start(_directory.Path, [.. ConnectArgs(), "--listen", "127.0.0.1:0"]));
        var match = await listen.WaitForOutputAsync(Listening());
        return int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>A child process other than rendezvous (sshd, ssh, ssh-keygen); dispose kills it by its own id.</summary>
    private sealed class Tool(Process process) : IDisposable
    {
        private readonly Lock _lock = new();

        public Process Process { get; } = process;

        public StringBuilder OutputBuilder { get; } = new();

        public StringBuilder ErrorBuilder { get; } = new();

        public string Output
        {
            get
            {
                lock (_lock)
                {
                    return OutputBuilder.ToString();
                }
            }
        }

        public string Error
        {
            get
            {
                lock (_lock)
                {
                    return ErrorBuilder.ToString();
                }
            }
        }

        public void Append(StringBuilder target, string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lock)
            {
                target.AppendLine(line);
            }
        }

        public void Kill()
        {
            try
            {
                if (!Process.HasExited)
                {
                    Process.Kill(entireProcessTree: false);
                    Process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }

        public void Dispose()
        {
            Kill();
            Process.Dispose();
        }
    }

    /// <summary>A fingerprint that differs from <paramref name="fingerprint"/> in its first byte, whatever that byte is.</summary>
    private static string OtherFingerprint(string fingerprint) => (fingerprint.StartsWith("00", StringComparison.Ordinal) ? "FF" : "00") + fingerprint[2..];
}
