namespace Rendezvous.Protocol.Splicing;

/// <summary>How a spliced session ended.</summary>
public enum SpliceEnd
{
    /// <summary>Both sides ended their sending direction cleanly.</summary>
    Completed,

    /// <summary>The responder (hidden server) side reset or failed; both sides were closed.</summary>
    ResponderFailed,

    /// <summary>The initiator (mobile client) side reset or failed; both sides were closed.</summary>
    InitiatorFailed,

    /// <summary>The session was cancelled (server shutting down); both sides were closed.</summary>
    Canceled,
}

/// <summary>The outcome of <see cref="Splicer.SpliceAsync"/>.</summary>
/// <param name="End">Why the session ended.</param>
/// <param name="BytesFromInitiator">Bytes relayed from the initiator to the responder.</param>
/// <param name="BytesFromResponder">Bytes relayed from the responder to the initiator.</param>
public readonly record struct SpliceResult(SpliceEnd End, long BytesFromInitiator, long BytesFromResponder);
