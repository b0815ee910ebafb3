using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Rendezvous.Benchmarks.LoadGen;

/// <summary>What one scenario run measured; printed as one JSON line.</summary>
internal sealed class ScenarioResult
{
    private readonly List<KeyValuePair<string, object?>> _values = [];

    public ScenarioResult(string scenario, string target)
    {
        Scenario = scenario;
        Target = target;
    }

    public string Scenario { get; }

    public string Target { get; }

    /// <summary>Bytes received and checked against what the other side sent.</summary>
    public long BytesVerified { get; set; }

    /// <summary>Completed units of work: round trips, rendezvous, sessions checked.</summary>
    public long Operations { get; set; }

    public long Errors { get; set; }

    /// <summary>The first error's message, if any.</summary>
    public string? FirstError { get; set; }

    public IReadOnlyList<KeyValuePair<string, object?>> Values => _values;

    public void Add(string key, object? value) => _values.Add(new(key, value));

    public object? Get(string key) => _values.LastOrDefault(v => v.Key == key).Value;

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("scenario", Scenario);
            json.WriteString("target", Target);
            json.WriteNumber("errors", Errors);
            json.WriteNumber("bytesVerified", BytesVerified);
            json.WriteNumber("operations", Operations);
            foreach (var (key, value) in _values)
            {
                switch (value)
                {
                    case null: json.WriteNull(key); break;
                    case double d: json.WriteNumber(key, Math.Round(d, 6)); break;
                    case long l: json.WriteNumber(key, l); break;
                    case int i: json.WriteNumber(key, i); break;
                    default: json.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
                }
            }

            if (FirstError is not null)
            {
                json.WriteString("firstError", FirstError);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>Counts errors across concurrent tasks and keeps the first message.</summary>
internal sealed class ErrorLog
{
    private long _count;
    private string? _first;

    public long Count => Interlocked.Read(ref _count);

    public string? First => Volatile.Read(ref _first);

    public void Record(Exception exception)
    {
        Interlocked.Increment(ref _count);
        Interlocked.CompareExchange(ref _first, $"{exception.GetType().Name}: {exception.Message}", null);
    }
}
