using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Rendezvous.Server.Internal;

/// <summary>
/// What an accept loop does when accepting fails (out of descriptors, mostly): waits <see cref="Retry"/> before the next
/// try, so it neither spins nor dies and resumes once descriptors free up, and logs at most once per
/// <see cref="Interval"/>, counting the failures in between, with the error's right name and no stack trace.
/// </summary>
internal sealed class AcceptFailures(ILogger logger, TimeProvider time)
{
    /// <summary>The shortest time between two log lines.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    /// <summary>How long the loop waits after a failed accept.</summary>
    public static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(100);

    private long _lastLogged;
    private bool _logged;
    private int _failures;

    /// <summary>Counts the failure, logs when the interval since the last line is over, then waits <see cref="Retry"/>.</summary>
    public async Task BackOffAsync(SocketException exception)
    {
        _failures++;
        var now = time.GetTimestamp();
        if (!_logged || time.GetElapsedTime(_lastLogged, now) >= Interval)
        {
            ServerLog.AcceptFailed(logger, Describe(exception), _failures, Retry);
            _logged = true;
            _lastLogged = now;
            _failures = 0;
        }

        await Task.Delay(Retry, time).ConfigureAwait(false);
    }

    /// <summary>The error's name: EMFILE and ENFILE told apart (.NET gives both ENFILE's text), others as .NET names them.</summary>
    public static string Describe(SocketException exception) => exception.SocketErrorCode == SocketError.TooManyOpenSockets
        ? DescriptorLimit.DescribeExhaustion()
        : $"{exception.SocketErrorCode}: {exception.Message}";
}
