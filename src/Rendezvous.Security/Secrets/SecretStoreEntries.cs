using System.Globalization;
using System.Text.Json.Nodes;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Security;

/// <summary>
/// The TOTP secrets of a <see cref="SecretStore"/> as the admin page sees them: entries with a time step and a number of
/// digits, a random secret made on creation and rotation, and the config-file settings <c>secret</c> (base32),
/// <c>step</c> and <c>digits</c>.
/// </summary>
internal sealed class SecretStoreEntries(SecretStore store, TimeProvider time) : IRegistrationEntryStore
{
    private const string StepField = "step";
    private const string DigitsField = "digits";

    public IReadOnlyList<RegistrationEntryField> CreationFields { get; } =
    [
        new(StepField, $"Time step (seconds, {SecretFormat.MinimumStep} to {SecretFormat.MaximumStep})", SecretFormat.DefaultStep.ToString(CultureInfo.InvariantCulture), Numeric: true),
        new(DigitsField, $"Digits ({SecretFormat.MinimumDigits} to {SecretFormat.MaximumDigits})", SecretFormat.DefaultDigits.ToString(CultureInfo.InvariantCulture), Numeric: true),
    ];

    public string CreationNote => $"A random {SecretFormat.GeneratedSecretBytes * 8}-bit secret is made";

    public async Task<IReadOnlyList<RegistrationEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        var entries = await store.ListAsync(cancellationToken).ConfigureAwait(false);
        return [.. entries.Select(ToEntry)];
    }

    public async Task<RegistrationEntry?> TryGetAsync(string uuid, CancellationToken cancellationToken = default) =>
        await store.TryGetAsync(uuid, cancellationToken).ConfigureAwait(false) is { } entry ? ToEntry(entry) : null;

    public IReadOnlyList<string> Validate(IReadOnlyDictionary<string, string> values)
    {
        var problems = new List<string>();
        var step = values.GetValueOrDefault(StepField, string.Empty);
        if (!TryParse(step, SecretFormat.IsValidStep, out _))
        {
            problems.Add($"The time step '{step}' is not accepted; it must be a whole number of seconds from {SecretFormat.MinimumStep} to {SecretFormat.MaximumStep}.");
        }

        var digits = values.GetValueOrDefault(DigitsField, string.Empty);
        if (!TryParse(digits, SecretFormat.IsValidDigits, out _))
        {
            problems.Add($"The digits '{digits}' are not accepted; a code has from {SecretFormat.MinimumDigits} to {SecretFormat.MaximumDigits} digits.");
        }

        return problems;
    }

    public async Task<RegistrationEntry?> TryCreateAsync(string uuid, IReadOnlyDictionary<string, string> values, CancellationToken cancellationToken = default)
    {
        if (Validate(values) is [var first, ..])
        {
            throw new ArgumentException(first, nameof(values));
        }

        TryParse(values[StepField], SecretFormat.IsValidStep, out var step);
        TryParse(values[DigitsField], SecretFormat.IsValidDigits, out var digits);
        var entry = new SecretEntry(uuid, SecretFormat.CreateRandomSecret(), step, digits, time.GetUtcNow());
        try
        {
            await store.AddAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch (DuplicateSecretException)
        {
            return null;
        }

        return ToEntry(entry);
    }

    public Task<bool> RotateAsync(string uuid, CancellationToken cancellationToken = default) =>
        store.ReplaceSecretAsync(uuid, SecretFormat.CreateRandomSecret(), cancellationToken);

    public Task<bool> RemoveAsync(string uuid, CancellationToken cancellationToken = default) => store.RemoveAsync(uuid, cancellationToken);

    public async Task<JsonObject?> TryGetClientSettingsAsync(string uuid, CancellationToken cancellationToken = default) =>
        await store.TryGetAsync(uuid, cancellationToken).ConfigureAwait(false) is { } entry
            ? new JsonObject
            {
                ["secret"] = SecretFormat.ToBase32(entry.Secret),
                ["step"] = entry.Step,
                ["digits"] = entry.Digits,
            }
            : null;

    public Task<string?> CheckHealthAsync(CancellationToken cancellationToken = default) => store.CheckHealthAsync(cancellationToken);

    private static RegistrationEntry ToEntry(SecretEntry entry) =>
        new(entry.Uuid, entry.CreatedAt, string.Create(CultureInfo.InvariantCulture, $"step {entry.Step} s, {entry.Digits} digits"));

    private static bool TryParse(string text, Func<int, bool> isValid, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && isValid(value);
}
