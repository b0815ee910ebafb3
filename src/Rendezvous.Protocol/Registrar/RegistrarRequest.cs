using System.Net;

namespace Rendezvous.Protocol.Registrar;

/// <summary>An HTTP request to the registrar, reduced to what the protocol looks at.</summary>
/// <param name="Method">The HTTP method, as sent (methods are case-sensitive).</param>
/// <param name="Uuid">The <c>uuid</c> query parameter; <see langword="null"/> or empty when missing.</param>
/// <param name="Response">The <c>response</c> query parameter; <see langword="null"/> when absent.</param>
/// <param name="RemoteAddress">The caller's address.</param>
/// <param name="RequestHost">The host name the caller used to reach the registrar (Host header, without port).</param>
public sealed record RegistrarRequest(string Method, string? Uuid, string? Response, IPAddress? RemoteAddress, string? RequestHost);
