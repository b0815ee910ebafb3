using Rendezvous.Fuzz;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Fuzz;

/// <summary>
/// Replays every committed input of tests/Rendezvous.Fuzz through its fuzzing target: the corpus eng/fuzz.sh grows
/// (corpus/TARGET/) and every crash or hang it found (crashes/TARGET/), each kept as the regression test of its fix.
/// A target lets only the documented outcomes of its parser pass (see each target's summary), so a crash input
/// fails here until the code is fixed.
/// </summary>
[TestFixture]
public sealed class FuzzCorpusTests
{
    private static readonly string InputRoot = Path.Combine(AppContext.BaseDirectory, "fuzz");

    public static IEnumerable<string> Targets => FuzzTargets.Names;

    [TestCaseSource(nameof(Targets))]
    public void Every_committed_input_of_the_target_gets_a_documented_outcome(string name)
    {
        string[] corpus = Inputs("corpus", name);
        string[] crashes = Inputs("crashes", name);
        Assert.That(corpus, Is.Not.Empty, $"tests/Rendezvous.Fuzz/corpus/{name}/ holds no input");

        var failures = new List<string>();
        using (var target = FuzzTargets.Create(name))
        {
            foreach (string file in corpus.Concat(crashes))
            {
                byte[] input = File.ReadAllBytes(file);
                string shown = Path.GetRelativePath(InputRoot, file);
                try
                {
                    // A hang found by the fuzzer fails its input, not the whole run.
                    if (!Task.Run(() => target.Run(input)).Wait(TestTimeouts.Long))
                    {
                        Assert.Fail($"{shown} did not finish in {TestTimeouts.Long.TotalSeconds} s");
                    }
                }
                catch (AggregateException ex) when (ex.InnerException is { } inner and not OutOfMemoryException)
                {
                    failures.Add($"{shown}: {inner.GetType().Name}: {inner.Message}\n{inner.StackTrace}");
                }
            }
        }

        Assert.That(failures, Is.Empty, $"{failures.Count} of {corpus.Length + crashes.Length} inputs of '{name}' failed");
    }

    private static string[] Inputs(string kind, string target)
    {
        string folder = Path.Combine(InputRoot, kind, target);
        return Directory.Exists(folder) ? [.. Directory.GetFiles(folder).Order(StringComparer.Ordinal)] : [];
    }
}
