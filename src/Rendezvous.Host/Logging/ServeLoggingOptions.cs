namespace Rendezvous.Host.Logging;

/// <summary>
/// How <c>rendezvous serve</c> writes its logs, bound from <c>Rendezvous:Logging</c>. Which records are written is
/// the standard <c>Logging:LogLevel</c> configuration (<c>Logging:File:LogLevel</c> for the file alone).
/// </summary>
internal sealed class ServeLoggingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Rendezvous:Logging";

    /// <summary>The one-line text format: timestamp, level, category, event id, message.</summary>
    public const string SimpleFormat = "simple";

    /// <summary>One JSON object per line (Microsoft's JSON console formatter).</summary>
    public const string JsonFormat = "json";

    /// <summary>
    /// <c>simple</c> or <c>json</c> (<c>--log-format</c>), for the console and the log file. Defaults to unset:
    /// <c>simple</c>, except that under systemd the console uses journald's format (a priority prefix, no timestamp).
    /// </summary>
    public string? Format { get; set; }

    /// <summary>
    /// A file to write the logs to as well (<c>--log-file</c>), appended to, created with mode 0640 (its folder
    /// with 0750). Defaults to unset: the console only.
    /// </summary>
    public string? File { get; set; }

    /// <summary>
    /// The size in bytes at which a new log file is begun, with a number before the extension (<c>server_001.log</c>,
    /// <c>server_002.log</c>, ...): the highest number is the file being written. Defaults to 10 MiB (10485760).
    /// </summary>
    public long FileSizeLimit { get; set; } = 10 * 1024 * 1024;

    /// <summary>Log files kept, the current one included; the oldest is deleted when a new one is begun. Defaults to 5.</summary>
    public int FileCount { get; set; } = 5;

    /// <summary>
    /// Records waiting to be written to the file at most. When the disk falls behind, further records are dropped
    /// (never the caller held up) and a line in the file says how many. Defaults to 10000.
    /// </summary>
    public int FileQueueLength { get; set; } = 10_000;

    /// <summary>The console formatter to use for the file: <see cref="Format"/>, <c>simple</c> when unset.</summary>
    public string FileFormatterName => Format?.ToLowerInvariant() ?? SimpleFormat;
}
