namespace Rendezvous.Client.Registrar;

/// <summary>
/// Several registrars of one service (a cluster's nodes), used one at a time: a request goes to the one that answered
/// last, and moves on to the next, in the configured order, when that one is down (not reachable, no answer in time,
/// or 5xx such as 503 "service unavailable"). It stays with the one that answered. A refusal (a wrong code, an unknown
/// UUID, throttling) or a certificate that is not the pinned one is the answer, not a reason to ask another.
/// </summary>
internal sealed class RegistrarSet : IDisposable
{
    private readonly RegistrarClient[] _clients;
    private int _current;
    private int _failovers;

    public RegistrarSet(IReadOnlyList<Uri> urls, RegistrarTrust trust, TimeSpan timeout)
    {
        _clients = [.. urls.Select(url => new RegistrarClient(url, trust, timeout))];
    }

    /// <summary>The registrar that answered last (the first one until then).</summary>
    public Uri Current => _clients[Volatile.Read(ref _current)].RegistrarUrl;

    /// <summary>How many times a request moved on to the next registrar.</summary>
    public int Failovers => Volatile.Read(ref _failovers);

    /// <summary>Whether <paramref name="exception"/> says the registrar is down rather than answering.</summary>
    public static bool IsDown(RendezvousException exception) =>
        exception.Error is RendezvousError.Transport or RendezvousError.Timeout or RendezvousError.Unavailable;

    public Task<RendezvousTriple> RegisterAsync(string uuid, string code, CancellationToken cancellationToken) =>
        SendAsync(client => client.RegisterAsync(uuid, code, cancellationToken), cancellationToken);

    public Task<RendezvousTriple> LookupAsync(string uuid, CancellationToken cancellationToken) =>
        SendAsync(client => client.LookupAsync(uuid, cancellationToken), cancellationToken);

    public void Dispose()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
    }

    private async Task<RendezvousTriple> SendAsync(Func<RegistrarClient, Task<RendezvousTriple>> send, CancellationToken cancellationToken)
    {
        var first = Volatile.Read(ref _current);
        for (var i = 0; ; i++)
        {
            var index = (first + i) % _clients.Length;
            try
            {
                var triple = await send(_clients[index]).ConfigureAwait(false);
                Volatile.Write(ref _current, index);
                return triple;
            }
            catch (RendezvousException ex) when (i + 1 < _clients.Length && IsDown(ex) && !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _failovers);
            }
        }
    }
}
