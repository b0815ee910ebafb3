namespace Rendezvous.Protocol.Splicing;

/// <summary>How one direction of a splice ended.</summary>
public enum CopyEnd
{
    /// <summary>The source ended cleanly and the end was passed on as a half-close.</summary>
    Completed,

    /// <summary>Reading the source failed (reset, error): the source's side broke.</summary>
    ReadFailed,

    /// <summary>Writing to the destination failed: the destination's side broke.</summary>
    WriteFailed,

    /// <summary>The copy was cancelled.</summary>
    Canceled,
}
