using System.Globalization;

namespace Rendezvous.Security;

/// <summary>
/// One hidden server's shared TOTP secret, as provisioned out of band (security model point 2).
/// </summary>
/// <param name="Uuid">The UUID the secret belongs to, in lower-case canonical form (see <see cref="SecretFormat.TryNormalizeUuid"/>).</param>
/// <param name="Secret">The raw shared secret (HMAC-SHA1 key); at least <see cref="SecretFormat.MinimumSecretBytes"/> bytes.</param>
/// <param name="Step">The TOTP time step in seconds, between <see cref="SecretFormat.MinimumStep"/> and <see cref="SecretFormat.MaximumStep"/>.</param>
/// <param name="Digits">The number of digits of a code, between <see cref="SecretFormat.MinimumDigits"/> and <see cref="SecretFormat.MaximumDigits"/>.</param>
/// <param name="CreatedAt">When the entry was created.</param>
public sealed record SecretEntry(string Uuid, byte[] Secret, int Step, int Digits, DateTimeOffset CreatedAt)
{
    /// <summary>
    /// Builds the <c>otpauth://</c> URI authenticator apps and hidden-server agents import:
    /// <c>otpauth://totp/Rendezvous:&lt;uuid&gt;?secret=&lt;BASE32&gt;&amp;issuer=Rendezvous&amp;algorithm=SHA1&amp;digits=&lt;d&gt;&amp;period=&lt;step&gt;</c>.
    /// </summary>
    /// <returns>The URI; it contains the secret, so treat it as one.</returns>
    public string ToOtpAuthUri() => string.Create(
        CultureInfo.InvariantCulture,
        $"otpauth://totp/Rendezvous:{Uri.EscapeDataString(Uuid)}?secret={SecretFormat.ToBase32(Secret)}&issuer=Rendezvous&algorithm=SHA1&digits={Digits}&period={Step}");

    /// <summary>Returns a description without the secret, so an entry can be logged or printed safely.</summary>
    /// <returns>The UUID, step, digits and creation time.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"SecretEntry {{ Uuid = {Uuid}, Step = {Step}, Digits = {Digits}, CreatedAt = {CreatedAt:O} }}");
}
