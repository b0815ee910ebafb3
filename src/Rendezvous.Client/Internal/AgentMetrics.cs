using System.Diagnostics.Metrics;
using Rendezvous.Client.Agent;

namespace Rendezvous.Client.Internal;

/// <summary>
/// A hidden-server agent's state as metrics, in the meter <c>Rendezvous.Client</c>, read from its
/// <see cref="HiddenServerAgent.Status"/> whenever a listener collects (nothing on the hot path).
/// </summary>
internal sealed class AgentMetrics : IDisposable
{
    public const string MeterName = "Rendezvous.Client";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public AgentMetrics(Func<HiddenServerStatus> status, string uuid, IMeterFactory? meterFactory)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _ownsMeter = meterFactory is null;
        var tag = new KeyValuePair<string, object?>("uuid", uuid);
        _meter.CreateObservableGauge("rendezvous.agent.parked", () => new Measurement<int>(status().Parked, tag), "{connection}", "Connections the agent keeps parked at the relay now.");
        _meter.CreateObservableGauge("rendezvous.agent.sessions.active", () => new Measurement<int>(status().ActiveSessions, tag), "{session}", "Sessions the agent is serving now.");
        _meter.CreateObservableCounter("rendezvous.agent.sessions", () => new Measurement<long>(status().TotalSessions, tag), "{session}", "Sessions the agent has served.");
        _meter.CreateObservableCounter("rendezvous.agent.registrations", () => new Measurement<long>(status().Registrations, tag), "{registration}", "Successful registrations.");
        _meter.CreateObservableGauge("rendezvous.agent.registered", () => new Measurement<int>(status().State == HiddenServerState.Registered ? 1 : 0, tag), "{state}", "1 while the agent is registered, else 0.");
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
