namespace Rendezvous.Protocol.Registrar;

/// <summary>The port the rendezvous listener is bound to, filled in when it starts listening.</summary>
public sealed class RendezvousEndpoint
{
    private int _port;

    /// <summary>The bound port, or 0 while not listening.</summary>
    public int Port
    {
        get => Volatile.Read(ref _port);
        set => Volatile.Write(ref _port, value);
    }
}
