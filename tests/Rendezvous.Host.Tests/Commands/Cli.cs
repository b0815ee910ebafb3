using System.CommandLine;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Commands;

/// <summary>Runs the <c>rendezvous</c> command tree in-process with captured standard output and error.</summary>
internal static class Cli
{
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exitCode = await Program.BuildRootCommand().Parse(args)
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = error })
            .WaitAsync(TestTimeouts.Long);
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }

    /// <summary>The value of the one <c>Label: value</c> line of <paramref name="output"/>.</summary>
    public static string Value(string output, string label) =>
        output.Split('\n').Single(line => line.StartsWith(label, StringComparison.Ordinal))[label.Length..].Trim();
}

/// <summary>What a command run gave.</summary>
internal sealed record CliResult(int ExitCode, string Output, string Error);
