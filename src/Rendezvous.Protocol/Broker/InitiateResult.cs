namespace Rendezvous.Protocol.Broker;

/// <summary>What happened to an initiator's request.</summary>
public enum InitiateStatus
{
    /// <summary>Paired with a parked responder.</summary>
    Paired,

    /// <summary>The cookie is not current.</summary>
    NotRegistered,

    /// <summary>No responder parked within the grace time.</summary>
    NotReady,
}

/// <summary>The answer of <see cref="RendezvousBroker.InitiateAsync"/>.</summary>
/// <param name="Status">Paired, not registered or not ready.</param>
/// <param name="Responder">The responder, when paired; the caller owns its connection from now on.</param>
public readonly record struct InitiateResult(InitiateStatus Status, ParkedResponder? Responder);
