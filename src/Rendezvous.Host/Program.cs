using System.CommandLine;
using Rendezvous.Host.Commands;

namespace Rendezvous.Host;

/// <summary>Entry point of the <c>rendezvous</c> command.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args) => BuildRootCommand().Parse(args).InvokeAsync();

    /// <summary>Builds the command tree; tests invoke it in-process.</summary>
    internal static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("Rendezvous: reach TCP servers behind NAT by UUID through a registrar and rendezvous relay.");
        // Each command adds itself here.
        root.Subcommands.Add(UsersCommand.Create());
        return root;
    }
}
