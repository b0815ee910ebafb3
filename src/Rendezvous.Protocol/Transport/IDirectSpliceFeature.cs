using Rendezvous.Protocol.Splicing;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// A connection feature (see <see cref="RelayConnection.GetFeature{TFeature}"/>): the transport can relay this
/// connection and a peer of the same transport by itself, without the splicer's pipes and copy loops. The socket
/// transport copies socket to socket. <see cref="Splicer"/> asks the initiator for it and falls back to its pipe
/// copy loops when the feature is missing or <see cref="TrySpliceDirectAsync"/> declines.
/// </summary>
/// <remarks>
/// The direct relay keeps the splice's contract: a clean end of one side's input becomes a half-close of the other
/// side's output, a failure on either side aborts both, and what was written to either output before is sent first.
/// </remarks>
public interface IDirectSpliceFeature
{
    /// <summary>
    /// Completes when this connection's direction of a direct splice ended (its input relayed to the peer's output),
    /// telling how. Meaningful only after <see cref="TrySpliceDirectAsync"/> returned <see langword="true"/>.
    /// </summary>
    Task<CopyEnd> DirectRelay { get; }

    /// <summary>Whether this direction of a direct splice failed before the other one (and aborted both).</summary>
    bool FailedFirst { get; }

    /// <summary>Bytes relayed from this connection to its peer in a direct splice so far.</summary>
    long RelayedDirectly { get; }

    /// <summary>
    /// Splices this connection (the "up" direction: its input goes to <paramref name="peer"/>) and
    /// <paramref name="peer"/> directly, when both are in a state to.
    /// </summary>
    /// <param name="peer">The other side; it must offer this feature too for the splice to happen.</param>
    /// <param name="onBytes">Called after each relayed chunk with its size; may be <see langword="null"/>.</param>
    /// <returns>
    /// <see langword="true"/> when the splice runs (then both connections offer this feature and their
    /// <see cref="DirectRelay"/> tasks tell when it ends); <see langword="false"/>, with nothing changed, when
    /// <paramref name="peer"/> is of another transport or either side cannot splice directly now.
    /// </returns>
    /// <exception cref="IOException">A connection failed while its pending output was handed over.</exception>
    ValueTask<bool> TrySpliceDirectAsync(RelayConnection peer, Action<long>? onBytes);
}
