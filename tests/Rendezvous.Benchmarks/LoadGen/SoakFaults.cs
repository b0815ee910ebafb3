using System.Net;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>The faults the soak scenario injects.</summary>
[Flags]
internal enum SoakFaults
{
    /// <summary>No faults: every session must complete.</summary>
    None = 0,

    /// <summary>One side of some sessions aborts its socket (RST) mid-stream.</summary>
    Kill = 1,

    /// <summary>The server is stopped (SIGTERM) and started again once, mid-run.</summary>
    Restart = 2,

    /// <summary>Both.</summary>
    All = Kill | Restart,
}

/// <summary>The <c>--faults</c> values.</summary>
internal static class SoakFaultsText
{
    public static SoakFaults Parse(string value) => value switch
    {
        "none" => SoakFaults.None,
        "kill" => SoakFaults.Kill,
        "restart" => SoakFaults.Restart,
        "all" => SoakFaults.All,
        _ => throw new ArgumentException($"--faults must be none, kill, restart or all, not '{value}'"),
    };

    public static string Format(SoakFaults faults) => faults switch
    {
        SoakFaults.None => "none",
        SoakFaults.Kill => "kill",
        SoakFaults.Restart => "restart",
        _ => "all",
    };
}

/// <summary>The server after a restart: its process and a fresh R cookie (a restart forgets registrations).</summary>
internal sealed record RestartedServer(int Pid, IPEndPoint Relay, string Cookie);

/// <summary>
/// Stops the server under test and starts it again; the soak scenario calls it once, mid-run, with
/// <see cref="SoakFaults.Restart"/>. From the command line the script that started the server does it,
/// told through files (<see cref="ServerRestarters.ThroughFiles"/>); tests pass their own.
/// </summary>
internal delegate Task<RestartedServer> ServerRestarter(CancellationToken cancellationToken);

/// <summary>Restarters.</summary>
internal static class ServerRestarters
{
    /// <summary>
    /// Writes <paramref name="requestFile"/> and waits (every 50 ms, bounded by the token) for
    /// <paramref name="doneFile"/>: one line <c>PID HOST:PORT R-COOKIE</c>, which it reads and deletes.
    /// </summary>
    public static ServerRestarter ThroughFiles(string requestFile, string doneFile) => async cancellationToken =>
    {
        File.Delete(doneFile);
        await File.WriteAllTextAsync(requestFile + ".tmp", "restart\n", cancellationToken).ConfigureAwait(false);
        File.Move(requestFile + ".tmp", requestFile, overwrite: true);
        while (!File.Exists(doneFile))
        {
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        var line = (await File.ReadAllTextAsync(doneFile, cancellationToken).ConfigureAwait(false)).Trim();
        File.Delete(doneFile);
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || !int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var pid) || !IPEndPoint.TryParse(parts[1], out var relay))
        {
            throw new ArgumentException($"{doneFile} must hold 'PID HOST:PORT R-COOKIE', not '{line}'");
        }

        return new RestartedServer(pid, relay, parts[2]);
    };
}
