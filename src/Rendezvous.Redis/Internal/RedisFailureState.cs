using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>
/// Runs a user's operations on the connection and tracks whether Redis works for it, logging each change between
/// working and failing once: the first failure after working calls <c>failing</c> with the reason, the first success
/// after failing calls <c>recovered</c>.
/// </summary>
internal sealed class RedisFailureState(RedisConnection connection, Action<string> failing, Action recovered)
{
    private readonly Lock _lock = new();
    private string? _failure;

    /// <summary>Runs one operation; a Redis failure is recorded and thrown, a caller's cancellation ends the wait.</summary>
    public async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            IDatabase database = await connection.GetDatabaseAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            T result = await operation(database).WaitAsync(cancellationToken).ConfigureAwait(false);
            Succeeded();
            return result;
        }
        catch (Exception exception) when (RedisConnection.IsRedisFailure(exception))
        {
            Failed(exception);
            throw;
        }
    }

    /// <summary>Redis worked.</summary>
    public void Succeeded()
    {
        if (Volatile.Read(ref _failure) is null)
        {
            return;
        }

        lock (_lock)
        {
            if (_failure is null)
            {
                return;
            }

            _failure = null;
        }

        recovered();
    }

    /// <summary>Redis failed with <paramref name="exception"/>.</summary>
    public void Failed(Exception exception)
    {
        bool wasWorking;
        lock (_lock)
        {
            wasWorking = _failure is null;
            _failure = exception.Message;
        }

        if (wasWorking)
        {
            failing(exception.Message);
        }
    }
}
