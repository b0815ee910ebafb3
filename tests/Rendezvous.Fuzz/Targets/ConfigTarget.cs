using Rendezvous.Client.Agent;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Fuzz.Targets;

/// <summary>
/// The hidden-server config file <c>expose --config</c> reads, <see cref="HiddenServerConfigFile.TryLoad"/>: the input is
/// the file (a <c>ca.pem</c> sits beside it, so <c>"registrarCaFile":"ca.pem"</c> resolves). The documented outcomes
/// are a valid configuration, or <see langword="false"/> with one line that names the file; never an exception.
/// </summary>
internal sealed class ConfigTarget : FuzzTarget
{
    private readonly TemporaryDirectory _folder = new();
    private readonly string _path;

    public ConfigTarget()
    {
        _path = _folder.Combine("hidden-server.json");
        File.WriteAllText(_folder.Combine("ca.pem"), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    }

    public override string Name => "config";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["rendezvous.dll", "Rendezvous.Security.dll", "Rendezvous.Protocol.dll", "Rendezvous.Client.dll"];

    public override void Run(ReadOnlySpan<byte> input)
    {
        File.WriteAllBytes(_path, input.ToArray());
        if (!HiddenServerConfigFile.TryLoad(_path, out HiddenServerConfigFile? config, out string? error))
        {
            if (!error.Contains(_path, StringComparison.Ordinal) || error.Contains('\n', StringComparison.Ordinal))
            {
                throw new FuzzContractException($"the error is not one line naming the file: {error}");
            }

            return;
        }

        if (config.RegistrarUrl.Scheme != Uri.UriSchemeHttps
            || !SecretFormat.TryNormalizeUuid(config.Uuid, out _)
            || !SecretFormat.TryParseBase32(config.Secret, out _)
            || !SecretFormat.IsValidStep(config.Step)
            || !SecretFormat.IsValidDigits(config.Digits)
            || (config.RegistrarFingerprint is null && config.RegistrarCaFile is null && config.TrustSystemStore != true))
        {
            throw new FuzzContractException($"an accepted configuration is not valid: {config}");
        }

        // What expose does with it next: its trust settings, and the file it would write back.
        _ = config.ToTrust();
        if (!HiddenServerConfigFile.TryLoad(WriteBack(config), out _, out string? again))
        {
            throw new FuzzContractException($"the configuration does not read back after writing: {again}");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _folder.Dispose();
        }
    }

    private string WriteBack(HiddenServerConfigFile config)
    {
        string path = _folder.Combine("written.json");
        config.Write(path);
        return path;
    }
}
