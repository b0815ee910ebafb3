using Microsoft.Extensions.Options;

namespace Rendezvous.Tests.Common;

/// <summary>An <see cref="IOptionsMonitor{TOptions}"/> over one instance that tests may change between steps.</summary>
/// <typeparam name="TOptions">The options type.</typeparam>
public sealed class TestOptionsMonitor<TOptions> : IOptionsMonitor<TOptions>
{
    /// <summary>Wraps <paramref name="value"/>.</summary>
    /// <param name="value">The options every read returns.</param>
    public TestOptionsMonitor(TOptions value)
    {
        CurrentValue = value;
    }

    /// <inheritdoc />
    public TOptions CurrentValue { get; set; }

    /// <inheritdoc />
    public TOptions Get(string? name) => CurrentValue;

    /// <inheritdoc />
    public IDisposable? OnChange(Action<TOptions, string?> listener) => null;
}

/// <summary>Creates <see cref="TestOptionsMonitor{TOptions}"/>s.</summary>
public static class TestOptionsMonitor
{
    /// <summary>A monitor that always returns <paramref name="value"/>.</summary>
    /// <typeparam name="TOptions">The options type.</typeparam>
    /// <param name="value">The options.</param>
    /// <returns>The monitor.</returns>
    public static TestOptionsMonitor<TOptions> Create<TOptions>(TOptions value) => new(value);
}
