using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Registrar;

namespace Rendezvous.Redis;

/// <summary>In a cluster the registrar's public host is required: other nodes hand it out in triples, so the request's host cannot stand in for it.</summary>
internal sealed class ClusterRegistrarOptionsValidator : IValidateOptions<RegistrarOptions>
{
    public ValidateOptionsResult Validate(string? name, RegistrarOptions options)
        => string.IsNullOrWhiteSpace(options.PublicHost)
            ? ValidateOptionsResult.Fail("Rendezvous:Registrar:PublicHost is required in a cluster (--public-host NAME): the other nodes put it into the triples they hand out, e.g. node1.example.net.")
            : ValidateOptionsResult.Success;
}
