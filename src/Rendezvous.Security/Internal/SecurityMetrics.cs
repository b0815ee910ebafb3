using System.Diagnostics.Metrics;

namespace Rendezvous.Security.Internal;

/// <summary>The counters of the security layer, on the meter <c>Rendezvous.Security</c>.</summary>
internal sealed class SecurityMetrics
{
    public const string MeterName = TotpSecurityMetrics.MeterName;
    public const string VerificationsName = "rendezvous.security.verifications";

    private static readonly Meter FallbackMeter = new(MeterName);

    private readonly Counter<long> _verifications;

    public SecurityMetrics(IMeterFactory? meterFactory)
    {
        Meter meter = meterFactory?.Create(MeterName) ?? FallbackMeter;
        _verifications = meter.CreateCounter<long>(
            VerificationsName,
            unit: "{verification}",
            description: "Registration attempts checked by the TOTP policy, by outcome (accepted, rejected, replayed, throttled).");
    }

    public void Accepted() => _verifications.Add(1, new KeyValuePair<string, object?>("outcome", "accepted"));

    public void Rejected() => _verifications.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));

    public void Replayed() => _verifications.Add(1, new KeyValuePair<string, object?>("outcome", "replayed"));

    public void Unavailable() => _verifications.Add(1, new KeyValuePair<string, object?>("outcome", "unavailable"));

    public void Throttled() => _verifications.Add(1, new KeyValuePair<string, object?>("outcome", "throttled"));
}
