namespace Rendezvous.Protocol.Policy;

/// <summary>
/// One entry of an <see cref="IRegistrationEntryStore"/>: a UUID that may register. It carries no credentials
/// (those come only from <see cref="IRegistrationEntryStore.TryGetClientSettingsAsync"/>), so it is safe to show and log.
/// </summary>
/// <param name="Uuid">The UUID, in lower-case canonical form.</param>
/// <param name="CreatedAt">When the entry was created.</param>
/// <param name="Summary">Its settings in a few words without any secret, e.g. <c>step 30 s, 6 digits</c>.</param>
public sealed record RegistrationEntry(string Uuid, DateTimeOffset CreatedAt, string Summary);

/// <summary>A setting a new entry is created with, as the admin page's creation form asks for it.</summary>
/// <param name="Name">The form field's name and id, e.g. <c>step</c>.</param>
/// <param name="Label">The label, with the accepted range, e.g. <c>Time step (seconds, 1 to 300)</c>.</param>
/// <param name="DefaultValue">The value the form starts with.</param>
/// <param name="Numeric">Whether the value is a whole number (the form then asks for digits and takes at most 10).</param>
public sealed record RegistrationEntryField(string Name, string Label, string DefaultValue, bool Numeric = false);
