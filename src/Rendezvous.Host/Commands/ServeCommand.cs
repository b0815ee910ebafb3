using System.CommandLine;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rendezvous.Host.Admin;
using Rendezvous.Host.Logging;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous serve</c>: runs the registrar and the rendezvous relay with embedded defaults.</summary>
internal static partial class ServeCommand
{
    /// <summary>Exit code when the configuration is invalid or a listener cannot start.</summary>
    public const int StartFailed = 3;

    /// <summary>The flags, each with the configuration key it sets.</summary>
    private static readonly (string Flag, string Key, string Description, string HelpName)[] Flags =
    [
        ("--data-dir", "Rendezvous:DataDirectory", "Folder for the secrets database and the generated certificate. Default: ./rendezvous-data.", "dir"),
        ("--registrar-url", "Rendezvous:RegistrarUrl", "Where the HTTPS registrar listens. Default: https://0.0.0.0:8898.", "url"),
        ("--rendezvous-endpoint", "Rendezvous:RendezvousEndpoint", "Where the raw TCP rendezvous relay listens. Default: 0.0.0.0:8899.", "host:port"),
        ("--transport", "Rendezvous:Relay:Transport", "How the relay handles its connections: epoll (Linux-native: a descriptor and a small record per connection, one event loop per core), socket (.NET sockets, every operating system) or auto (epoll where it runs: Linux on x86-64 or ARM64). Default: auto.", "auto|socket|epoll"),
        ("--public-host", "Rendezvous:Registrar:PublicHost", "Host name or address put into triples. Default: the host name the client used to reach the registrar.", "name"),
        ("--cert", "Rendezvous:CertificatePath", "PEM certificate for the registrar (with --key). Default: a self-signed one generated in the data folder.", "file"),
        ("--key", "Rendezvous:KeyPath", "PEM private key of --cert.", "file"),
        ("--log-format", "Rendezvous:Logging:Format", "Log format, on the console and in --log-file: simple (one line per record) or json (one JSON object per line). Default: simple; journald's format on the console under systemd.", "simple|json"),
        ("--log-file", "Rendezvous:Logging:File", "Also append the logs to this file (mode 0640), rolled over at 10 MiB with 5 files kept. Default: console only.", "file"),
        ("--cluster", "Rendezvous:Cluster:Configuration", "Make this server a node of a cluster whose nodes share their state through this Redis (a StackExchange.Redis configuration string: host:port, several endpoints, serviceName=... for Sentinel, password=..., ssl=true). Requires --public-host. Default: no cluster.", "redis"),
        ("--node-id", "Rendezvous:Cluster:NodeId", "This node's name in the cluster (with --cluster), unique among the nodes. Default: the node's public relay endpoint, host:port.", "id"),
        ("--admin-url", "Rendezvous:Admin:Url", "Where the admin page, /metrics and /healthz listen, or 'none' to turn them off. Default: http://127.0.0.1:8893.", "url"),
    ];

    /// <summary>Builds the <c>serve</c> command.</summary>
    public static Command Create()
    {
        var serve = new Command("serve", "Run the registrar (HTTPS) and the rendezvous relay (TCP). Settings come from appsettings.json, RENDEZVOUS environment variables (Rendezvous__DataDirectory=...) and these flags, in that order; see " + Documentation.Page("configuration.md"));
        var options = new List<(Option<string> Option, string Key)>();
        foreach (var (flag, key, description, helpName) in Flags)
        {
            var option = new Option<string>(flag) { Description = description, HelpName = helpName };
            serve.Options.Add(option);
            options.Add((option, key));
        }

        serve.SetAction(async (parseResult, cancellationToken) =>
        {
            var overrides = new Dictionary<string, string?>();
            foreach (var (option, key) in options)
            {
                if (parseResult.GetValue(option) is { } value)
                {
                    overrides[key] = value;
                }
            }

            return await RunAsync(overrides, parseResult.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
        });
        return serve;
    }

    /// <summary>
    /// Builds the host that <c>serve</c> runs: configuration layered as documented, logs (console, systemd, file), the
    /// server with TOTP security and the admin page (with <c>/metrics</c> from OpenTelemetry). The shutdown timeout (drain time + 5 s) and inline socket completions come with
    /// <c>AddRendezvousServer()</c>, as for any embedder.
    /// </summary>
    /// <param name="overrides">Configuration keys set from flags; they win over every other source.</param>
    /// <returns>The host, not started.</returns>
    internal static IHost BuildHost(IReadOnlyDictionary<string, string?> overrides)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = Directory.GetCurrentDirectory(),
            DisableDefaults = false,
        });
        builder.Configuration.AddInMemoryCollection(overrides);
        ServeLogging.Configure(builder);
        var server = builder.Services.AddRendezvousServer().AddTotpSecurity().AddAdminPage();
        var cluster = builder.Configuration.GetSection(Rendezvous.Redis.RedisClusterOptions.SectionName);
        if (!string.IsNullOrEmpty(cluster["Configuration"]))
        {
            server.AddRedisCluster();
        }
        else if (!string.IsNullOrEmpty(cluster["NodeId"]))
        {
            throw new InvalidOperationException("--node-id (Rendezvous:Cluster:NodeId) names a node of a cluster: give the cluster's Redis with --cluster too, e.g. --cluster redis1:6379.");
        }

        AdminMetrics.AddAdminMetrics(builder.Services, builder.Configuration);
        return builder.Build();
    }

    private static async Task<int> RunAsync(IReadOnlyDictionary<string, string?> overrides, TextWriter error, CancellationToken cancellationToken)
    {
        IHost host;
        try
        {
            host = BuildHost(overrides);
        }
        catch (OptionsValidationException ex)
        {
            // Building the host reads options (the host's own, the admin page's), so bad settings can surface here.
            await WriteFailuresAsync(error, ex).ConfigureAwait(false);
            return StartFailed;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or InvalidDataException)
        {
            await error.WriteLineAsync($"rendezvous serve: {Describe(ex)}").ConfigureAwait(false);
            return StartFailed;
        }

        using (host)
        {
            try
            {
                await host.RunAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OptionsValidationException ex)
            {
                await WriteFailuresAsync(error, ex).ConfigureAwait(false);
                return StartFailed;
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM while the listeners were still starting: a clean stop all the same.
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or System.Net.Sockets.SocketException or InvalidDataException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                await error.WriteLineAsync($"rendezvous serve: {Describe(ex)}").ConfigureAwait(false);
                return StartFailed;
            }
        }

        return 0;
    }

    /// <summary>
    /// The message for a start-up failure; a setting the configuration binder could not convert to one of our
    /// enumerations (<c>--transport bogus</c>) is said with the values it accepts.
    /// </summary>
    internal static string Describe(Exception exception)
    {
        var match = BinderFailure().Match(exception.Message);
        if (match.Success && FindEnum(match.Groups["type"].Value) is { } type)
        {
            return $"{match.Groups["key"].Value} is '{match.Groups["value"].Value}'; it must be one of {string.Join(", ", Enum.GetNames(type))} (any case).";
        }

        return exception.Message;
    }

    private static Type? FindEnum(string name) => AppDomain.CurrentDomain.GetAssemblies()
        .Where(assembly => assembly.GetName().Name?.StartsWith("Rendezvous.", StringComparison.Ordinal) == true)
        .Select(assembly => assembly.GetType(name))
        .FirstOrDefault(type => type is { IsEnum: true });

    [GeneratedRegex(@"^Failed to convert configuration value '(?<value>[^']*)' at '(?<key>[^']*)' to type '(?<type>[^']*)'")]
    private static partial Regex BinderFailure();

    private static async Task WriteFailuresAsync(TextWriter error, OptionsValidationException exception)
    {
        foreach (var failure in exception.Failures)
        {
            await error.WriteLineAsync($"rendezvous serve: {failure}").ConfigureAwait(false);
        }
    }
}
