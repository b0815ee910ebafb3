namespace Rendezvous.Protocol.Registrar;

/// <summary>What the registrar tells clients about the rendezvous endpoint. Configuration section <c>Rendezvous:Registrar</c>.</summary>
public sealed class RegistrarOptions
{
    /// <summary>
    /// The host name or address put into triples. When unset, the host name the client used to reach
    /// the registrar is used, so it works on loopback and on a server reached by IP with no configuration.
    /// Defaults to unset.
    /// </summary>
    public string? PublicHost { get; set; }

    /// <summary>
    /// The port put into triples. When unset, the port the rendezvous listener is bound to.
    /// Set it when a port forward or load balancer sits in front. Defaults to unset.
    /// </summary>
    public int? PublicPort { get; set; }
}
