using System.Reflection;
using System.Text.Json;
using Rendezvous.Server;

namespace Rendezvous.Host.Tests.Packaging;

/// <summary>
/// An application that uses Rendezvous.Server with its own policy ships no SQLite, no Otp.NET and no Rendezvous.Security:
/// neither Server's restored package graph nor its assembly references (followed through our assemblies) hold them.
/// </summary>
public sealed class CustomPolicyOutputTests
{
    /// <summary>What the default policy brings, by package or assembly name prefix.</summary>
    private static readonly string[] Forbidden = ["Rendezvous.Security", "Microsoft.Data.Sqlite", "SQLitePCLRaw", "Otp.NET", "OtpNet"];

    private static bool IsForbidden(string name) => Forbidden.Any(f => name.StartsWith(f, StringComparison.OrdinalIgnoreCase));

    [Test]
    public void Servers_restored_packages_hold_no_security_sqlite_or_otp()
    {
        // What NuGet restored for src/Rendezvous.Server: the closure a consumer of the package gets (projects become packages).
        string assets = RepositoryRoot.Combine("src", "Rendezvous.Server", "obj", "project.assets.json");
        Assert.That(File.Exists(assets), Is.True, $"no {assets}: restore src/Rendezvous.Server first");
        using var document = JsonDocument.Parse(File.ReadAllText(assets));
        var libraries = document.RootElement.GetProperty("targets").EnumerateObject()
            .SelectMany(target => target.Value.EnumerateObject().Select(library => library.Name.Split('/')[0]))
            .Distinct()
            .ToList();

        Assert.Multiple(() =>
        {
            Assert.That(libraries, Does.Contain("Rendezvous.Protocol"), "the graph was read");
            Assert.That(libraries.Where(IsForbidden), Is.Empty, $"Rendezvous.Server restores: {string.Join(", ", libraries)}");
        });
    }

    [Test]
    public void Servers_assembly_references_through_our_assemblies_hold_no_security_sqlite_or_otp()
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pending = new Queue<Assembly>([typeof(RendezvousServerOptions).Assembly]);
        for (int guard = 0; pending.Count > 0 && guard < 1000; guard++)
        {
            foreach (AssemblyName reference in pending.Dequeue().GetReferencedAssemblies())
            {
                if (seen.Add(reference.Name!) && reference.Name!.StartsWith("Rendezvous.", StringComparison.Ordinal))
                {
                    pending.Enqueue(Assembly.Load(reference));
                }
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(seen, Does.Contain("Rendezvous.Protocol"), "the references were read");
            Assert.That(seen.Where(IsForbidden), Is.Empty, $"Rendezvous.Server references: {string.Join(", ", seen.Order())}");
        });
    }
}
