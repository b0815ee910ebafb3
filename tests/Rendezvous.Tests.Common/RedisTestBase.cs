using NUnit.Framework;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A test class with a real redis-server of its own (<see cref="RedisServer"/>): started once for the class, emptied
/// before each test, killed by its process id after the last. eng/test.sh installs redis-server.
/// </summary>
public abstract class RedisTestBase
{
    /// <summary>The class's redis-server.</summary>
    protected RedisServer Redis { get; private set; } = null!;

    /// <summary>Whether the server keeps an append-only file synced on every write, to survive a kill and restart.</summary>
    protected virtual bool Persistent => false;

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        Assume.That(RedisServer.IsInstalled, Is.True, "redis-server is not installed (eng/test.sh installs it)");
        Redis = Persistent ? await RedisServer.StartPersistentAsync() : await RedisServer.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
    }

    [SetUp]
    public Task FlushRedisAsync() => Redis.FlushAllAsync();
}
