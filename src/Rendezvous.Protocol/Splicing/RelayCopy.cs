using System.Buffers;
using System.IO.Pipelines;

namespace Rendezvous.Protocol.Splicing;

/// <summary>
/// The half-close copy loop: one direction of a relay. The <see cref="Splicer"/> runs two of them (one per direction)
/// when its connections cannot be spliced directly; a client relays a session to a local socket or stream with the
/// same loop (over <see cref="PipeReader.Create(Stream, StreamPipeReaderOptions?)"/> and
/// <see cref="PipeWriter.Create(Stream, StreamPipeWriterOptions?)"/>).
/// </summary>
public static class RelayCopy
{
    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/>, flushing once per read, until the source ends
    /// or either side fails. A clean end of the source is passed on: <paramref name="destination"/> is completed (for a
    /// connection's output that is a half-close, TCP FIN) and so is <paramref name="source"/>. Memory is bounded by the
    /// two pipes: a destination that does not keep up pauses the flush, which stops the reads.
    /// </summary>
    /// <param name="source">Where the bytes come from.</param>
    /// <param name="destination">Where they go.</param>
    /// <param name="onBytes">Called after each copied chunk with its size (for metrics); may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops the copy (the result is then <see cref="CopyEnd.Canceled"/>); neither side is completed then.</param>
    /// <returns>
    /// How the copy ended, with the bytes copied: <see cref="CopyEnd.ReadFailed"/> when reading failed (the source is
    /// completed), <see cref="CopyEnd.WriteFailed"/> when writing or flushing failed or the destination stopped taking
    /// bytes. On a failure the caller decides what to abort; the loop never throws for either side's errors.
    /// </returns>
    public static async Task<CopyResult> CopyAsync(PipeReader source, PipeWriter destination, Action<long>? onBytes = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        long bytes = 0;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await source.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return new CopyResult(CopyEnd.Canceled, bytes);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                await source.CompleteAsync().ConfigureAwait(false);
                return new CopyResult(CopyEnd.ReadFailed, bytes);
            }

            if (read.IsCanceled)
            {
                return new CopyResult(CopyEnd.Canceled, bytes);
            }

            var buffer = read.Buffer;
            var length = buffer.Length;
            if (length > 0)
            {
                try
                {
                    foreach (var segment in buffer)
                    {
                        destination.Write(segment.Span);
                    }
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The destination was closed under the copy (disposed or aborted): it takes nothing more.
                    return new CopyResult(CopyEnd.WriteFailed, bytes);
                }

                if (!TryAdvance(source, buffer.End))
                {
                    return new CopyResult(CopyEnd.ReadFailed, bytes);
                }

                bytes += length;
                onBytes?.Invoke(length);

                FlushResult flush;
                try
                {
                    flush = await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return new CopyResult(CopyEnd.Canceled, bytes);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    return new CopyResult(CopyEnd.WriteFailed, bytes);
                }

                if (flush.IsCompleted || flush.IsCanceled)
                {
                    // The destination's transport stopped sending: its peer is gone.
                    return new CopyResult(CopyEnd.WriteFailed, bytes);
                }
            }
            else if (!TryAdvance(source, buffer.End))
            {
                return new CopyResult(CopyEnd.ReadFailed, bytes);
            }

            if (read.IsCompleted)
            {
                // A clean end of stream: pass the half-close on and stop reading this side.
                try
                {
                    await destination.CompleteAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    return new CopyResult(CopyEnd.WriteFailed, bytes);
                }

                await source.CompleteAsync().ConfigureAwait(false);
                return new CopyResult(CopyEnd.Completed, bytes);
            }
        }
    }

    /// <summary>Consumes what was read; <see langword="false"/> when the source was closed under the copy (its reader completed).</summary>
    private static bool TryAdvance(PipeReader source, SequencePosition consumed)
    {
        try
        {
            source.AdvanceTo(consumed);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
