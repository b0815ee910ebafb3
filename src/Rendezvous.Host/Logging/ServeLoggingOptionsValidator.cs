using Microsoft.Extensions.Options;

namespace Rendezvous.Host.Logging;

/// <summary>Checks every logging setting and reports all bad values at once, naming each key.</summary>
internal sealed class ServeLoggingOptionsValidator : IValidateOptions<ServeLoggingOptions>
{
    /// <summary>The smallest size limit: a few records per file.</summary>
    public const long MinFileSizeLimit = 4096;

    /// <summary>The largest size limit: 1 TiB.</summary>
    public const long MaxFileSizeLimit = 1L << 40;

    public ValidateOptionsResult Validate(string? name, ServeLoggingOptions options)
    {
        var errors = new List<string>();
        if (options.Format is { } format
            && !string.Equals(format, ServeLoggingOptions.SimpleFormat, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(format, ServeLoggingOptions.JsonFormat, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{ServeLoggingOptions.Section}:Format (--log-format) is '{format}'; it must be simple or json.");
        }

        if (options.File is { } file && (string.IsNullOrWhiteSpace(file) || file.EndsWith('/') || Directory.Exists(file)))
        {
            errors.Add($"{ServeLoggingOptions.Section}:File (--log-file) is '{file}'; it must be the path of a file, e.g. /var/log/rendezvous/server.log.");
        }

        if (options.FileSizeLimit is < MinFileSizeLimit or > MaxFileSizeLimit)
        {
            errors.Add($"{ServeLoggingOptions.Section}:FileSizeLimit is {options.FileSizeLimit}; it must be between {MinFileSizeLimit} and {MaxFileSizeLimit} bytes.");
        }

        if (options.FileCount is < 1 or > 1000)
        {
            errors.Add($"{ServeLoggingOptions.Section}:FileCount is {options.FileCount}; it must be between 1 and 1000.");
        }

        if (options.FileQueueLength is < 16 or > 1_000_000)
        {
            errors.Add($"{ServeLoggingOptions.Section}:FileQueueLength is {options.FileQueueLength}; it must be between 16 and 1000000.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
