namespace Rendezvous.Protocol.Splicing;

/// <summary>How one direction copied by <see cref="RelayCopy"/> ended.</summary>
/// <param name="End">How it ended.</param>
/// <param name="Bytes">The bytes copied until then.</param>
public readonly record struct CopyResult(CopyEnd End, long Bytes);
