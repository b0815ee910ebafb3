using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Server.Internal;

/// <summary>How the relay names a failed accept in its log (<see cref="ServerLog.AcceptFailed"/>).</summary>
internal static class AcceptFailures
{
    /// <summary>Logs failed accepts as <see cref="RelayAcceptLoop"/> reports them (at most once per its report interval).</summary>
    public static void Report(ILogger logger, SocketException exception, int failures) =>
        ServerLog.AcceptFailed(logger, Describe(exception), failures, RelayAcceptLoop.RetryDelay);

    /// <summary>The error's name: EMFILE and ENFILE told apart (.NET gives both ENFILE's text), others as .NET names them.</summary>
    public static string Describe(SocketException exception) => exception.SocketErrorCode == SocketError.TooManyOpenSockets
        ? DescriptorLimit.DescribeExhaustion()
        : $"{exception.SocketErrorCode}: {exception.Message}";
}
