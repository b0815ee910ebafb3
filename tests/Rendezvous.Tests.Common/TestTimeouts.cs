namespace Rendezvous.Tests.Common;

/// <summary>Timeouts for awaits in tests, so that a hang fails fast instead of eating CI time.</summary>
public static class TestTimeouts
{
    /// <summary>For a step that should take milliseconds.</summary>
    public static readonly TimeSpan Short = TimeSpan.FromSeconds(10);

    /// <summary>For a step that moves megabytes or waits for a server to start.</summary>
    public static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    /// <summary>For asserting that nothing happens: how long to wait for it not to.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
}
