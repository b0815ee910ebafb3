using System.Net;

namespace Rendezvous.Protocol.Policy;

/// <summary>One registration attempt, as the registrar received it.</summary>
/// <param name="Uuid">The UUID the hidden server registers for (never empty).</param>
/// <param name="Response">The one-time code the hidden server sent, unvalidated.</param>
/// <param name="RemoteAddress">The address the request came from, when known.</param>
public sealed record RegistrationRequest(string Uuid, string Response, IPAddress? RemoteAddress);
