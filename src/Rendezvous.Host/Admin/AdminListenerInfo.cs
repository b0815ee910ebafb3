namespace Rendezvous.Host.Admin;

/// <summary>What the admin listener is bound to, filled in when it starts.</summary>
internal sealed class AdminListenerInfo
{
    /// <summary>The bound URL (with the real port when port 0 was configured), or <see langword="null"/> while not listening.</summary>
    public Uri? Url { get; set; }

    /// <summary>The token file in use, or <see langword="null"/> when the token is configured.</summary>
    public string? TokenFile { get; set; }
}
