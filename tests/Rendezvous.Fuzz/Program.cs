using SharpFuzz;

namespace Rendezvous.Fuzz;

/// <summary>
/// <c>Rendezvous.Fuzz TARGET</c>: runs under afl-fuzz (eng/fuzz.sh), each input from SharpFuzz.
/// <c>Rendezvous.Fuzz TARGET FILE...</c>: runs each file once through TARGET and says which ones fail.
/// <c>Rendezvous.Fuzz --assemblies TARGET</c>: the assemblies eng/fuzz.sh instruments for TARGET, one a line.
/// </summary>
internal static class Program
{
    private const int MaxInputBytes = 1024 * 1024;

    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--assemblies")
        {
            using var target = FuzzTargets.Create(args[1]);
            foreach (string assembly in target.InstrumentedAssemblies)
            {
                Console.WriteLine(assembly);
            }

            return 0;
        }

        if (args.Length == 0 || !FuzzTargets.Names.Contains(args[0]))
        {
            Console.Error.WriteLine($"usage: Rendezvous.Fuzz TARGET [FILE...] | --assemblies TARGET; TARGET is one of: {string.Join(", ", FuzzTargets.Names)}");
            return 2;
        }

        if (args.Length > 1)
        {
            using var target = FuzzTargets.Create(args[0]);
            int failed = 0;
            foreach (string file in args[1..])
            {
                try
                {
                    target.Run(File.ReadAllBytes(file));
                    Console.WriteLine($"ok    {file}");
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    failed++;
                    Console.WriteLine($"FAIL  {file}: {ex}");
                }
            }

            return failed == 0 ? 0 : 1;
        }

        // The target is made in the process that runs the inputs (SharpFuzz's child), once; a crash restarts that process.
        FuzzTarget? fuzzed = null;
        Fuzzer.OutOfProcess.Run(stream =>
        {
            fuzzed ??= FuzzTargets.Create(args[0]);
            var input = new MemoryStream();
            var buffer = new byte[8192];
            int read;
            while (input.Length < MaxInputBytes && (read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, MaxInputBytes - input.Length))) > 0)
            {
                input.Write(buffer, 0, read);
            }

            fuzzed.Run(input.GetBuffer().AsSpan(0, (int)input.Length));
        });
        return 0;
    }
}
