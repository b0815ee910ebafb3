using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>
/// Requests Kestrel refuses before the registrar sees them (an over-long request line, a malformed request, an
/// unknown HTTP version, over-large headers), sent raw over real TLS: the answer is JSON like every other.
/// </summary>
public sealed partial class KestrelRefusalTests : ServerTestBase
{
    private sealed record RawResponse(int Status, string Head, string? ContentType, string Body);

    [GeneratedRegex(@"^HTTP/1\.1 (?<status>[0-9]{3}) ")]
    private static partial Regex StatusLine();

    [GeneratedRegex(@"\r\nContent-Type: (?<type>[^\r]*)\r\n", RegexOptions.IgnoreCase)]
    private static partial Regex ContentTypeHeader();

    /// <summary>Sends <paramref name="request"/> as is over TLS (HTTP/1.1, no ALPN) and reads the answer until the server closes.</summary>
    private async Task<RawResponse> SendRawAsync(string request, TimeSpan? readTimeout = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Server.RegistrarUrl.Host, Server.RegistrarUrl.Port).WaitAsync(TestTimeouts.Short);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }).WaitAsync(TestTimeouts.Short);
        await tls.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().WaitAsync(TestTimeouts.Short);

        using var received = new MemoryStream();
        await tls.CopyToAsync(received).WaitAsync(readTimeout ?? TestTimeouts.Short);
        return Parse(Encoding.UTF8.GetString(received.ToArray()));
    }

    private static RawResponse Parse(string text)
    {
        var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.That(headEnd, Is.GreaterThan(0), text);
        var head = text[..(headEnd + 2)];
        var status = StatusLine().Match(head);
        Assert.That(status.Success, Is.True, head);
        var type = ContentTypeHeader().Match(head);
        return new RawResponse(int.Parse(status.Groups["status"].Value, System.Globalization.CultureInfo.InvariantCulture), head, type.Success ? type.Groups["type"].Value : null, text[(headEnd + 4)..]);
    }

    private static void AssertJsonError(RawResponse response, int status, string diagnostic, bool permanent = true)
    {
        Assert.Multiple(() =>
        {
            Assert.That(response.Status, Is.EqualTo(status), response.Head);
            Assert.That(response.ContentType, Is.EqualTo("application/json"), response.Head);
            Assert.That(response.Body, Is.EqualTo($$$"""{"error":{"permanent":{{{(permanent ? "true" : "false")}}},"diagnostic":"{{{diagnostic}}}"}}"""));
            Assert.That(response.Head, Does.Contain($"\r\nContent-Length: {Encoding.UTF8.GetByteCount(response.Body)}\r\n"));
        });
    }

    private static IEnumerable<TestCaseData> Refusals()
    {
        yield return new TestCaseData($"GET /?uuid={new string('a', 9000)} HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "request line too long")
            .SetName("An_over_long_request_line_is_414_with_a_json_body");
        yield return new TestCaseData("GET /?uuid=x HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n", 400, "bad request")
            .SetName("A_malformed_request_is_400_with_a_json_body");
        yield return new TestCaseData("GET /?uuid=x HTTP/3.0\r\nHost: localhost\r\n\r\n", 505, "HTTP version not supported")
            .SetName("An_http_version_other_than_1_0_or_1_1_is_505_with_a_json_body");
        yield return new TestCaseData($"GET /?uuid=x HTTP/1.1\r\nHost: localhost\r\nX-Big: {new string('b', 17 * 1024)}\r\n\r\n", 431, "request headers too large")
            .SetName("Over_large_request_headers_are_431_with_a_json_body");
    }

    [TestCaseSource(nameof(Refusals))]
    public async Task Kestrel_refusals_have_the_registrar_json_error_body(string request, int status, string diagnostic)
    {
        var response = await SendRawAsync(request);

        AssertJsonError(response, status, diagnostic);
    }

    [Test]
    public async Task A_host_header_kestrel_passes_that_is_not_valid_punycode_gets_the_registrar_answer_not_a_500()
    {
        // Found by eng/fuzz.sh query: reading HttpRequest.Host decodes "xn--" labels and threw on this one, so every
        // such request was a 500 with a logged stack trace. The triple names the host as the client sent it.
        string uuid = Guid.NewGuid().ToString();
        var response = await SendRawAsync($"PUT /?uuid={uuid}&response={GoodCode} HTTP/1.1\r\nHost: xn--zz:8898\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

        Assert.That(response.Status, Is.EqualTo(200), response.Head + response.Body);
        Assert.That(response.Body, Does.Contain("""{"result":{"host":"xn--zz","port":"""));
    }

    [Test]
    public async Task The_registrar_answers_on_the_connection_pass_unchanged_before_a_refusal()
    {
        var response = await SendRawAsync("GET /?uuid=x HTTP/1.1\r\nHost: localhost\r\n\r\nGET /?uuid=x HTTP/3.0\r\nHost: localhost\r\n\r\n");

        var refusalStart = response.Body.IndexOf("HTTP/1.1 505 ", StringComparison.Ordinal);
        Assert.Multiple(() =>
        {
            Assert.That(response.Status, Is.EqualTo(200), response.Head);
            Assert.That(response.ContentType, Is.EqualTo("application/json"));
            Assert.That(response.Body, Does.Contain("""{"error":{"permanent":false,"diagnostic":"not registered"}}"""));
            Assert.That(refusalStart, Is.GreaterThan(0), response.Body);
        });
        AssertJsonError(Parse(response.Body[refusalStart..]), 505, "HTTP version not supported");
    }

    [TestCase("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n", TestName = "An_answer_with_a_content_type_is_not_rewritten")]
    [TestCase("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", TestName = "A_flush_with_more_than_one_head_is_not_rewritten")]
    [TestCase("HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\n", TestName = "An_answer_with_a_length_is_not_rewritten")]
    [TestCase("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", TestName = "A_success_is_not_rewritten")]
    [TestCase("3b\r\n", TestName = "A_body_chunk_is_not_rewritten")]
    public void Only_an_empty_error_answer_alone_in_its_flush_is_rewritten(string flushed)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();

        Assert.That(Rendezvous.Server.Internal.KestrelErrorBodies.TryRewrite(Encoding.ASCII.GetBytes(flushed), output), Is.False);
        Assert.That(output.WrittenCount, Is.Zero);
    }

    [Test]
    public async Task Http2_requests_pass_by_the_rewriting_unchanged()
    {
        using var client = Server.CreateRegistrarClient();
        client.DefaultRequestVersion = System.Net.HttpVersion.Version20;
        client.DefaultVersionPolicy = System.Net.Http.HttpVersionPolicy.RequestVersionExact;

        using var response = await client.GetAsync("/?uuid=x").WaitAsync(TestTimeouts.Short);
        var body = await response.Content.ReadAsStringAsync().WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(response.Version, Is.EqualTo(System.Net.HttpVersion.Version20));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
            Assert.That(body, Is.EqualTo("""{"error":{"permanent":false,"diagnostic":"not registered"}}"""));
        });
    }

    [Test]
    public async Task Request_headers_not_complete_in_time_are_408_with_a_json_body_that_is_not_permanent()
    {
        // Kestrel's request headers timeout (10 s here) runs on its own clock: this test waits for it.
        var response = await SendRawAsync("GET /?uuid=x HTTP/1.1\r\nHost: localhost\r\n", TestTimeouts.Long);

        AssertJsonError(response, 408, "request timeout", permanent: false);
    }
}
