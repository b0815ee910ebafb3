namespace Rendezvous.Security;

/// <summary>The names of the TOTP policy's metrics, for an app that collects them (an OpenTelemetry meter provider's <c>AddMeter</c>).</summary>
public static class TotpSecurityMetrics
{
    /// <summary>The meter the policy's counters are on: <c>Rendezvous.Security</c>.</summary>
    public const string MeterName = "Rendezvous.Security";
}
