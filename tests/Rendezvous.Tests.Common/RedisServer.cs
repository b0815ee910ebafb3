using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A real <c>redis-server</c> of its own on 127.0.0.1 and a free port, for one test class: without persistence
/// (<see cref="StartAsync(string?)"/>), or with an append-only file synced on every write (<see cref="StartPersistentAsync"/>),
/// which can be killed (<see cref="KillAsync"/>) and started again on the same port and directory with its data
/// (<see cref="RestartAsync"/>). Starting returns once it answers PING; dispose kills it by its process id.
/// eng/test.sh installs Debian's redis-server package.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    /// <summary>Where Debian's redis-server package puts the server.</summary>
    public const string ExecutablePath = "/usr/bin/redis-server";

    private const int Attempts = 3;

    private readonly TemporaryDirectory _directory;
    private readonly StringBuilder _log;
    private readonly bool _persistent;
    private Process _process;

    private RedisServer(Process process, TemporaryDirectory directory, StringBuilder log, int port, string? password, bool persistent)
    {
        _process = process;
        _directory = directory;
        _log = log;
        _persistent = persistent;
        Port = port;
        Password = password;
    }

    /// <summary>Whether redis-server is installed, for <c>Assume.That</c>.</summary>
    public static bool IsInstalled => File.Exists(ExecutablePath);

    /// <summary>The port it listens on, on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The password it requires (<c>--requirepass</c>), or <see langword="null"/>.</summary>
    public string? Password { get; }

    /// <summary><c>127.0.0.1:PORT</c>.</summary>
    public string EndPoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    /// <summary>What the server printed so far, for assertion messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The process id of the running redis-server.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Starts a server, optionally requiring <paramref name="password"/>, and waits until it answers PING.</summary>
    public static Task<RedisServer> StartAsync(string? password = null) => LaunchAsync(password, persistent: false);

    /// <summary>
    /// Starts a server that keeps its data in an append-only file synced on every write (<c>appendonly yes</c>,
    /// <c>appendfsync always</c>), so that what it acknowledged survives <see cref="KillAsync"/> and <see cref="RestartAsync"/>.
    /// </summary>
    public static Task<RedisServer> StartPersistentAsync() => LaunchAsync(password: null, persistent: true);

    /// <summary>Kills the server (SIGKILL, by its process id) and waits until it is gone; clients see it vanish.</summary>
    public Task KillAsync() => StopProcessAsync();

    /// <summary>Starts the server again on the same port and directory (and so with its data when persistent); waits for PING.</summary>
    public async Task RestartAsync()
    {
        await StopProcessAsync();
        _process.Dispose();
        _process = Launch(_directory.Path, Port, Password, _persistent, _log, out Task<bool> ready);
        if (!await ready.WaitAsync(TestTimeouts.Long))
        {
            throw new InvalidOperationException($"redis-server did not start again on port {Port}:\n{Log}");
        }

        await PingAsync();
    }

    private static async Task<RedisServer> LaunchAsync(string? password, bool persistent)
    {
        var directory = new TemporaryDirectory();
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                // The port is free now; another process may take it before redis-server binds it, hence the retries.
                int port = FreePort();
                var log = new StringBuilder();
                Process process = Launch(directory.Path, port, password, persistent, log, out Task<bool> ready);
                var server = new RedisServer(process, directory, log, port, password, persistent);
                bool started = await ready.WaitAsync(TestTimeouts.Long);
                try
                {
                    if (started)
                    {
                        await server.PingAsync();
                        return server;
                    }
                }
                catch
                {
                    await server.StopProcessAsync();
                    process.Dispose();
                    throw;
                }

                await server.StopProcessAsync();
                process.Dispose();
                if (attempt == Attempts || !server.Log.Contains("Address already in use", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"redis-server did not start on port {port}:\n{server.Log}");
                }
            }
        }
        catch
        {
            directory.Dispose();
            throw;
        }
    }

    /// <summary>Connects a client (with the password, admin commands allowed).</summary>
    public async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var options = new ConfigurationOptions
        {
            Password = Password,
            AllowAdmin = true,
            AbortOnConnectFail = true,
            ConnectTimeout = (int)TestTimeouts.Short.TotalMilliseconds,
        };
        options.EndPoints.Add(IPAddress.Loopback, Port);
        return await ConnectionMultiplexer.ConnectAsync(options).WaitAsync(TestTimeouts.Short);
    }

    /// <summary>Deletes every key of every database.</summary>
    public async Task FlushAllAsync()
    {
        await using ConnectionMultiplexer redis = await ConnectAsync();
        await redis.GetServer(IPAddress.Loopback, Port).FlushAllDatabasesAsync().WaitAsync(TestTimeouts.Short);
    }

    public async ValueTask DisposeAsync()
    {
        await StopProcessAsync();
        _process.Dispose();
        _directory.Dispose();
    }

    private static Process Launch(string directory, int port, string? password, bool persistent, StringBuilder log, out Task<bool> ready)
    {
        var startInfo = new ProcessStartInfo(ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[]
        {
            "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty, "--appendonly", persistent ? "yes" : "no", "--appendfsync", "always",
            "--dir", directory, "--daemonize", "no", "--logfile", string.Empty,
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (password is not null)
        {
            startInfo.ArgumentList.Add("--requirepass");
            startInfo.ArgumentList.Add(password);
        }

        // Ready when it logs that it accepts connections; not ready when it exits first (a port taken meanwhile).
        var readiness = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }

            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                readiness.TrySetResult(true);
            }
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.Exited += (_, _) => readiness.TrySetResult(false);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        ready = readiness.Task;
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task PingAsync()
    {
        await using ConnectionMultiplexer redis = await ConnectAsync();
        await redis.GetDatabase().PingAsync().WaitAsync(TestTimeouts.Short);
    }

    private async Task StopProcessAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: false);
            }

            await _process.WaitForExitAsync().WaitAsync(TestTimeouts.Short);
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }
    }
}
