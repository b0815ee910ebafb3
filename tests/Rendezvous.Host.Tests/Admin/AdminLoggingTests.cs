using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary>What a page view of the admin page logs, at the levels an operator sets.</summary>
public sealed class AdminLoggingTests
{
    private const string EndpointCategory = "Microsoft.AspNetCore.Routing.EndpointMiddleware";

    private AdminServer? _server;

    [TearDown]
    public async Task StopAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>Starts serve's host at <paramref name="level"/>, signs in and views the list, capturing every record logged meanwhile.</summary>
    private async Task<IReadOnlyList<CapturedLog>> SignInAndViewTheListAsync(LogLevel level)
    {
        _server = await AdminServer.StartAsync(new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = level.ToString() });
        var capture = new LogCapture();
        _server.Services.GetRequiredService<ILoggerFactory>().AddProvider(capture);
        using var client = _server.CreateClient();
        Assert.That((await client.SignInAsync(_server.Token)).Status, Is.EqualTo(HttpStatusCode.SeeOther));
        Assert.That((await client.GetAsync("/")).Status, Is.EqualTo(HttpStatusCode.OK));
        return capture.Records;
    }

    [Test]
    public async Task A_page_view_logs_no_endpoint_lines_at_information_and_our_own_records_remain()
    {
        var records = await SignInAndViewTheListAsync(LogLevel.Information);

        Assert.Multiple(() =>
        {
            Assert.That(records.Where(r => r.Category == EndpointCategory).Select(r => r.Message), Is.Empty);
            Assert.That(records.Select(r => r.EventId.Name), Does.Contain("AdminSignedIn"));
        });
    }

    [Test]
    public async Task At_debug_the_endpoint_lines_are_logged_at_debug()
    {
        var records = await SignInAndViewTheListAsync(LogLevel.Debug);

        var endpoint = records.Where(r => r.Category == EndpointCategory).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(endpoint.Select(r => r.Message), Has.Some.StartWith("Executing endpoint").And.Some.StartWith("Executed endpoint"));
            Assert.That(endpoint.Select(r => r.Level), Has.All.EqualTo(LogLevel.Debug));
        });
    }
}
