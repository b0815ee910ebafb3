using System.Globalization;
using Rendezvous.Client.Internal;
using Rendezvous.Security;
using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>
/// Copies the hidden servers of an original node-rendezvous Redis database (one key per UUID, see
/// <see cref="NodeRendezvousSecret"/>) into a <see cref="SecretStore"/>. It walks the keys with SCAN (never KEYS),
/// reads at most <see cref="MaxValueBytes"/> of a value, keeps only the UUID keys in memory (not the rest of a shared database), never overwrites an entry the store already has, and
/// reports one line per key: what was imported, or what was skipped and why. The store may be any
/// <see cref="SecretStore"/>: a node's SQLite database, or a cluster's <see cref="RedisSecretStore"/>
/// (<c>rendezvous users import --from-redis ... --cluster ...</c>).
/// </summary>
public sealed class NodeRendezvousImporter
{
    /// <summary>The largest value read (64 KiB); the original's values are under 1 KiB.</summary>
    public const int MaxValueBytes = 64 * 1024;

    private const int ScanPageSize = 250;
    private const int MaxShownKeyChars = 80;

    private readonly SecretStore _store;
    private readonly TimeProvider _timeProvider;
    private readonly TextWriter _report;
    private readonly bool _dryRun;
    private readonly HashSet<string> _seenUuidKeys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _importedNow = new(StringComparer.Ordinal);

    /// <summary>Creates an importer into <paramref name="store"/> that reports on <paramref name="report"/>.</summary>
    /// <param name="store">Where entries go.</param>
    /// <param name="report">Gets one line per key.</param>
    /// <param name="dryRun">Report only; write nothing.</param>
    /// <param name="timeProvider">Gives the creation time of imported entries.</param>
    public NodeRendezvousImporter(SecretStore store, TextWriter report, bool dryRun, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _store = store;
        _report = report;
        _dryRun = dryRun;
        _timeProvider = timeProvider;
    }

    /// <summary>Distinct keys looked at so far.</summary>
    public int Scanned { get; private set; }

    /// <summary>Entries imported so far (in a dry run: that would have been).</summary>
    public int Imported { get; private set; }

    /// <summary>Keys skipped so far.</summary>
    public int Skipped { get; private set; }

    /// <summary>Keys held in memory to report each once: the UUID keys only, never the other keys of the database.</summary>
    public int RememberedKeys => _seenUuidKeys.Count;

    /// <summary>Walks every key of <paramref name="database"/> once; call it once per importer.</summary>
    /// <param name="database">The Redis database to read.</param>
    /// <param name="cancellationToken">Stops the walk.</param>
    /// <returns>A task that completes when the scan is complete.</returns>
    /// <exception cref="RedisException">Redis failed or refused a command; <see cref="Scanned"/> tells how far it got.</exception>
    /// <exception cref="RedisTimeoutException">Redis did not answer in time.</exception>
    public async Task ImportAsync(IDatabase database, CancellationToken cancellationToken = default)
    {
        // SCAN may return a key more than once (while Redis resizes its table). UUID keys are remembered to report
        // each once; other keys are not, so memory grows with the hidden servers only, not with whatever else shares
        // the database (such a key repeated by SCAN is reported again). In a dry run nothing is written, so the
        // UUIDs that would have been are remembered to report a second key for the same UUID as a duplicate.
        string cursor = "0";
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            var page = (RedisResult[])(await database.ExecuteAsync("SCAN", cursor, "COUNT", ScanPageSize).ConfigureAwait(false))!;
            cursor = (string)page[0]!;
            foreach (RedisKey key in (RedisKey[])page[1]!)
            {
                string text = key.ToString() ?? string.Empty;
                if (!SecretFormat.TryNormalizeUuid(text, out string? uuid))
                {
                    Scanned++;
                    await SkipAsync(Show(text), "the key is not a UUID").ConfigureAwait(false);
                }
                else if (_seenUuidKeys.Add(text))
                {
                    Scanned++;
                    await ImportKeyAsync(database, key, uuid, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        while (cursor != "0");
    }

    private async Task ImportKeyAsync(IDatabase database, RedisKey key, string uuid, CancellationToken cancellationToken)
    {
        RedisType type = await database.KeyTypeAsync(key).ConfigureAwait(false);
        if (type == RedisType.None)
        {
            await SkipAsync(uuid, "the key was deleted during the scan").ConfigureAwait(false);
            return;
        }

        if (type != RedisType.String)
        {
            await SkipAsync(uuid, $"the value is a {type.ToString().ToLowerInvariant()}, not a string").ConfigureAwait(false);
            return;
        }

        // GETRANGE's end is inclusive: one byte more than the limit tells that the value is over it.
        var value = (byte[]?)await database.StringGetRangeAsync(key, 0, MaxValueBytes).ConfigureAwait(false);
        if (value is null)
        {
            await SkipAsync(uuid, "the key was deleted during the scan").ConfigureAwait(false);
            return;
        }

        if (value.Length > MaxValueBytes)
        {
            await SkipAsync(uuid, string.Create(CultureInfo.InvariantCulture, $"the value is over {MaxValueBytes} bytes")).ConfigureAwait(false);
            return;
        }

        if (!NodeRendezvousSecret.TryParse(value, out NodeRendezvousSecret? secret, out string? problem))
        {
            await SkipAsync(uuid, problem).ConfigureAwait(false);
            return;
        }

        var entry = new SecretEntry(uuid, secret.Secret, secret.Step, secret.Digits, _timeProvider.GetUtcNow());
        if (_importedNow.Contains(uuid) || !await TryAddAsync(entry, cancellationToken).ConfigureAwait(false))
        {
            await SkipAsync(uuid, "already present in the secret store; not overwritten").ConfigureAwait(false);
            return;
        }

        _importedNow.Add(uuid);
        Imported++;
        await _report.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"{(_dryRun ? "would import" : "imported")} {uuid} (step {entry.Step} s, {entry.Digits} digits)")).ConfigureAwait(false);
    }

    /// <summary>Adds the entry (in a dry run: checks that it could be added).</summary>
    /// <returns><see langword="false"/> when the store already has the UUID.</returns>
    private async Task<bool> TryAddAsync(SecretEntry entry, CancellationToken cancellationToken)
    {
        if (_dryRun)
        {
            return await _store.TryGetAsync(entry.Uuid, cancellationToken).ConfigureAwait(false) is null;
        }

        try
        {
            await _store.AddAsync(entry, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DuplicateSecretException)
        {
            return false;
        }
    }

    private async Task SkipAsync(string key, string reason)
    {
        Skipped++;
        await _report.WriteLineAsync($"skipped {key}: {reason}").ConfigureAwait(false);
    }

    /// <summary>A key as the report shows it: quoted, control characters escaped, cut after 80 characters.</summary>
    private static string Show(string text) => text.Length <= MaxShownKeyChars
        ? $"'{ControlText.Escape(text)}'"
        : $"'{ControlText.Escape(text[..MaxShownKeyChars])}'...";
}
