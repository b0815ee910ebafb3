using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>Counts one counter of one server by the value of one tag, e.g. <c>rendezvous.sessions</c> by <c>end</c>.</summary>
internal sealed class TaggedCounterListener : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _firsts = new();

    private TaggedCounterListener(IServiceProvider services, string instrumentName, string tagKey)
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == instrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == tagKey && tag.Value is string tagValue)
                {
                    _counts.AddOrUpdate(tagValue, (int)value, (_, old) => old + (int)value);
                    First(tagValue).TrySetResult();
                }
            }
        });
        _listener.Start();
    }

    /// <summary><c>rendezvous.handshake.failures</c> by <c>reason</c>.</summary>
    public static TaggedCounterListener HandshakeFailures(IServiceProvider services) => new(services, "rendezvous.handshake.failures", "reason");

    /// <summary><c>rendezvous.sessions</c> (sessions that ended) by <c>end</c>.</summary>
    public static TaggedCounterListener SessionEnds(IServiceProvider services) => new(services, "rendezvous.sessions", "end");

    public int Count(string tagValue) => _counts.GetValueOrDefault(tagValue);

    /// <summary>Completes once <paramref name="tagValue"/> was counted (at once when it was already).</summary>
    public Task Counted(string tagValue) => First(tagValue).Task;

    public void Dispose() => _listener.Dispose();

    private TaskCompletionSource First(string tagValue) =>
        _firsts.GetOrAdd(tagValue, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
