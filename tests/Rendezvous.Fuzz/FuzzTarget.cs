namespace Rendezvous.Fuzz;

/// <summary>
/// One fuzzing target: feeds an input to a parser of the project and lets only its documented outcomes pass.
/// Anything else (an undocumented exception, a broken invariant) is thrown, which afl-fuzz records as a crash.
/// </summary>
internal abstract class FuzzTarget : IDisposable
{
    /// <summary>The name eng/fuzz.sh and the corpus folders use.</summary>
    public abstract string Name { get; }

    /// <summary>The assemblies whose code the target exercises, to be instrumented by sharpfuzz.</summary>
    public abstract IReadOnlyList<string> InstrumentedAssemblies { get; }

    /// <summary>Runs one input; returns on a documented outcome and throws otherwise.</summary>
    /// <param name="input">The fuzzer's bytes.</param>
    public abstract void Run(ReadOnlySpan<byte> input);

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what the target holds (temporary files, services).</summary>
    /// <param name="disposing">Whether called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>A target's own check failed: the code under test answered something its contract does not allow.</summary>
internal sealed class FuzzContractException : Exception
{
    public FuzzContractException()
    {
    }

    public FuzzContractException(string message)
        : base(message)
    {
    }

    public FuzzContractException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
