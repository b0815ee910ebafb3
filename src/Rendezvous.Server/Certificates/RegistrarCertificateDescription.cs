using System.Globalization;
using System.Text;

namespace Rendezvous.Server.Certificates;

/// <summary>
/// A certificate described for people, as <c>rendezvous cert show</c> prints it; made by
/// <see cref="RegistrarCertificates.Describe"/>.
/// </summary>
public sealed class RegistrarCertificateDescription
{
    internal RegistrarCertificateDescription(
        string sha256Fingerprint, string subject, IReadOnlyList<string> names, string? issuer, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        Sha256Fingerprint = sha256Fingerprint;
        Subject = subject;
        Names = names;
        Issuer = issuer;
        NotBefore = notBefore;
        NotAfter = notAfter;
    }

    /// <summary>The SHA-256 fingerprint clients pin, in canonical form (<c>AB:CD:…</c>).</summary>
    public string Sha256Fingerprint { get; }

    /// <summary>The subject's distinguished name, e.g. <c>CN=relay.example.com</c>.</summary>
    public string Subject { get; }

    /// <summary>The subject alternative names: DNS names, then IP addresses; empty when there are none.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The issuer's distinguished name; <see langword="null"/> when the certificate is self-signed (issued by its subject).</summary>
    public string? Issuer { get; }

    /// <summary>The start of the validity, in UTC.</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>The end of the validity, in UTC.</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>A time as certificates are shown: <c>yyyy-MM-dd HH:mm:ss UTC</c>.</summary>
    /// <param name="time">The time.</param>
    /// <returns>The time in UTC, to the second.</returns>
    public static string FormatTime(DateTimeOffset time) =>
        time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Lays labelled values out one a line, the values aligned after the longest label, e.g.
    /// <c>SHA-256 fingerprint: AB:CD:…</c>. Each line ends with <see cref="Environment.NewLine"/>.
    /// </summary>
    /// <param name="fields">The labels (without colon) and values, in order.</param>
    /// <returns>The lines.</returns>
    public static string FormatFields(IEnumerable<KeyValuePair<string, string>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        List<KeyValuePair<string, string>> list = [.. fields];
        int width = list.Count == 0 ? 0 : list.Max(field => field.Key.Length) + 2;
        var text = new StringBuilder();
        foreach ((string label, string value) in list)
        {
            text.Append((label + ":").PadRight(width)).Append(value).Append(Environment.NewLine);
        }

        return text.ToString();
    }

    /// <summary>
    /// The description as labelled values: SHA-256 fingerprint, subject, names, issuer, valid from and valid until
    /// (marked <c>(expired)</c> or <c>(not valid yet)</c> at <paramref name="now"/>); for <see cref="FormatFields"/>.
    /// </summary>
    /// <param name="now">The time the validity is judged at.</param>
    /// <returns>The labelled values, in that order.</returns>
    public IReadOnlyList<KeyValuePair<string, string>> ToFields(DateTimeOffset now)
    {
        string state = now < NotBefore ? " (not valid yet)" : now > NotAfter ? " (expired)" : string.Empty;
        return
        [
            new("SHA-256 fingerprint", Sha256Fingerprint),
            new("Subject", Subject),
            new("Names", Names.Count > 0 ? string.Join(", ", Names) : "none"),
            new("Issuer", Issuer ?? "itself (self-signed)"),
            new("Valid from", FormatTime(NotBefore)),
            new("Valid until", FormatTime(NotAfter) + state),
        ];
    }
}
