using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Host.Logging;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Logging;

/// <summary><see cref="ServeLogging"/> in a host of its own: what reaches the log file, and which settings are refused.</summary>
public sealed class ServeLoggingTests
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = new TemporaryDirectory();

    [TearDown]
    public void DeleteDirectory() => _directory.Dispose();

    private string LogPath => _directory.Combine("server.log");

    [Test]
    public void The_file_gets_the_simple_console_line_of_each_record()
    {
        var lines = LogOneRecord(("Rendezvous:Logging:File", LogPath));

        Assert.That(lines, Has.Length.EqualTo(1));
        Assert.That(lines[0], Does.Match(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z warn: Test\.Category\[42\] hello 7$"));
    }

    [Test]
    public void Json_format_writes_one_json_object_per_line_with_a_utc_timestamp()
    {
        var lines = LogOneRecord(("Rendezvous:Logging:File", LogPath), ("Rendezvous:Logging:Format", "json"));

        Assert.That(lines, Has.Length.EqualTo(1));
        using var record = JsonDocument.Parse(lines[0]);
        var root = record.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("Timestamp").GetString(), Does.Match(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"));
            Assert.That(root.GetProperty("EventId").GetInt32(), Is.EqualTo(42));
            Assert.That(root.GetProperty("LogLevel").GetString(), Is.EqualTo("Warning"));
            Assert.That(root.GetProperty("Category").GetString(), Is.EqualTo("Test.Category"));
            Assert.That(root.GetProperty("Message").GetString(), Is.EqualTo("hello 7"));
        });
    }

    [Test]
    public void The_file_has_its_own_level_filter_under_the_alias_File()
    {
        var lines = LogOneRecord(("Rendezvous:Logging:File", LogPath), ("Logging:File:LogLevel:Default", "Error"));

        Assert.That(lines, Is.Empty);
    }

    [Test]
    public void An_unknown_format_is_refused_naming_the_value_and_the_accepted_ones()
    {
        var refused = Assert.Throws<OptionsValidationException>(() => Configure(("Rendezvous:Logging:Format", "xml")));

        Assert.That(refused!.Failures, Is.EqualTo(new[] { "Rendezvous:Logging:Format (--log-format) is 'xml'; it must be simple or json." }));
    }

    [Test]
    public void A_file_that_cannot_be_created_is_refused_naming_the_path()
    {
        File.WriteAllText(_directory.Combine("not-a-folder"), string.Empty);
        var path = _directory.Combine("not-a-folder", "server.log");

        var refused = Assert.Throws<OptionsValidationException>(() => Configure(("Rendezvous:Logging:File", path)));

        Assert.That(refused!.Failures.Single(), Does.StartWith($"Rendezvous:Logging:File (--log-file) is '{path}', which cannot be opened for writing"));
    }

    [Test]
    public void Sizes_and_counts_out_of_range_are_all_reported_at_once()
    {
        var refused = Assert.Throws<OptionsValidationException>(() => Configure(
            ("Rendezvous:Logging:FileSizeLimit", "10"), ("Rendezvous:Logging:FileCount", "0"), ("Rendezvous:Logging:FileQueueLength", "1")));

        Assert.That(refused!.Failures.Count(), Is.EqualTo(3), string.Join("\n", refused.Failures));
    }

    [Test]
    public void Colour_sequences_are_removed_from_file_lines()
    {
        var coloured = new StringBuilder("2026-01-01T00:00:00.000Z \u001b[40m\u001b[1m\u001b[33mwarn\u001b[39m\u001b[22m\u001b[49m: Cat[1] text\n");

        Assert.That(FileLoggerProvider.WithoutColours(coloured), Is.EqualTo("2026-01-01T00:00:00.000Z warn: Cat[1] text\n"));
    }

    private static HostApplicationBuilder Configure(params (string Key, string Value)[] settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging")); // as serve's default host does
        ServeLogging.Configure(builder);
        return builder;
    }

    /// <summary>Logs one warning through a host set up by <see cref="ServeLogging"/>, stops it, and returns the file's lines.</summary>
    private string[] LogOneRecord(params (string Key, string Value)[] settings)
    {
        using (var host = Configure(settings).Build())
        {
            host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Test.Category")
                .Log(LogLevel.Warning, new EventId(42), "hello {Number}", 7);
        }

        return File.ReadAllLines(LogPath);
    }
}
