using System.Globalization;
using Microsoft.Extensions.Options;

namespace Rendezvous.Security.Internal;

/// <summary>Checks every <see cref="TotpSecurityOptions"/> value and reports all problems at once.</summary>
internal sealed class TotpSecurityOptionsValidator : IValidateOptions<TotpSecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, TotpSecurityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();

        if (options.DatabasePath is not null && string.IsNullOrWhiteSpace(options.DatabasePath))
        {
            failures.Add($"{TotpSecurityOptions.SectionName}:{nameof(options.DatabasePath)} is empty; it must be a file path or unset.");
        }

        CheckRange(failures, nameof(options.AllowedSkewSteps), options.AllowedSkewSteps, 0, 10);
        CheckRange(failures, nameof(options.MaxFailuresPerUuid), options.MaxFailuresPerUuid, 1, 1_000);
        CheckRange(failures, nameof(options.MaxFailuresPerAddress), options.MaxFailuresPerAddress, 1, 100_000);
        CheckRange(failures, nameof(options.MaxTrackedKeys), options.MaxTrackedKeys, 100, 10_000_000);
        CheckRange(failures, nameof(options.MaxKnownAddressesPerUuid), options.MaxKnownAddressesPerUuid, 1, 100);
        CheckRange(failures, nameof(options.MaxKnownAddresses), options.MaxKnownAddresses, 100, 10_000_000);

        if (options.FailureWindow < TimeSpan.FromSeconds(1) || options.FailureWindow > TimeSpan.FromDays(1))
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"{TotpSecurityOptions.SectionName}:{nameof(options.FailureWindow)} is {options.FailureWindow:c}; it must be between 00:00:01 and 1.00:00:00."));
        }

        if (options.KnownAddressLifetime < TimeSpan.FromMinutes(1) || options.KnownAddressLifetime > TimeSpan.FromDays(30))
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"{TotpSecurityOptions.SectionName}:{nameof(options.KnownAddressLifetime)} is {options.KnownAddressLifetime:c}; it must be between 00:01:00 and 30.00:00:00."));
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckRange(List<string> failures, string key, int value, int minimum, int maximum)
    {
        if (value < minimum || value > maximum)
        {
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"{TotpSecurityOptions.SectionName}:{key} is {value}; it must be between {minimum:N0} and {maximum:N0}."));
        }
    }
}
