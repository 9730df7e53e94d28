using System.Net;
using ShadowProxy.Http;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

public class RejectionLogTests
{
    [Theory]
    [InlineData(false, "Rejected a request from 127.0.0.1:5000: not a valid HTTP/1.x request head, or one that could be read two ways (400)")]
    [InlineData(true, "Rejected a request from 127.0.0.1:5000: its head is larger than --max-head-size (431)")]
    public void A_rejected_request_is_logged_in_words_with_its_status(bool tooLarge, string expected)
    {
        // It said the enum's name: "Malformed (400)", "TooLarge (431)".
        var diagnostics = new RecordingLogger();
        var client = new IPEndPoint(IPAddress.Loopback, 5000);

        diagnostics.RequestRejected(client, tooLarge ? HeadReadStatus.TooLarge : HeadReadStatus.Malformed, tooLarge ? 431 : 400);

        Assert.Equal(expected, Assert.Single(diagnostics.Warnings));
    }
}
