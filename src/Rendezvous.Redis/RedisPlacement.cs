namespace Rendezvous.Redis;

/// <summary>Which node a hidden server is told to park at when it registers (<see cref="RedisClusterOptions.Placement"/>).</summary>
public enum RedisPlacement
{
    /// <summary>The node the hidden server registered through (the default): no extra hop, and DNS spreads the load.</summary>
    Self,

    /// <summary>The live node with the fewest parked connections, as the nodes report them every heartbeat.</summary>
    LeastLoaded,
}
