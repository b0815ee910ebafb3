using System.Globalization;
using System.Net;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>What to run and against what; parsed from <c>loadgen &lt;scenario&gt; --option value ...</c>.</summary>
internal sealed class LoadOptions
{
    public string Scenario { get; set; } = "";

    /// <summary><c>relay</c>, <c>haproxy</c> or <c>direct</c> (the generator's own listener, no proxy: the loopback baseline).</summary>
    public string Target { get; set; } = "relay";

    public Uri? RegistrarUrl { get; set; }

    public string? Pin { get; set; }

    /// <summary>Every registrar of <c>--registrar URL[,URL...]</c> (the registrar scenario goes through each in turn).</summary>
    public IReadOnlyList<Uri> Registrars { get; set; } = [];

    /// <summary>The registrar scenario's users: one <c>UUID BASE32SECRET</c> per line.</summary>
    public string? UsersFile { get; set; }

    public string? Uuid { get; set; }

    public string? Secret { get; set; }

    /// <summary>An R cookie obtained earlier (<c>loadgen register</c>), so no TOTP code is spent.</summary>
    public string? Cookie { get; set; }

    /// <summary>parked: the R cookies responders park under, in turn (<c>--cookies C1,C2,...</c>); <see cref="Cookie"/> alone when empty.</summary>
    public IReadOnlyList<string> Cookies { get; set; } = [];

    /// <summary>parked: how many of the parked responders are paired with an initiator at the end, passing a byte each way. Defaults to 100.</summary>
    public int CheckCount { get; set; } = 100;

    /// <summary>The relay endpoint; the triple's when null.</summary>
    public IPEndPoint? Relay { get; set; }

    /// <summary>haproxy's frontend.</summary>
    public IPEndPoint? Front { get; set; }

    /// <summary>The port the generator's backend listener binds (haproxy forwards to it); 0 picks one.</summary>
    public int BackendPort { get; set; }

    public int Pairs { get; set; } = 1;

    public double Seconds { get; set; } = 5;

    public int Size { get; set; } = 1;

    public int Count { get; set; } = 10_000;

    public int Sessions { get; set; } = 1000;

    public int Concurrency { get; set; } = 16;

    public int WriteSize { get; set; } = 64 * 1024;

    /// <summary>The server process to sample (/proc/PID/stat and status); 0 for none.</summary>
    public int ServerPid { get; set; }

    /// <summary>Idle: written once every session is open and idle.</summary>
    public string? ReadyFile { get; set; }

    /// <summary>Idle: waited for (bounded by <see cref="Timeout"/>) before the sessions are checked and closed.</summary>
    public string? GoFile { get; set; }

    /// <summary>Idle: how long sessions stay idle before RSS is sampled. Defaults to 2 seconds.</summary>
    public double SettleSeconds { get; set; } = 2;

    /// <summary>Soak: the largest payload of one session in one direction; sizes are drawn from 1 B up to it. Defaults to 8 MiB.</summary>
    public int MaxSize { get; set; } = 8 * 1024 * 1024;

    /// <summary>Soak: which faults to inject (none, kill, restart or all). Defaults to none.</summary>
    public SoakFaults Faults { get; set; } = SoakFaults.None;

    /// <summary>Soak: the share of sessions one side of which is killed mid-stream (RST) when kill faults are on. Defaults to 0.1.</summary>
    public double KillShare { get; set; } = 0.1;

    /// <summary>
    /// Soak: how long every receiver waits after each read (0: none). Slow readers leave what was sent queued in
    /// the kernel's buffers, the relay's included, when a session ends. Defaults to 0.
    /// </summary>
    public double ReadPauseMilliseconds { get; set; }

    /// <summary>Soak: the seed of the sizes and faults, so a run can be repeated; a random one when null.</summary>
    public int? Seed { get; set; }

    /// <summary>Soak: written (with the restart's number) when the server is to be restarted; the script doing it writes <see cref="RestartDoneFile"/>.</summary>
    public string? RestartRequestFile { get; set; }

    /// <summary>Soak: written by the script once the server runs again, one line <c>PID HOST:PORT R-COOKIE</c>.</summary>
    public string? RestartDoneFile { get; set; }

    /// <summary>slowloris and tlschurn: how many source addresses (127.0.0.2 upwards) the connections come from.</summary>
    public int Addresses { get; set; } = 100;

    /// <summary>slowloris: how many bytes of a first line each connection sends (0: none).</summary>
    public int Partial { get; set; }

    /// <summary>slowloris and tlschurn: when RSS is sampled after the flood, in seconds after it ended.</summary>
    public IReadOnlyList<int> AfterSeconds { get; set; } = [10, 30, 60];

    /// <summary>pool: the largest pool the simulated hidden server parks.</summary>
    public const int MaxPool = 64;

    /// <summary>pool: <c>advice</c> (follow the registration answer's <c>pool</c> field) or a fixed pool size. Defaults to advice.</summary>
    public string PoolPolicy { get; set; } = "advice";

    /// <summary>pool: how many clients connect at once in each burst (1 for an idle hidden server). Defaults to 6.</summary>
    public int Burst { get; set; } = 6;

    /// <summary>pool: seconds between bursts. Defaults to 2.</summary>
    public double BurstIntervalSeconds { get; set; } = 2;

    /// <summary>pool: the hidden server's delay before each park (its round trip to the relay), in milliseconds. Defaults to 250.</summary>
    public int ReparkDelayMilliseconds { get; set; } = 250;

    /// <summary>pool: seconds between the hidden server's registrations. Defaults to 5.</summary>
    public double ReregisterSeconds { get; set; } = 5;

    /// <summary>pool: the TOTP step of the entry (<c>users add --step</c>), in seconds. Defaults to 30.</summary>
    public int TotpStep { get; set; } = 30;

    /// <summary>The bound on the whole run; exceeding it is an error.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(2);

    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        var options = new LoadOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (options.Scenario.Length != 0)
                {
                    throw new ArgumentException($"unexpected argument '{arg}'");
                }

                options.Scenario = arg;
                continue;
            }

            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"{arg} needs a value");
            }

            var value = args[++i];
            switch (arg)
            {
                case "--target": options.Target = value; break;
                case "--registrar":
                    options.Registrars = [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(url => new Uri(url))];
                    options.RegistrarUrl = options.Registrars[0];
                    break;
                case "--users": options.UsersFile = value; break;
                case "--pin": options.Pin = value; break;
                case "--uuid": options.Uuid = value; break;
                case "--secret": options.Secret = value; break;
                case "--cookie": options.Cookie = value; break;
                case "--cookies": options.Cookies = value.Split(',', StringSplitOptions.RemoveEmptyEntries); break;
                case "--check": options.CheckCount = Int(value); break;
                case "--relay": options.Relay = IPEndPoint.Parse(value); break;
                case "--front": options.Front = IPEndPoint.Parse(value); break;
                case "--backend-port": options.BackendPort = Int(value); break;
                case "--pairs": options.Pairs = Int(value); break;
                case "--seconds": options.Seconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--size": options.Size = Int(value); break;
                case "--count": options.Count = Int(value); break;
                case "--sessions": options.Sessions = Int(value); break;
                case "--concurrency": options.Concurrency = Int(value); break;
                case "--write-size": options.WriteSize = Int(value); break;
                case "--server-pid": options.ServerPid = Int(value); break;
                case "--ready-file": options.ReadyFile = value; break;
                case "--go-file": options.GoFile = value; break;
                case "--settle": options.SettleSeconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--max-size": options.MaxSize = Int(value); break;
                case "--faults": options.Faults = SoakFaultsText.Parse(value); break;
                case "--kill-share": options.KillShare = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--seed": options.Seed = Int(value); break;
                case "--read-pause": options.ReadPauseMilliseconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--restart-request": options.RestartRequestFile = value; break;
                case "--restart-done": options.RestartDoneFile = value; break;
                case "--addresses": options.Addresses = Int(value); break;
                case "--partial": options.Partial = Int(value); break;
                case "--after": options.AfterSeconds = [.. value.Split(',').Select(Int)]; break;
                case "--policy": options.PoolPolicy = value; break;
                case "--burst": options.Burst = Int(value); break;
                case "--burst-interval": options.BurstIntervalSeconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--repark-delay": options.ReparkDelayMilliseconds = Int(value); break;
                case "--reregister": options.ReregisterSeconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--totp-step": options.TotpStep = Int(value); break;
                case "--timeout": options.Timeout = TimeSpan.FromSeconds(double.Parse(value, CultureInfo.InvariantCulture)); break;
                default: throw new ArgumentException($"unknown option {arg}");
            }
        }

        if (options.CheckCount < 0)
        {
            throw new ArgumentException($"--check must be 0 or more, not {options.CheckCount}");
        }

        if (options.WriteSize is < 1 or > PatternStream.MaxChunk)
        {
            throw new ArgumentException($"--write-size must be 1..{PatternStream.MaxChunk}");
        }

        if (options.Size is < 1 or > PatternStream.MaxChunk)
        {
            throw new ArgumentException($"--size must be 1..{PatternStream.MaxChunk}");
        }

        if (options.MaxSize < 1)
        {
            throw new ArgumentException($"--max-size must be at least 1 (bytes), not {options.MaxSize}");
        }

        if (options.KillShare is < 0 or > 1)
        {
            throw new ArgumentException($"--kill-share must be 0..1, not {options.KillShare.ToString(CultureInfo.InvariantCulture)}");
        }

        if (options.ReadPauseMilliseconds is < 0 or > 10_000)
        {
            throw new ArgumentException($"--read-pause must be 0..10000 (milliseconds), not {options.ReadPauseMilliseconds.ToString(CultureInfo.InvariantCulture)}");
        }

        if ((options.RestartRequestFile is null) != (options.RestartDoneFile is null))
        {
            throw new ArgumentException("--restart-request and --restart-done go together");
        }

        if (options.Addresses is < 1 or > 60_000)
        {
            throw new ArgumentException($"--addresses must be 1..60000, not {options.Addresses}");
        }

        if (options.Partial is < 0 or > 65)
        {
            throw new ArgumentException($"--partial must be 0..65 (bytes of a first line), not {options.Partial}");
        }

        if (options.PoolPolicy != "advice" && !(int.TryParse(options.PoolPolicy, NumberStyles.None, CultureInfo.InvariantCulture, out var pool) && pool is >= 1 and <= MaxPool))
        {
            throw new ArgumentException($"--policy must be advice or a pool size 1..{MaxPool}, not '{options.PoolPolicy}'");
        }

        if (options.Burst is < 1 or > 1000 || options.BurstIntervalSeconds is < 0.1 or > 3600 || options.ReregisterSeconds is < 1 or > 3600)
        {
            throw new ArgumentException("--burst must be 1..1000, --burst-interval 0.1..3600 (seconds), --reregister 1..3600 (seconds)");
        }

        if (options.ReparkDelayMilliseconds is < 0 or > 10_000 || options.TotpStep is < 1 or > 300)
        {
            throw new ArgumentException("--repark-delay must be 0..10000 (milliseconds), --totp-step 1..300 (seconds)");
        }

        return options;
    }

    private static int Int(string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new ArgumentException($"'{value}' is not a whole number");
}
