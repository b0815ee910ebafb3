using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>Counts <c>rendezvous.handshake.failures</c> of one server by reason.</summary>
internal sealed class HandshakeFailureListener : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, int> _counts = new();

    public HandshakeFailureListener(IServiceProvider services)
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "rendezvous.handshake.failures")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag is { Key: "reason", Value: string reason })
                {
                    _counts.AddOrUpdate(reason, (int)value, (_, old) => old + (int)value);
                }
            }
        });
        _listener.Start();
    }

    public int Count(string reason) => _counts.GetValueOrDefault(reason);

    public void Dispose() => _listener.Dispose();
}
