using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

/// <summary>
/// <c>connect --stdio</c> with standard input and output as regular files, pipes and a socket, run by a
/// shell as a command among others: no byte lost, overwritten or read twice, and the shell's next command
/// goes on at the descriptors' shared offset.
/// </summary>
public sealed partial class ExposeConnectTests
{
    /// <summary>Runs <paramref name="script"/> with <c>bash -c</c> in the temporary directory, <c>"$@"</c> being <c>rendezvous connect ...</c>; returns its exit code.</summary>
    private async Task<int> RunConnectInShellAsync(string script)
    {
        using var shell = RendezvousProcess.StartUnder(_directory.Path, "bash", ["-c", script, "bash"], new Dictionary<string, string>(), ConnectArgs());
        var exitCode = await shell.WaitForExitAsync(ExitTimeout);
        Assert.That(exitCode, Is.Zero, shell.Error);
        return exitCode;
    }

    /// <summary>Runs connect with standard input and output both the one socket that bash connects to us; returns the run and our end.</summary>
    private async Task<(Task<int> Shell, Socket Socket)> RunConnectOnSocketAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var shell = RunConnectInShellAsync($$"""exec "$@" --stdio <>/dev/tcp/127.0.0.1/{{port}} >&0""");
        return (shell, await listener.AcceptSocketAsync().WaitAsync(TestTimeouts.Long));
    }

    /// <summary>Exposes an echo service and writes 300 kB of every byte value to <c>in.bin</c>.</summary>
    private async Task<byte[]> StartEchoWithInputAsync()
    {
        var echo = AddService(LocalTcpService.Echo());
        await StartExposeAsync(echo.Port);
        var payload = new byte[300_000];
        RandomNumberGenerator.Fill(payload);
        for (var i = 0; i < 256; i++)
        {
            payload[i] = (byte)i;
        }

        File.WriteAllBytes(_directory.Combine("in.bin"), payload);
        return payload;
    }

    /// <summary>Each script writes what connect echoed, then <c>x\n</c> from the next command, to <c>out.bin</c>.</summary>
    [TestCase("""{ "$@" --stdio < in.bin; echo x; } > out.bin""", TestName = "Stdio to a regular file leaves the shared offset after its output, so the next command appends")]
    [TestCase("""{ "$@" --stdio; echo x; cat; } < in.bin > out.bin""", TestName = "Stdio between regular files shared with the next commands loses, overwrites and repeats nothing")]
    [TestCase("""{ cat in.bin | "$@" --stdio; echo x; } | cat > out.bin""", TestName = "Stdio between pipes in a shell pipeline passes every byte once")]
    public async Task Stdio_in_a_shell_shares_standard_output_with_the_next_command(string script)
    {
        var payload = await StartEchoWithInputAsync();

        await RunConnectInShellAsync(script);

        Assert.That(File.ReadAllBytes(_directory.Combine("out.bin")), Is.EqualTo([.. payload, .. "x\n"u8.ToArray()]));
    }

    [Test]
    public async Task Stdio_from_a_regular_file_moves_the_shared_offset_so_the_next_command_does_not_read_it_again()
    {
        var payload = await StartEchoWithInputAsync();

        await RunConnectInShellAsync("""{ "$@" --stdio > out.bin; cat > rest.bin; } < in.bin""");

        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(_directory.Combine("out.bin")), Is.EqualTo(payload));
            Assert.That(File.ReadAllBytes(_directory.Combine("rest.bin")), Is.Empty, "read again after connect");
        });
    }

    [Test]
    public async Task Stdio_on_a_socket_relays_both_ways_and_passes_the_half_close_on()
    {
        var payload = await StartEchoWithInputAsync();
        var (shell, socket) = await RunConnectOnSocketAsync();
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reading = ReadToEndAsync(stream);
        await stream.WriteAsync(payload).AsTask().WaitAsync(TestTimeouts.Long);
        socket.Shutdown(SocketShutdown.Send);

        Assert.That(await reading.WaitAsync(TestTimeouts.Long), Is.EqualTo(payload));
        await shell;
    }

    [Test]
    public async Task Stdio_on_a_socket_shuts_its_sending_direction_down_when_the_hidden_server_ends_while_input_goes_on()
    {
        var greeting = Encoding.ASCII.GetBytes("hello, then the end\n");
        var greeter = AddService(LocalTcpService.GreetAndEnd(greeting));
        await StartExposeAsync(greeter.Port);
        var (shell, socket) = await RunConnectOnSocketAsync();
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        // Our sending direction stays open: the end arrives by connect's half-close, not its exit.
        Assert.That(await ReadToEndAsync(stream).WaitAsync(TestTimeouts.Long), Is.EqualTo(greeting));
        Assert.That(shell.IsCompleted, Is.False, "connect ended before its standard input did");
        await stream.WriteAsync("still sending\n"u8.ToArray()).AsTask().WaitAsync(TestTimeouts.Short);
        socket.Shutdown(SocketShutdown.Send);
        await shell;
    }
}
