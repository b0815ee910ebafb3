using System.CommandLine;
using Rendezvous.Host.Commands;

namespace Rendezvous.Host;

/// <summary>Entry point of the <c>rendezvous</c> command.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args) =>
        BuildRootCommand().Parse(args).InvokeAsync(new InvocationConfiguration
        {
            // serve's generic host, and expose and connect themselves, handle Ctrl-C and SIGTERM so that sessions can end cleanly.
            ProcessTerminationTimeout = null,
        });

    /// <summary>Builds the command tree; tests invoke it in-process.</summary>
    internal static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("Rendezvous: reach TCP servers behind NAT by UUID through a registrar and rendezvous relay.");
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(UsersCommand.Create());
        root.Subcommands.Add(CertCommand.Create());
        root.Subcommands.Add(ExposeCommand.Create());
        root.Subcommands.Add(ConnectCommand.Create());
        return root;
    }
}
