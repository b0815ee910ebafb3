using System.Runtime.Versioning;
using System.Text;
using Rendezvous.Host.Logging;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Logging;

public sealed class LogFileWriterTests
{
    private const long BigLimit = 1024 * 1024;

    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = new TemporaryDirectory();

    [TearDown]
    public void DeleteDirectory() => _directory.Dispose();

    private string LogPath => _directory.Combine("logs", "server.log");

    private static string DropNotice(long count) => $"dropped {count}\n";

    [Test]
    public void Records_are_appended_after_what_the_file_held_as_utf8_lines()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(LogPath)!);
        File.WriteAllText(LogPath, "from the last run\n");

        using (var writer = new LogFileWriter(LogPath, BigLimit, fileCount: 5, queueLength: 100))
        {
            writer.Start(DropNotice);
            writer.Enqueue("first ünïcödé\n");
            writer.Enqueue("second\n");
        }

        Assert.That(File.ReadAllText(LogPath, Encoding.UTF8), Is.EqualTo("from the last run\nfirst ünïcödé\nsecond\n"));
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public void A_new_file_is_0640_in_a_new_0750_folder()
    {
        using (var writer = new LogFileWriter(LogPath, BigLimit, fileCount: 5, queueLength: 100))
        {
            writer.Start(DropNotice);
        }

        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(LogPath) & ~LogFileWriter.FileMode, Is.EqualTo(UnixFileMode.None), "no more than 0640");
            Assert.That(File.GetUnixFileMode(Path.GetDirectoryName(LogPath)!) & ~LogFileWriter.DirectoryMode, Is.EqualTo(UnixFileMode.None), "no more than 0750");
        });
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public void An_existing_file_that_others_may_read_is_narrowed_to_0640()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(LogPath)!);
        File.WriteAllText(LogPath, string.Empty);
        File.SetUnixFileMode(LogPath, (UnixFileMode)0b110_110_110);

        using (new LogFileWriter(LogPath, BigLimit, fileCount: 5, queueLength: 100))
        {
        }

        Assert.That(File.GetUnixFileMode(LogPath), Is.EqualTo(LogFileWriter.FileMode));
    }

    [Test]
    public void The_file_rolls_over_at_the_size_limit_and_only_the_configured_number_of_files_is_kept()
    {
        var record = new string('x', 99) + "\n";
        using (var writer = new LogFileWriter(LogPath, sizeLimit: 250, fileCount: 3, queueLength: 100))
        {
            writer.Start(DropNotice);
            for (var i = 0; i < 10; i++)
            {
                writer.Enqueue(record);
            }
        }

        var files = Directory.GetFiles(Path.GetDirectoryName(LogPath)!).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(files, Is.EqualTo(new[] { "server.log", "server.log.1", "server.log.2" }));
            Assert.That(files.Select(f => new FileInfo(_directory.Combine("logs", f!)).Length), Is.All.LessThanOrEqualTo(250));
            Assert.That(File.ReadAllText(LogPath), Is.EqualTo(record + record), "10 records of 100 bytes, two per file: the newest two");
        });
    }

    [Test]
    public void A_full_queue_drops_records_and_a_line_after_the_kept_ones_says_how_many()
    {
        using (var writer = new LogFileWriter(LogPath, BigLimit, fileCount: 5, queueLength: 3))
        {
            // Not started yet: nothing drains the queue, as when the disk falls behind.
            for (var i = 1; i <= 10; i++)
            {
                writer.Enqueue($"record {i}\n");
            }

            writer.Start(DropNotice);
        }

        Assert.That(File.ReadAllText(LogPath), Is.EqualTo("record 1\nrecord 2\nrecord 3\ndropped 7\n"));
    }

    [Test]
    public void A_path_below_a_regular_file_fails_when_opened()
    {
        File.WriteAllText(_directory.Combine("not-a-folder"), string.Empty);

        Assert.That(
            () => new LogFileWriter(_directory.Combine("not-a-folder", "server.log"), BigLimit, fileCount: 5, queueLength: 100),
            Throws.InstanceOf<IOException>());
    }
}
