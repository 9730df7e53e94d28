using System.Text;

namespace ShadowProxy.Benchmarks;

/// <summary>Request heads as they reach the proxy: a browser's page load and an API client's POST.</summary>
public static class SampleHeads
{
    public const string BrowserGet = "BrowserGet";
    public const string ApiPost = "ApiPost";

    public static byte[] Get(string name) => Encoding.ASCII.GetBytes(name switch
    {
        BrowserGet =>
            "GET /catalog/products?id=7&sort=price&page=2 HTTP/1.1\r\n" +
            "Host: shop.example.test\r\n" +
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
            "Accept-Language: en-GB,en;q=0.7,de;q=0.3\r\n" +
            "Accept-Encoding: gzip, deflate, br, zstd\r\n" +
            "Referer: https://shop.example.test/catalog\r\n" +
            "Cookie: session=5f2c9a61d0e84b7f; theme=dark; consent=analytics%3Dno\r\n" +
            "Connection: keep-alive\r\n" +
            "Upgrade-Insecure-Requests: 1\r\n" +
            "Sec-Fetch-Dest: document\r\n" +
            "Sec-Fetch-Mode: navigate\r\n" +
            "Priority: u=0, i\r\n" +
            "\r\n",
        ApiPost =>
            "POST /api/v2/orders HTTP/1.1\r\n" +
            "Host: api.example.test\r\n" +
            "User-Agent: orders-client/3.4.1\r\n" +
            "Accept: application/json\r\n" +
            "Content-Type: application/json; charset=utf-8\r\n" +
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl\r\n" +
            "X-Request-Id: 3b1f0c7e-8d2a-4f5e-9c61-0a7b2d4e8f13\r\n" +
            "Content-Length: 187\r\n" +
            "Connection: keep-alive\r\n" +
            "\r\n",
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    });
}
