using Rendezvous.Client;

namespace Rendezvous.Host.Commands;

/// <summary>The exit codes of <c>rendezvous expose</c> and <c>rendezvous connect</c>, as documented in docs/cli.md.</summary>
internal static class ClientExitCodes
{
    /// <summary>Stopped on request, or (<c>connect --stdio</c>) both directions ended cleanly.</summary>
    public const int Success = 0;

    /// <summary>Anything else: a permanent refusal by the registrar or relay, a session that broke off, a local listener that could not start.</summary>
    public const int Failed = 1;

    /// <summary>Bad input: a malformed flag value or config file; the message names the field or value.</summary>
    public const int BadInput = 2;

    /// <summary><c>expose</c>: another hidden server registered the same UUID, and this one stepped back.</summary>
    public const int Superseded = 4;

    /// <summary>The registrar's or the hidden server's certificate is not the pinned one, or (no pin) the system trust store does not trust the registrar's.</summary>
    public const int PinMismatch = 5;

    /// <summary><c>connect</c>: the hidden server is not registered (offline, or an unknown UUID: the two look the same).</summary>
    public const int NotRegistered = 6;

    /// <summary><c>connect</c>: the hidden server is registered but had no connection waiting, or an answer did not come in time.</summary>
    public const int NotReady = 7;

    /// <summary>The registrar or the relay could not be reached, or every registrar answered that it is unavailable (5xx).</summary>
    public const int Unreachable = 8;

    /// <summary>Maps a failure of the client library to its exit code.</summary>
    public static int For(RendezvousException exception) => exception.Error switch
    {
        RendezvousError.CertificateMismatch => PinMismatch,
        RendezvousError.Superseded => Superseded,
        RendezvousError.NotRegistered => NotRegistered,
        RendezvousError.NotReady or RendezvousError.Timeout => NotReady,
        RendezvousError.Transport or RendezvousError.Unavailable => Unreachable,
        _ => Failed,
    };
}
