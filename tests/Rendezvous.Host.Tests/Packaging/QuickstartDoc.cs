using System.Text.RegularExpressions;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>The commands of docs/quickstart.md, as written there, so that tests run what a reader types.</summary>
internal static partial class QuickstartDoc
{
    /// <summary>The text of docs/quickstart.md.</summary>
    public static string Text => File.ReadAllText(RepositoryRoot.Combine("docs", "quickstart.md"));

    /// <summary>Every line of the document's <c>sh</c> code blocks.</summary>
    public static IReadOnlyList<string> ShellLines =>
        [.. ShellBlock().Matches(Text).SelectMany(m => m.Groups["body"].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    /// <summary>
    /// The arguments of the first <c>rendezvous</c> command of a code block that starts with <paramref name="prefix"/>
    /// (e.g. <c>cert create</c>), without the trailing comment; fails the test when there is none.
    /// </summary>
    public static string[] RendezvousCommand(string prefix)
    {
        var line = ShellLines.FirstOrDefault(l => l.StartsWith("rendezvous " + prefix + " ", StringComparison.Ordinal));
        Assert.That(line, Is.Not.Null, $"docs/quickstart.md has no 'rendezvous {prefix} ...' command");
        var withoutComment = line!.Split(" #", 2)[0];
        return withoutComment.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..];
    }

    /// <summary>The value after <paramref name="option"/> in <paramref name="args"/>; fails the test when it is missing.</summary>
    public static string ValueOf(string[] args, string option)
    {
        var at = Array.IndexOf(args, option);
        Assert.That(at, Is.GreaterThanOrEqualTo(0).And.LessThan(args.Length - 1), $"'{string.Join(' ', args)}' has no {option} VALUE");
        return args[at + 1];
    }

    [GeneratedRegex("```sh\\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex ShellBlock();
}
