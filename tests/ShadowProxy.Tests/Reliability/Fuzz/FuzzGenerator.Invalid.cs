using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>
/// Requests the proxy must refuse (README: 400 for what it cannot parse or could read two ways, 431 for a head over the
/// limit), never forwarding what a backend could frame differently.
/// </summary>
internal static partial class FuzzGenerator
{
    /// <summary>The default --max-head-size: a head past it gets 431.</summary>
    public const int MaxHeadBytes = 32 * 1024;

    /// <summary>Heads to refuse whole: {0} is the request-target.</summary>
    private static readonly (string Shape, string Head)[] InvalidHeads =
    [
        ("Content-Length with Transfer-Encoding", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("Transfer-Encoding with Content-Length", "POST {0} HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n"),
        ("two different Content-Lengths", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"),
        ("a Content-Length list", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc"),
        ("a Content-Length with a plus sign", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"),
        ("a Content-Length with a minus sign", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\nabc"),
        ("a hex Content-Length", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc"),
        ("a Content-Length with inner space", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: 1 3\r\n\r\nabc"),
        ("an empty Content-Length", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"),
        ("an overflowing Content-Length", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\nabc"),
        ("obs-fold", "GET {0} HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n"),
        ("obs-fold with a tab", "GET {0} HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n\tb\r\n\r\n"),
        ("obs-fold of Transfer-Encoding", "POST {0} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc"),
        ("bare LF between fields", "GET {0} HTTP/1.1\r\nHost: h\nX-Hidden: 1\r\n\r\n"),
        ("bare LF after the request line", "GET {0} HTTP/1.1\nHost: h\r\n\r\n"),
        ("bare LF lines only", "GET {0} HTTP/1.1\nHost: h\n\n"),
        ("bare LF ending the head", "GET {0} HTTP/1.1\r\nHost: h\r\n\n"),
        ("bare CR in a field", "GET {0} HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n"),
        ("Transfer-Encoding on HTTP/1.0", "POST {0} HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("chunked not the final coding", "POST {0} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        ("chunked twice", "POST {0} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("an unknown coding only", "POST {0} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        ("space before the colon", "POST {0} HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc"),
        ("two Hosts", "GET {0} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("no Host on HTTP/1.1", "GET {0} HTTP/1.1\r\nX: 1\r\n\r\n"),
        ("NUL in a value", "GET {0} HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n"),
        ("DEL in a value", "GET {0} HTTP/1.1\r\nHost: h\r\nX: a\u007fb\r\n\r\n"),
        ("a space in the target", "GET {0} x HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("an unknown version", "GET {0} HTTP/1.2\r\nHost: h\r\n\r\n"),
        ("a lower-case version", "GET {0} http/1.1\r\nHost: h\r\n\r\n"),
        ("two spaces after the method", "GET  {0} HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("a separator in the method", "GE(T {0} HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("a separator in a field name", "GET {0} HTTP/1.1\r\nHost: h\r\nX@Y: 1\r\n\r\n"),
        ("a field without a colon", "GET {0} HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"),
    ];

    /// <summary>Chunked bodies that break part-way, and the offset of the byte that breaks them.</summary>
    internal static readonly (string Shape, string Tail, int Breaks)[] InvalidBodies =
    [
        ("a chunk size that is not hex", "zz\r\nhello\r\n0\r\n\r\n", 0),
        ("a negative chunk size", "-5\r\nhello\r\n0\r\n\r\n", 0),
        ("a chunk size with a plus sign", "+5\r\nhello\r\n0\r\n\r\n", 0),
        ("a 0x chunk size", "0x5\r\nhello\r\n0\r\n\r\n", 1),
        ("an empty chunk size", "\r\nhello\r\n0\r\n\r\n", 0),
        ("an overflowing chunk size", "10000000000000005\r\nhello\r\n0\r\n\r\n", 15),
        ("bare LF after the chunk size", "5\nhello\r\n0\r\n\r\n", 1),
        ("chunk data longer than its size", "3\r\nhello\r\n0\r\n\r\n", 6),
        ("no CRLF after the chunk data", "5\r\nhelloX\r\n0\r\n\r\n", 8),
        ("bare LF after the chunk data", "5\r\nhello\n0\r\n\r\n", 8),
        ("a control character in a chunk extension", "5;a\u0001b\r\nhello\r\n0\r\n\r\n", 3),
        ("text after the chunk size without a ';'", "5 xyz\r\nhello\r\n0\r\n\r\n", 2),
        ("a chunk extension without a name", "5;\r\nhello\r\n0\r\n\r\n", 2),
        ("obs-fold in a trailer", "0\r\nX: a\r\n b\r\n\r\n", 9),
        ("bare LF in a trailer", "0\r\nX: a\nY: b\r\n\r\n", 7),
        ("a trailer line without a colon", "0\r\nX-No-Colon\r\n\r\n", 13),
        ("no LF after the last CR", "0\r\n\rX", 4),
        // Every byte of the line counts, the ';' too: the byte at offset MaxSizeLineBytes (4096) is the first past the
        // bound and breaks the line, far before the 5000th.
        ("a chunk-size line over 4 KiB", "5;" + new string('e', 5000) + "\r\nhello\r\n0\r\n\r\n", ChunkedBodyScanner.MaxSizeLineBytes),
    ];

    private static FuzzRequest CreateInvalid(Random random, int number, string id, FuzzMode mode)
    {
        FuzzResponse production = FuzzResponses.Create(random, "POST", mode);
        FuzzResponse shadow = FuzzResponses.Create(random, "POST", mode);
        int roll = random.Next(10);
        if (roll < 5)
        {
            (string shape, string head) = Pick(random, InvalidHeads);
            byte[] bytes = Encoding.Latin1.GetBytes(head.Replace("{0}", id, StringComparison.Ordinal));
            return new FuzzRequest(number, id, "POST", id, [], bytes, [], false, true, Invalidity.Head, shape, 400, 0, [], production, shadow);
        }

        if (roll < 6)
        {
            // Over --max-head-size: 431, whether the head ends past the limit or never ends before it.
            var fields = new List<string> { "Host: h" };
            int size = MaxHeadBytes + random.Next(-64, 4096);
            while (fields.Sum(field => field.Length + 2) < size)
            {
                fields.Add($"X-Filler-{fields.Count}: {new string('f', random.Next(50, 4000))}");
            }

            byte[] head = Head($"GET {id} HTTP/1.1", fields);
            if (head.Length <= MaxHeadBytes)
            {
                head = Head($"GET {id} HTTP/1.1", [.. fields, $"X-Over: {new string('o', MaxHeadBytes - head.Length + 1)}"]);
            }

            return new FuzzRequest(number, id, "GET", id, [], head, [], false, true, Invalidity.Head, "a head over --max-head-size", 431, 0, [], production, shadow);
        }

        (string bodyShape, string tail, int breaks) = Pick(random, InvalidBodies);
        (byte[] valid, IReadOnlyList<int> sizeLines) = Chunked(random, last: false);
        var chunkedFields = new List<string> { $"{Cased(random, "Host")}: h", $"{Cased(random, "Transfer-Encoding")}: chunked" };
        byte[] chunkedHead = Head($"POST {id} HTTP/1.1", Shuffled(random, chunkedFields));
        byte[] body = [.. valid, .. Encoding.Latin1.GetBytes(tail)];
        return new FuzzRequest(
            number, id, "POST", id, [], chunkedHead, body, false, true, Invalidity.Body, bodyShape, 400, valid.Length + breaks,
            [.. sizeLines, valid.Length], production, shadow);
    }
}
