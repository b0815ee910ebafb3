using Rendezvous.Redis;
using Rendezvous.Security;

namespace Rendezvous.Fuzz.Targets;

/// <summary>
/// The parser of an original node-rendezvous Redis value that <c>users import --from-redis</c> uses,
/// <see cref="NodeRendezvousSecret.TryParse"/>: the input is the value's bytes (at most 64 KiB, as the importer
/// reads). The documented outcomes are a usable TOTP entry, or <see langword="false"/> with a short reason; never
/// an exception.
/// </summary>
internal sealed class RedisValueTarget : FuzzTarget
{
    private const int MaxReasonChars = 400;

    public override string Name => "redis";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["rendezvous.dll", "Rendezvous.Security.dll", "Rendezvous.Protocol.dll"];

    public override void Run(ReadOnlySpan<byte> input)
    {
        byte[] value = input.Length > NodeRendezvousImporter.MaxValueBytes ? input[..NodeRendezvousImporter.MaxValueBytes].ToArray() : input.ToArray();
        if (!NodeRendezvousSecret.TryParse(value, out NodeRendezvousSecret? secret, out string? problem))
        {
            if (problem.Length == 0 || problem.Length > MaxReasonChars || problem.Contains('\n', StringComparison.Ordinal))
            {
                throw new FuzzContractException($"the reason is not a short line: {problem}");
            }

            return;
        }

        if (secret.Secret.Length < SecretFormat.MinimumSecretBytes || !SecretFormat.IsValidStep(secret.Step) || !SecretFormat.IsValidDigits(secret.Digits))
        {
            throw new FuzzContractException($"an accepted value has a {secret.Secret.Length}-byte secret, step {secret.Step}, {secret.Digits} digits.");
        }
    }
}
