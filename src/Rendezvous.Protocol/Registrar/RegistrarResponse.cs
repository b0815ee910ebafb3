namespace Rendezvous.Protocol.Registrar;

/// <summary>The registrar's answer: status, JSON body and the headers that go with them.</summary>
/// <param name="StatusCode">The HTTP status code.</param>
/// <param name="Body">The JSON body (always a <c>result</c> or an <c>error</c> object).</param>
/// <param name="Allow">The <c>Allow</c> header for 405 answers.</param>
/// <param name="RetryAfter">The <c>Retry-After</c> header for 429 answers.</param>
public sealed record RegistrarResponse(int StatusCode, string Body, string? Allow = null, TimeSpan? RetryAfter = null)
{
    /// <summary>The content type of every answer.</summary>
    public const string ContentType = "application/json";

    /// <summary>The <c>Retry-After</c> header value in whole seconds (rounded up), when set.</summary>
    public string? RetryAfterSeconds => RetryAfter is { } wait ? ((long)Math.Ceiling(Math.Max(1, wait.TotalSeconds))).ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
}
