using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Rendezvous.Host.Commands;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary>
/// The real <c>rendezvous</c> program (the built rendezvous.dll next to the test assembly) as a child process,
/// its output collected line by line. Every wait is bounded; dispose kills the child by its own id if it still runs.
/// </summary>
internal sealed class RendezvousProcess : IDisposable
{
    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _error = new();

    private RendezvousProcess(Process process)
    {
        _process = process;
    }

    /// <summary>The child's process id.</summary>
    public int Id => _process.Id;

    /// <summary>Whether the child has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Everything written to standard output so far.</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Everything written to standard error so far.</summary>
    public string Error
    {
        get
        {
            lock (_lock)
            {
                return _error.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet rendezvous.dll &lt;args&gt;</c> in <paramref name="workingDirectory"/>.</summary>
    public static RendezvousProcess Start(string workingDirectory, params string[] args) => Start(workingDirectory, rawOutput: false, args);

    /// <summary>Starts <c>dotnet rendezvous.dll &lt;args&gt;</c> in <paramref name="workingDirectory"/> with <paramref name="environment"/> added (settings such as <c>Rendezvous__DrainTimeout</c>).</summary>
    public static RendezvousProcess Start(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Start(workingDirectory, rawOutput: false, args, environment: environment);

    /// <summary>
    /// Starts <c>dotnet rendezvous.dll &lt;args&gt;</c> with standard output left unread, for the caller to read
    /// as bytes from <see cref="StandardOutput"/> (standard error is still collected as text).
    /// </summary>
    public static RendezvousProcess StartBinary(string workingDirectory, params string[] args) => Start(workingDirectory, rawOutput: true, args);

    /// <summary>
    /// Starts <c>LAUNCHER LAUNCHER-ARGS... dotnet rendezvous.dll &lt;args&gt;</c> with <paramref name="environment"/> added,
    /// e.g. a shell that runs rendezvous as its own child. <see cref="Id"/> is then the launcher's.
    /// </summary>
    public static RendezvousProcess StartUnder(
        string workingDirectory, string launcher, IEnumerable<string> launcherArgs, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Start(workingDirectory, rawOutput: false, args, (launcher, [.. launcherArgs]), environment);

    /// <summary>The child's standard input, as bytes.</summary>
    public Stream StandardInput => _process.StandardInput.BaseStream;

    /// <summary>The child's standard output, as bytes (only with <see cref="StartBinary"/>).</summary>
    public Stream StandardOutput => _process.StandardOutput.BaseStream;

    /// <summary>The path of the built rendezvous.dll.</summary>
    public static string DllPath => Path.Combine(Path.GetDirectoryName(typeof(ServeCommand).Assembly.Location)!, "rendezvous.dll");

    /// <summary>The dotnet host that runs it.</summary>
    public static string Dotnet => DotnetHost();

    private static RendezvousProcess Start(
        string workingDirectory, bool rawOutput, string[] args, (string FileName, string[] Args)? launcher = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var dll = DllPath;
        var start = new ProcessStartInfo(launcher?.FileName ?? DotnetHost())
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (launcher is { } shell)
        {
            foreach (var arg in shell.Args)
            {
                start.ArgumentList.Add(arg);
            }

            start.ArgumentList.Add(DotnetHost());
        }

        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Settings of the test run's own environment must not leak into the child.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Rendezvous", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        // serve's admin listener would take the fixed port 8893; parallel tests each get a free one instead
        // (a test's own --admin-url flag wins over this variable).
        start.Environment["Rendezvous__Admin__Url"] = "http://127.0.0.1:0";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        var child = new RendezvousProcess(process);
        process.OutputDataReceived += (_, e) => child.Append(child._output, e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(child._error, e.Data);
        process.Start();
        if (!rawOutput)
        {
            process.BeginOutputReadLine();
        }

        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Runs <c>rendezvous &lt;args&gt;</c> to its end.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        using var child = Start(workingDirectory, args);
        var exitCode = await child.WaitForExitAsync(timeout);
        return (exitCode, child.Output, child.Error);
    }

    /// <summary>Waits for standard output to match <paramref name="pattern"/>; fails if the child exits first or time runs out.</summary>
    public Task<Match> WaitForOutputAsync(Regex pattern, TimeSpan? timeout = null) => WaitForAsync(() => Output, pattern, timeout);

    /// <summary>Waits for standard error to match <paramref name="pattern"/>; fails if the child exits first or time runs out.</summary>
    public Task<Match> WaitForErrorAsync(Regex pattern, TimeSpan? timeout = null) => WaitForAsync(() => Error, pattern, timeout);

    private async Task<Match> WaitForAsync(Func<string> text, Regex pattern, TimeSpan? timeout)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Long);
        while (true)
        {
            var match = pattern.Match(text());
            if (match.Success)
            {
                return match;
            }

            if (_process.HasExited || cts.IsCancellationRequested)
            {
                // Let the last lines arrive before reporting.
                await Task.Delay(100, CancellationToken.None);
                match = pattern.Match(text());
                if (match.Success)
                {
                    return match;
                }

                Assert.Fail($"rendezvous {(_process.HasExited ? "exited" : "did not print it in time")}; expected /{pattern}/.\nstdout:\n{Output}\nstderr:\n{Error}");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }

    /// <summary>Waits for the child to exit and returns its exit code; fails when time runs out.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"rendezvous did not exit within {timeout}.\nstdout:\n{Output}\nstderr:\n{Error}");
        }

        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM, as a service manager does to stop a service.</summary>
    public Task TerminateAsync() => TerminateAsync(Id);

    /// <summary>Sends SIGTERM to the process <paramref name="processId"/> (e.g. one a launcher started).</summary>
    public static async Task TerminateAsync(int processId)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", processId.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        using var cts = new CancellationTokenSource(TestTimeouts.Short);
        await kill.WaitForExitAsync(cts.Token);
        Assert.That(kill.ExitCode, Is.Zero, "kill -TERM failed");
    }

    /// <summary>Kills the child (by its id, not its tree or name) if it still runs.</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: false);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }

        _process.Dispose();
    }

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        return Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
    }

    private void Append(StringBuilder target, string? line)
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
}
