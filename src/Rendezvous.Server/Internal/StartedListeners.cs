namespace Rendezvous.Server.Internal;

/// <summary>
/// The listeners bound so far while the server starts. The generic host does not stop the services it already
/// started when a later one fails, so a listener that fails to start closes the ones bound before it: a failed
/// start leaves no port bound, even in an application that goes on without disposing its host.
/// </summary>
internal sealed class StartedListeners
{
    private readonly List<IAsyncDisposable> _listeners = [];

    /// <summary>Records a listener that is bound and accepting.</summary>
    public void Add(IAsyncDisposable listener)
    {
        lock (_listeners)
        {
            _listeners.Add(listener);
        }
    }

    /// <summary>Closes every listener recorded so far (a listener is closed at most once by this).</summary>
    public async Task CloseAllAsync()
    {
        IAsyncDisposable[] listeners;
        lock (_listeners)
        {
            listeners = [.. _listeners];
            _listeners.Clear();
        }

        foreach (var listener in listeners)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }
}
