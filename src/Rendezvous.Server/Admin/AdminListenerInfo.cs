namespace Rendezvous.Server.Admin;

/// <summary>What the admin listener is bound to, filled in when it starts (a singleton service).</summary>
public sealed class AdminListenerInfo
{
    /// <summary>The bound URL (with the real port when port 0 was configured), or <see langword="null"/> while not listening.</summary>
    public Uri? Url { get; internal set; }

    /// <summary>The token file in use, or <see langword="null"/> when the token is configured.</summary>
    public string? TokenFile { get; internal set; }
}
