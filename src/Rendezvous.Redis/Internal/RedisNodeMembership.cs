using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>
/// The node's membership of the cluster: once every listener is bound it writes the node's record every
/// <see cref="RedisClusterOptions.HeartbeatInterval"/> (so it lives for <see cref="RedisClusterOptions.NodeTimeout"/>
/// after the last one), keeps the subscription to the events channel, renews the registrations the node holds every
/// quarter of <see cref="RedisClusterOptions.EntryLifetime"/> and after Redis comes back, and removes the record on a
/// graceful stop. Redis being down only makes it retry at the next beat.
/// </summary>
internal sealed class RedisNodeMembership(
    RedisRegistrationDirectory directory,
    RedisConnection redis,
    TimeProvider time,
    ILogger<RedisNodeMembership>? logger = null) : IHostedLifecycleService, IAsyncDisposable
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private int _renewNow = 1;
    private int _disposed;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Every listener is bound now (the node's public port is known): join, then beat in the background.</summary>
    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var self = directory.Self;
        RedisLog.NodeJoined(_logger, self.Id, self.Address.Host, self.Address.Port, ConfigurationOptions.Parse(redis.Options.Configuration!).ToString(includePassword: false));
        await BeatAsync(subscribed: false, cancellationToken).ConfigureAwait(false);
        _loop = RunAsync(_stopping.Token);
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        try
        {
            await directory.LeaveAsync(cancellationToken).ConfigureAwait(false);
            RedisLog.NodeLeft(_logger, directory.Self.Id);
        }
        catch (Protocol.Registrar.RegistrationDirectoryUnavailableException)
        {
            // Redis is down: the record expires by itself within NodeTimeout.
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops beating without leaving (the host was disposed without a stop: as if the node died).</summary>
    public async ValueTask DisposeAsync()
    {
        // The container disposes it once as itself and once as the hosted service it also is.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var multiplexer = await redis.GetAsync().ConfigureAwait(false);
        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        try
        {
            using var timer = new PeriodicTimer(redis.Options.HeartbeatInterval, time);
            var subscribed = false;
            var nextRenewal = time.GetTimestamp();
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                subscribed = await BeatAsync(subscribed, cancellationToken).ConfigureAwait(false);
                if (Interlocked.Exchange(ref _renewNow, 0) == 1 || time.GetTimestamp() >= nextRenewal)
                {
                    if (await directory.RenewAsync(cancellationToken).ConfigureAwait(false))
                    {
                        nextRenewal = time.GetTimestamp() + (long)(redis.Options.EntryLifetime.TotalSeconds / 4 * time.TimestampFrequency);
                    }
                    else
                    {
                        Volatile.Write(ref _renewNow, 1);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            multiplexer.ConnectionFailed -= OnConnectionFailed;
            multiplexer.ConnectionRestored -= OnConnectionRestored;
        }
    }

    /// <summary>One heartbeat, and the subscription while it is not in place.</summary>
    /// <returns>Whether the node is subscribed.</returns>
    private async Task<bool> BeatAsync(bool subscribed, CancellationToken cancellationToken)
    {
        await directory.HeartbeatAsync(cancellationToken).ConfigureAwait(false);
        if (subscribed)
        {
            return true;
        }

        try
        {
            await directory.SubscribeAsync(cancellationToken).ConfigureAwait(false);
            RedisLog.EventsSubscribed(_logger, redis.Options.KeyPrefix + "events");
            return true;
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException)
        {
            return false;
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            RedisLog.RedisLost(_logger, e.FailureType.ToString());
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            RedisLog.RedisRestored(_logger);
            Volatile.Write(ref _renewNow, 1);
        }
    }
}
