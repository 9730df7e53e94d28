using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Http;

public sealed class ResponseHeadParserTests
{
    private static ResponseHead Parse(string head, bool answersHead = false)
    {
        Assert.True(ResponseHeadParser.TryParse(Encoding.ASCII.GetBytes(head), answersHead, false, out ResponseHead response), head);
        return response;
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "ContentLength")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Chunked")]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n", "CloseDelimited")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "CloseDelimited")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", "CloseDelimited")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "Chunked")]
    [InlineData("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "None")]
    [InlineData("HTTP/1.1 304 Not Modified\r\n\r\n", "None")]
    [InlineData("HTTP/1.1 100 Continue\r\n\r\n", "None")]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "None")]
    [InlineData("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", "ContentLength")]
    public void Frames_the_body_by_the_head(string head, string expected) => Assert.Equal(Enum.Parse<BodyKind>(expected), Parse(head).Body);

    [Fact]
    public void A_head_request_has_no_response_body_whatever_the_length_says() =>
        Assert.Equal(BodyKind.None, Parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", answersHead: true).Body);

    [Fact]
    public void Knows_interim_answers_and_the_servers_intent_to_close()
    {
        Assert.True(Parse("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n").IsInterim);
        Assert.False(Parse("HTTP/1.1 101 Switching Protocols\r\n\r\n").IsInterim);
        Assert.True(Parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n").ServerWantsClose);
        Assert.True(Parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").ServerWantsClose);
        Assert.False(Parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n").ServerWantsClose);
        Assert.False(Parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n").ServerWantsClose);
    }

    [Theory]
    [InlineData("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")]
    [InlineData("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n")]
    public void An_http10_response_with_Transfer_Encoding_closes_its_connection_whatever_it_says(string head) =>
        Assert.True(Parse(head).ServerWantsClose, head);   // RFC 9112 §6.1: its framing is faulty

    [Theory]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 20 OK\r\n\r\n")]
    [InlineData("HTTP/2 200 OK\r\n\r\n")]
    [InlineData("ICY 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 600 Odd\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n")]
    public void Rejects_what_is_not_an_http1_response(string head) =>
        Assert.False(ResponseHeadParser.TryParse(Encoding.ASCII.GetBytes(head), false, false, out _));
}
