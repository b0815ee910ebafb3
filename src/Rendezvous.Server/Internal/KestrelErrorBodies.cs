using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Rendezvous.Protocol.Registrar;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Gives the answers Kestrel writes by itself the registrar's JSON error body. A request Kestrel cannot parse (a
/// malformed request or header line, a request line or headers over their limits, an HTTP version it does not
/// speak, headers not complete in time) is answered by Kestrel before any application code runs, with an empty
/// body, and Kestrel offers no way to change that answer. This connection middleware sits inside TLS on HTTP/1.x
/// connections and rewrites exactly those answers on their way out: a flush that is one response head and nothing
/// else, with a 4xx or 5xx status, <c>Content-Length: 0</c> and no <c>Content-Type</c>. The registrar's own
/// answers always carry <c>Content-Type: application/json</c> and a body, so they pass unchanged.
/// </summary>
internal static class KestrelErrorBodies
{
    /// <summary>Adds the rewriting middleware; call it after <c>UseHttps</c> so that it sees the plain text.</summary>
    public static void UseJsonErrorBodies(this ListenOptions listen) => listen.Use(next => async connection =>
    {
        // HTTP/2 frames its answers in binary and refuses malformed requests with stream or connection errors:
        // nothing to rewrite there, so its bytes do not take the detour.
        if (connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) == true)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var transport = connection.Transport;
        var output = new ErrorBodyWriter(transport.Output);
        connection.Transport = new DuplexPipe(transport.Input, output);
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            connection.Transport = transport;
            output.ReleaseBuffer();
        }
    });

    /// <summary>The JSON body and its permanence for a status Kestrel answers by itself.</summary>
    internal static (bool Permanent, string Diagnostic) Describe(int status) => status switch
    {
        400 => (true, "bad request"),
        408 => (false, "request timeout"),
        411 => (true, "length required"),
        413 => (true, "request body too large"),
        414 => (true, "request line too long"),
        431 => (true, "request headers too large"),
        505 => (true, "HTTP version not supported"),
        >= 500 => (false, "internal error"),
        _ => (true, "bad request"),
    };

    /// <summary>
    /// When <paramref name="flushed"/> is one of Kestrel's own empty error answers, writes it to <paramref name="output"/>
    /// with a JSON body and returns <see langword="true"/>; otherwise writes nothing.
    /// </summary>
    internal static bool TryRewrite(ReadOnlySpan<byte> flushed, IBufferWriter<byte> output)
    {
        ReadOnlySpan<byte> emptyLength = "\r\nContent-Length: 0\r\n"u8;
        if (flushed.Length < 16
            || !flushed.StartsWith("HTTP/1."u8)
            || flushed.IndexOf("\r\n\r\n"u8) != flushed.Length - 4
            || !Utf8Parser.TryParse(flushed.Slice(9, 3), out int status, out int consumed)
            || consumed != 3
            || status < 400
            || flushed.IndexOf("\r\nContent-Type:"u8) >= 0)
        {
            return false;
        }

        int length = flushed.IndexOf(emptyLength);
        if (length < 0)
        {
            return false;
        }

        var (permanent, diagnostic) = Describe(status);
        var body = Encoding.UTF8.GetBytes(RegistrarService.ErrorBody(permanent, diagnostic));
        output.Write(flushed[..length]);
        output.Write(Encoding.ASCII.GetBytes($"\r\nContent-Type: {RegistrarResponse.ContentType}\r\nCache-Control: no-store\r\nContent-Length: {body.Length}"));
        output.Write(flushed[(length + emptyLength.Length - 2)..]);
        output.Write(body);
        return true;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>
    /// Collects what Kestrel writes between two flushes in a pooled buffer (held only until the flush), so a whole
    /// answer can be looked at before it goes to the connection.
    /// </summary>
    private sealed class ErrorBodyWriter(PipeWriter inner) : PipeWriter
    {
        private const int MinimumBufferSize = 512;

        private byte[]? _buffer;
        private int _written;

        public override bool CanGetUnflushedBytes => true;

        public override long UnflushedBytes => _written;

        public override void Advance(int bytes)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(bytes);
            if (_buffer is null || bytes > _buffer.Length - _written)
            {
                throw new InvalidOperationException("Advanced past the memory handed out.");
            }

            _written += bytes;
        }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsMemory(_written);
        }

        public override Span<byte> GetSpan(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsSpan(_written);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            PassOn();
            return inner.FlushAsync(cancellationToken);
        }

        public override void Complete(Exception? exception = null)
        {
            // Completing a pipe writer publishes what was written and not flushed: pass it on first.
            PassOn();
            ReleaseBuffer();
            inner.Complete(exception);
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            PassOn();
            ReleaseBuffer();
            await inner.CompleteAsync(exception).ConfigureAwait(false);
        }

        public void ReleaseBuffer()
        {
            if (_buffer is { } buffer)
            {
                _buffer = null;
                _written = 0;
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private void PassOn()
        {
            if (_written == 0)
            {
                return;
            }

            var flushed = _buffer.AsSpan(0, _written);
            if (!TryRewrite(flushed, inner))
            {
                inner.Write(flushed);
            }

            // The buffer goes back to the pool between answers: an idle keep-alive connection holds none.
            ReleaseBuffer();
        }

        private void Reserve(int sizeHint)
        {
            int needed = Math.Max(sizeHint, 1);
            if (_buffer is null)
            {
                _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, MinimumBufferSize));
            }
            else if (_buffer.Length - _written < needed)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_written + needed, _buffer.Length * 2));
                _buffer.AsSpan(0, _written).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
        }
    }
}
