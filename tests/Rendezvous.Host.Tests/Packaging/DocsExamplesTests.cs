using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>
/// The C# examples of docs/embedding.md, docs/client.md and the packages' READMEs compile, as they appear there,
/// against the libraries. Each <c>```csharp</c> block there is preceded by a marker line
/// <c>&lt;!-- compile: NAME --&gt;</c> (a console project's implicit usings) or
/// <c>&lt;!-- compile: NAME web --&gt;</c> (an ASP.NET Core project's); the blocks of a document with one
/// NAME are the files of one project (at most one with top-level statements). Compiled in-process with
/// Roslyn against the assemblies this test runs with, with nullable warnings on: a warning fails too.
/// </summary>
public sealed partial class DocsExamplesTests
{
    /// <summary>The documents with examples, relative to the repository root.</summary>
    private static readonly string[] Documents =
    [
        "docs/embedding.md", "docs/client.md",
        .. PackageReadmes.Projects.Select(PackageReadmes.Path),
    ];

    /// <summary>The SDK's implicit usings of a console project (Microsoft.NET.Sdk).</summary>
    private static readonly string[] ConsoleUsings =
        ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks"];

    /// <summary>The SDK's implicit usings of an ASP.NET Core project (Microsoft.NET.Sdk.Web), besides the console ones.</summary>
    private static readonly string[] WebUsings =
    [
        "System.Net.Http.Json", "Microsoft.AspNetCore.Builder", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Http",
        "Microsoft.AspNetCore.Routing", "Microsoft.Extensions.Configuration", "Microsoft.Extensions.DependencyInjection",
        "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
    ];

    private static readonly Lazy<MetadataReference[]> References = new(LoadReferences);

    [GeneratedRegex(@"^<!-- compile: (?<name>[a-z0-9-]+)(?<web> web)? -->$")]
    private static partial Regex Marker();

    private sealed record Block(string Document, int Line, string? Name, bool Web, string Code);

    /// <summary>Each example project (document and name), for one test case each.</summary>
    public static IEnumerable<TestCaseData> Examples() =>
        Documents.SelectMany(document => ReadBlocks(document)
            .Where(b => b.Name is not null)
            .Select(b => b.Name!)
            .Distinct()
            .Select(name => new TestCaseData(document, name).SetName($"{document} example '{name}' compiles")));

    [Test]
    public void Every_csharp_block_of_the_docs_is_marked_to_compile()
    {
        var unmarked = Documents.SelectMany(ReadBlocks).Where(b => b.Name is null).Select(b => $"{b.Document}:{b.Line}").ToList();

        Assert.That(unmarked, Is.Empty, "put <!-- compile: NAME --> (or '<!-- compile: NAME web -->' for ASP.NET Core) on the line before each ```csharp block");
    }

    [TestCaseSource(nameof(Examples))]
    public void Example_compiles(string document, string name)
    {
        var blocks = ReadBlocks(document).Where(b => b.Name == name).ToList();
        var web = blocks.Any(b => b.Web);
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var usings = string.Concat((web ? [.. ConsoleUsings, .. WebUsings] : ConsoleUsings).Select(u => $"global using global::{u};\n"));
        var trees = blocks
            .Select(b => CSharpSyntaxTree.ParseText($"#line {b.Line + 1} \"{document}\"\n{b.Code}", parse, path: document))
            .Append(CSharpSyntaxTree.ParseText(usings, parse, path: "ImplicitUsings.g.cs"))
            .ToList();
        var program = trees.Any(t => t.GetCompilationUnitRoot().Members.OfType<Microsoft.CodeAnalysis.CSharp.Syntax.GlobalStatementSyntax>().Any());
        var options = new CSharpCompilationOptions(
            program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
            nullableContextOptions: NullableContextOptions.Enable,

            // Assembly version unification against the runtime's own assemblies, not a problem of the example.
            specificDiagnosticOptions: new Dictionary<string, ReportDiagnostic> { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress });
        var compilation = CSharpCompilation.Create($"DocsExample_{name.Replace('-', '_')}", trees, References.Value, options);

        using var assembly = new MemoryStream();
        var result = compilation.Emit(assembly);
        var problems = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()).ToList();

        Assert.That(problems, Is.Empty, $"{document} example '{name}' (blocks at lines {string.Join(", ", blocks.Select(b => b.Line))})");
    }

    /// <summary>The <c>```csharp</c> blocks of a document, with the line of their opening fence and their marker, if any.</summary>
    private static List<Block> ReadBlocks(string document)
    {
        var lines = File.ReadAllLines(RepositoryRoot.Combine(document.Split('/')));
        var blocks = new List<Block>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i] != "```csharp")
            {
                continue;
            }

            var end = Array.IndexOf(lines, "```", i + 1);
            Assert.That(end, Is.GreaterThan(i), $"{document}:{i + 1}: the ```csharp block is not closed");
            var marker = i > 0 ? Marker().Match(lines[i - 1]) : Match.Empty;
            blocks.Add(new Block(
                document,
                i + 1,
                marker.Success ? marker.Groups["name"].Value : null,
                marker.Success && marker.Groups["web"].Success,
                string.Join('\n', lines[(i + 1)..end])));
            i = end;
        }

        return blocks;
    }

    /// <summary>The assemblies this test runs with: the runtime's (with ASP.NET Core's), the libraries and their dependencies.</summary>
    private static MetadataReference[] LoadReferences()
    {
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var local = Directory.GetFiles(RepositoryRoot.TestDirectory, "*.dll");
        var stopwatch = Stopwatch.StartNew();
        var references = trusted.Concat(local)
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .Select(g => g.First())
            .Where(IsManagedAssembly)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToArray();
        TestContext.Progress.WriteLine($"DocsExamplesTests: {references.Length} references loaded in {stopwatch.ElapsedMilliseconds} ms");
        return references;
    }

    private static bool IsManagedAssembly(string path)
    {
        try
        {
            System.Reflection.AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
