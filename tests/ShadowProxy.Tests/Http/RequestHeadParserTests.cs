using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Http;

public sealed class RequestHeadParserTests
{
    private static RequestHead Parse(string head)
    {
        Assert.True(RequestHeadParser.TryParse(Encoding.Latin1.GetBytes(head), out RequestHead request), head);
        return request;
    }

    private static bool Rejects(string head) => !RequestHeadParser.TryParse(Encoding.Latin1.GetBytes(head), out _);

    [Fact]
    public void Reads_method_target_version_and_content_length()
    {
        RequestHead request = Parse("POST /a/b?c=d HTTP/1.1\r\nHost: x\r\ncontent-length: 12\r\n\r\n");

        Assert.Same(KnownMethods.Post, request.Method);
        Assert.Equal("/a/b?c=d", request.Target);
        Assert.Equal("/a/b", request.Path.ToString());
        Assert.Equal(HttpVersion.Http11, request.Version);
        Assert.Equal(BodyKind.ContentLength, request.Body);
        Assert.Equal(12, request.ContentLength);
        Assert.False(request.ClientWantsClose);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "Chunked")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Chunked")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "None")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", "ContentLength")]
    [InlineData("GET / HTTP/1.0\r\n\r\n", "None")]
    public void Decides_body_framing(string head, string expected) => Assert.Equal(Enum.Parse<BodyKind>(expected), Parse(head).Body);

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.0\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false)]
    public void Knows_when_the_client_wants_to_close(string head, bool close) => Assert.Equal(close, Parse(head).ClientWantsClose);

    [Fact]
    public void Recognises_upgrade_connect_and_expect_continue()
    {
        Assert.True(Parse("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").IsUpgrade);
        Assert.False(Parse("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n").IsUpgrade);
        // A server ignores Upgrade in an HTTP/1.0 request (RFC 9110 §7.8): an ordinary request, mirrored, not a tunnel.
        Assert.False(Parse("GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").IsUpgrade);
        Assert.True(Parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").IsConnect);
        Assert.True(Parse("CONNECT 10.0.0.1:8443 HTTP/1.1\r\nHost: 10.0.0.1:8443\r\n\r\n").IsConnect);
        Assert.True(Parse("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n").IsConnect);
        Assert.True(Parse("PUT /f HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").ExpectsContinue);
        Assert.Equal("*", Parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").Target);
        Assert.Equal("http://h/p?q", Parse("GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n").Target);
        Assert.Equal("PURGE", Parse("PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n").Method);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")]   // CL + TE
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")]          // two lengths
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")]                 // chunked not last
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n")]
    [InlineData("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")]                                  // TE on 1.0
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n")]                                       // obs-fold
    [InlineData("GET / HTTP/1.1\nHost: x\r\n\r\n")]                                                       // bare LF
    [InlineData("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n")]                                               // bare CR
    [InlineData("GET / HTTP/1.1\r\nHost : x\r\n\r\n")]                                                    // space before colon
    [InlineData("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n")]                                              // empty name
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n")]                                          // NUL in value
    [InlineData("GET / HTTP/1.1\r\n\r\n")]                                                                // no Host on 1.1
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")]                                          // two Hosts
    [InlineData("GET  / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET / HTTP/1.1 \r\nHost: x\r\n\r\n")]
    [InlineData("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET /\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET x HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET * HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("G(T / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET / HTTP/1.2\r\nHost: x\r\n\r\n")]
    [InlineData("GET / http/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("CONNECT /path HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("CONNECT {x}:443 HTTP/1.1\r\nHost: x\r\n\r\n")]   // not a host: a text line would start like JSON
    [InlineData("CONNECT x\"y:443 HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("CONNECT example.com: HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("CONNECT example.com:44a HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("CONNECT [::1 HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("CONNECT [::1]]:443 HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\nextra")]
    public void Rejects_malformed_and_ambiguous_heads(string head) => Assert.True(Rejects(head));

    [Fact]
    public void Rewriter_replaces_connection_fields_with_exactly_one_of_its_own()
    {
        byte[] head = Encoding.ASCII.GetBytes(
            "GET / HTTP/1.1\r\nConnection: keep-alive\r\nHost: x\r\nkeep-alive: 300\r\nPROXY-CONNECTION: keep-alive\r\nX-Connection: stays\r\n\r\n");
        byte[] destination = new byte[head.Length + HeadRewriter.MaxGrowth];

        int written = HeadRewriter.Rewrite(head, HeadRewriter.ConnectionClose, destination);

        Assert.Equal("GET / HTTP/1.1\r\nHost: x\r\nX-Connection: stays\r\nConnection: close\r\n\r\n", Encoding.ASCII.GetString(destination, 0, written));
    }

    [Fact]
    public void Rewrite_never_outgrows_its_stated_bound()
    {
        byte[] head = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        byte[] destination = new byte[head.Length + HeadRewriter.MaxGrowth];

        Assert.True(HeadRewriter.Rewrite(head, HeadRewriter.ConnectionKeepAlive, destination) <= destination.Length);
    }
}
