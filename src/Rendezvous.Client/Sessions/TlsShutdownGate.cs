using System.Net.Security;
using Rendezvous.Client.Internal;

namespace Rendezvous.Client.Sessions;

/// <summary>
/// Keeps a TLS session's close_notify from being made while the same session decrypts what arrived. On Linux
/// <see cref="SslStream.ShutdownAsync"/> calls OpenSSL's <c>SSL_shutdown</c> without the lock its reads take, so a
/// half-close made while the other direction reads (what <see cref="SessionRelay"/> and any full-duplex caller do)
/// races the read inside OpenSSL: measured on loopback, about 1 half-close in 100 made right after the handshake,
/// while the client took the server's TLS 1.3 session ticket, failed with "shutdown while in init" (so no
/// close_notify, and before this gate no FIN either: the peer waited for ever), and some reads failed with
/// <c>SSL_ERROR_SYSCALL</c> or crashed the process. The gate is held by a read from the moment it may decrypt until it
/// waits on the network again or returns, and by a half-close while it makes its close_notify.
/// </summary>
internal sealed class TlsShutdownGate
{
    private readonly SemaphoreSlim _semaphore = new(1, 1);

    /// <summary>Whether a read of the session holds the gate (it is between waits on the network).</summary>
    private bool _heldByRead;

    /// <summary>Wraps the raw transport that <see cref="SslStream"/> reads from, so a read lets go of the gate while it waits on the network.</summary>
    public Stream Transport(Stream raw) => new TransportStream(raw, this);

    /// <summary>Wraps the authenticated <paramref name="tls"/> stream, so each read holds the gate while it may decrypt.</summary>
    public Stream Session(SslStream tls) => new SessionStream(tls, this);

    /// <summary>Makes <paramref name="tls"/>'s close_notify and sends it, with no read decrypting meanwhile.</summary>
    public async Task ShutdownAsync(SslStream tls)
    {
        await _semaphore.WaitAsync().ConfigureAwait(false);
        try
        {
            await tls.ShutdownAsync().ConfigureAwait(false);
        }
        finally
        {
            _semaphore.Release();
        }
    }

    private async ValueTask<int> ReadSessionAsync(SslStream tls, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await _semaphore.WaitAsync(cancellationToken).ConfigureAwait(false);
        _heldByRead = true;
        try
        {
            return await tls.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            LetGoAfterRead();
        }
    }

    private int ReadSession(SslStream tls, Span<byte> buffer)
    {
        _semaphore.Wait();
        _heldByRead = true;
        try
        {
            return tls.Read(buffer);
        }
        finally
        {
            LetGoAfterRead();
        }
    }

    private async ValueTask<int> ReadTransportAsync(Stream raw, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        // The handshake reads here too, holding nothing: then there is nothing to let go of or take back.
        var held = _heldByRead;
        if (held)
        {
            _heldByRead = false;
            _semaphore.Release();
        }

        try
        {
            return await raw.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (held)
            {
                // Not cancellable: a half-close holds the gate only while it makes one record.
                await _semaphore.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                _heldByRead = true;
            }
        }
    }

    private int ReadTransport(Stream raw, Span<byte> buffer)
    {
        var held = _heldByRead;
        if (held)
        {
            _heldByRead = false;
            _semaphore.Release();
        }

        try
        {
            return raw.Read(buffer);
        }
        finally
        {
            if (held)
            {
                _semaphore.Wait();
                _heldByRead = true;
            }
        }
    }

    private void LetGoAfterRead()
    {
        if (_heldByRead)
        {
            _heldByRead = false;
            _semaphore.Release();
        }
    }

    /// <summary>The session's bytes: the authenticated stream, with reads that hold the gate.</summary>
    private sealed class SessionStream(SslStream tls, TlsShutdownGate gate) : PassThroughStream(tls)
    {
        private SslStream Tls => (SslStream)Inner;

        public override int Read(byte[] buffer, int offset, int count) => gate.ReadSession(Tls, buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer) => gate.ReadSession(Tls, buffer);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            gate.ReadSessionAsync(Tls, buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            gate.ReadSessionAsync(Tls, buffer, cancellationToken);
    }

    /// <summary>The raw transport under the TLS stream, with reads that let go of the gate while they wait.</summary>
    private sealed class TransportStream(Stream raw, TlsShutdownGate gate) : PassThroughStream(raw)
    {
        public override int Read(byte[] buffer, int offset, int count) => gate.ReadTransport(Inner, buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer) => gate.ReadTransport(Inner, buffer);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            gate.ReadTransportAsync(Inner, buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            gate.ReadTransportAsync(Inner, buffer, cancellationToken);
    }
}
