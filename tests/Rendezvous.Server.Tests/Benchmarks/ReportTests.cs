using Rendezvous.Benchmarks.LoadGen;

namespace Rendezvous.Server.Tests.Benchmarks;

/// <summary>The table <c>loadgen report</c> builds from the results eng/bench.sh collects.</summary>
public sealed class ReportTests
{
    private static string[] RowOf(string report, string metricStart) =>
        report.Split('\n').Single(l => l.StartsWith("| " + metricStart, StringComparison.Ordinal)).Split(" | ");

    [Test]
    public void Each_transport_has_its_column_and_its_ratio_to_haproxy()
    {
        var report = Report.Build([
            "tp1-socket\t1\t{\"errors\":0,\"mibPerSecond\":1000}",
            "tp1-epoll\t1\t{\"errors\":0,\"mibPerSecond\":400}",
            "tp1-haproxy\t1\t{\"errors\":0,\"mibPerSecond\":500}",
        ]);

        Assert.That(report, Does.StartWith("| metric | socket | epoll | haproxy | socket ratio | epoll ratio | target | met? socket | met? epoll |"));
        Assert.That(RowOf(report, "throughput, 1 pair"), Is.EqualTo(new[]
        {
            "| throughput, 1 pair, 64 KiB writes (MiB/s, both directions)", "1000", "400", "500", "2.00×", "0.80×", "≥ 1.0×", "yes", "**no** |",
        }));
    }

    [Test]
    public void One_transport_alone_has_its_columns_alone()
    {
        var report = Report.Build(["rate-epoll\t1\t{\"errors\":0,\"perSecond\":300}", "rate-haproxy\t1\t{\"errors\":0,\"perSecond\":200}"]);

        Assert.That(report, Does.StartWith("| metric | epoll | haproxy | epoll ratio | target | met? epoll |"));
        Assert.That(RowOf(report, "complete rendezvous"), Has.Length.EqualTo(6).And.Contains("1.50×"));
    }

    [Test]
    public void Results_from_before_the_transports_count_as_the_socket_transports()
    {
        var report = Report.Build([
            "idle-relay-rss\t1\t{\"rssBytesPerSession\":6000}",
            "idle-haproxy-rss\t1\t{\"rssBytesPerSession\":3000}",
        ]);

        Assert.That(report, Does.StartWith("| metric | socket | haproxy |"));
        Assert.That(RowOf(report, "RSS per idle"), Does.Contain("6000").And.Contain("2.00×"));
    }

    [Test]
    public void Parked_connections_get_a_table_of_their_own_per_transport()
    {
        var report = Report.Build([
            "parked-socket\t1\t{\"errors\":0,\"sessions\":9500,\"parked\":9500,\"closedWhileParked\":0,\"check\":50,\"checked\":50}",
            "parked-socket\t1\t{\"errors\":0,\"sessions\":9500,\"parked\":9500,\"closedWhileParked\":0,\"check\":50,\"checked\":50}",
            "parked-socket-rss\t1\t{\"connections\":19000,\"rssBytesPerConnection\":1500.4,\"serverFdsBefore\":150,\"serverFdsParked\":19150}",
            "parked-epoll\t1\t{\"errors\":1,\"sessions\":9500,\"parked\":9500,\"closedWhileParked\":1,\"check\":50,\"checked\":50}",
            "parked-epoll-rss\t1\t{\"connections\":19000,\"rssBytesPerConnection\":400,\"serverFdsBefore\":150,\"serverFdsParked\":19149}",
        ]);

        Assert.That(report, Does.Contain("| parked responders, one server process | socket | epoll | target | met? socket | met? epoll |"));
        Assert.That(RowOf(report, "RSS per parked connection at 19000"), Does.Contain("1500").And.Contain("400"));
        Assert.That(RowOf(report, "19000 parked"), Is.EqualTo(new[]
        {
            "| 19000 parked: still parked at the end, a sample paired (a byte each way, clean close)",
            "19000/19000 parked, 100/100 paired, 0 errors (1 runs)", "9499/9500 parked, 50/50 paired, 1 errors (1 runs)",
            "zero errors", "yes", "**no** |",
        }));
        Assert.That(report, Does.Contain("Errors over every run (data mismatches, failed sessions): 1."));
    }
}
