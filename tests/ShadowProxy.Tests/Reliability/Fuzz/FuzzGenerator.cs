using System.Globalization;
using System.Text;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>
/// Builds cases from a seed and an index, so that one failing case can be generated again on its own: valid requests
/// in every framing the proxy accepts (headers in any case, optional whitespace, Content-Length with leading zeros,
/// chunked with extensions, trailers and hex of any case), broken ones it must refuse, and the pieces they arrive in.
/// </summary>
internal static partial class FuzzGenerator
{
    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"];
    private const string TokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
    private const string ValueChars = "abcdefghijklmnopqrstuvwxyz0123456789 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    private const string QueryChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@/?";

    public static FuzzCase Create(int seed, int index)
    {
        var random = new Random(unchecked((seed * 1_000_003) + index));
        string key = string.Create(CultureInfo.InvariantCulture, $"{(uint)seed:x}-{index}");
        int roll = random.Next(10);
        FuzzMode mode = roll < 5 ? FuzzMode.Plain : roll < 7 ? FuzzMode.BackendKeepAlive : roll < 8 ? FuzzMode.ClientClose : FuzzMode.ShadowMarked;
        int count = random.Next(1, 6);
        int invalidAt = random.Next(5) == 0 ? random.Next(count) : -1;
        bool halfClose = random.Next(2) == 0;
        var requests = new List<FuzzRequest>();
        for (int number = 0; number < count; number++)
        {
            string id = $"/fz/{key}/{number.ToString(CultureInfo.InvariantCulture)}";
            bool wantsClose = (number == count - 1 && !halfClose) || random.Next(25) == 0;
            FuzzRequest request = number == invalidAt
                ? CreateInvalid(random, number, id, mode)
                : CreateValid(random, number, id, wantsClose, mode);
            requests.Add(request);
        }

        byte[] wire = [.. requests.SelectMany(request => request.Wire)];
        return new FuzzCase(seed, index, key, mode, requests, Split(random, wire, InterestingPoints(requests)), halfClose);
    }

    private static FuzzRequest CreateValid(Random random, int number, string id, bool wantsClose, FuzzMode mode)
    {
        string method = Pick(random, Methods);
        bool http10 = random.Next(12) == 0;
        string target = id + (random.Next(3) == 0 ? "?" + Text(random, QueryChars, 0, 30) : string.Empty);
        if (random.Next(15) == 0)
        {
            target = "http://example.test" + target;   // absolute-form, as a client speaking to a proxy sends it
        }

        var fields = new List<string>();
        if (!http10 || random.Next(2) == 0)
        {
            fields.Add($"{Cased(random, "Host")}:{Ows(random)}{Pick(random, ["example.test", "h", "127.0.0.1:8080", "[::1]:80"])}{Ows(random)}");
        }

        AddOrdinaryFields(random, fields);

        int bodyRoll = method == "HEAD" && random.Next(6) != 0 ? 0 : random.Next(10);
        byte[] body = [];
        IReadOnlyList<int> sizeLines = [];
        if (bodyRoll is >= 5 and < 8 || (bodyRoll >= 8 && http10))
        {
            body = RandomBody(random, random.Next(1, 4) == 1 ? random.Next(0, 40) : random.Next(0, 20_000));
            string length = new string('0', random.Next(6) == 0 ? random.Next(1, 4) : 0) + body.Length.ToString(CultureInfo.InvariantCulture);
            fields.Add($"{Cased(random, "Content-Length")}:{Ows(random)}{length}{Ows(random)}");
            if (random.Next(12) == 0)
            {
                fields.Add($"{Cased(random, "Content-Length")}: {body.Length.ToString(CultureInfo.InvariantCulture)}");   // the same length twice is one length
            }
        }
        else if (bodyRoll >= 8)
        {
            (body, sizeLines) = Chunked(random);
            AddChunkedCoding(random, fields);
        }
        else if (random.Next(8) == 0)
        {
            fields.Add($"{Cased(random, "Content-Length")}:{Ows(random)}{Pick(random, ["0", "00", "0"])}");
        }

        // Now and then an Upgrade that production declines (it never answers 101 here): the answer is an ordinary one.
        bool tunnel = !http10 && method is "GET" or "POST" or "OPTIONS" && random.Next(25) == 0;
        bool keepAlive = tunnel ? AddUpgradeFields(random, fields, wantsClose) : AddConnectionFields(random, fields, wantsClose, http10);
        bool clientWantsClose = wantsClose || (http10 && !keepAlive);
        string requestLine = $"{method} {target} HTTP/1.{(http10 ? 0 : 1)}";
        if (random.Next(40) == 0)
        {
            // A head right at the limit: --max-head-size is the largest head taken (the rewrite may make it larger).
            int size = Head(requestLine, fields).Length + "X-Big: \r\n".Length;
            fields.Add($"X-Big: {new string('b', MaxHeadBytes - random.Next(0, 3) - size)}");
        }

        byte[] head = Head(requestLine, Shuffled(random, fields));
        byte[] leading = random.Next(12) == 0 ? Encoding.ASCII.GetBytes(Pick(random, ["\r\n", "\r\n\r\n"])) : [];
        return new FuzzRequest(
            number, id, method, target, leading, head, body, http10, clientWantsClose, Invalidity.None, tunnel ? "upgrade" : "valid", 0, body.Length, sizeLines,
            FuzzResponses.Create(random, method, mode, tunnel), FuzzResponses.Create(random, method, mode))
        {
            Tunnel = tunnel,
        };
    }

    private static bool AddUpgradeFields(Random random, List<string> fields, bool wantsClose)
    {
        fields.Add($"{Cased(random, "Upgrade")}:{Ows(random)}{Pick(random, ["websocket", "h2c", "TLS/1.2, HTTP/1.1"])}");
        fields.Add(wantsClose
            ? Pick(random, ["Connection: Upgrade, close", "connection: close,upgrade"])
            : Pick(random, ["Connection: Upgrade", "connection: keep-alive, Upgrade", "CONNECTION:upgrade", "Connection: Upgrade, HTTP2-Settings"]));
        return false;
    }

    /// <summary>Fields that mean nothing to the proxy: names and values of any case, OWS, obs-text, lookalikes of a head.</summary>
    private static void AddOrdinaryFields(Random random, List<string> fields)
    {
        for (int i = random.Next(0, 6); i > 0; i--)
        {
            string value = random.Next(8) switch
            {
                0 => "HTTP/1.1 200 OK",
                1 => "a: b, GET / HTTP/1.1",
                2 => "caf\u00e9 \u00ff\u0080",   // obs-text: allowed in a field value (RFC 9110 §5.5)
                3 => string.Empty,
                _ => Text(random, ValueChars, 0, 60).Trim(' ', '\t'),
            };
            fields.Add($"{Cased(random, "X-" + Text(random, TokenChars, 1, 16))}:{Ows(random)}{value}{Ows(random)}");
        }

        if (random.Next(4) == 0)
        {
            fields.Add($"{Cased(random, "User-Agent")}: fuzz/1.0");
        }

        if (random.Next(10) == 0)
        {
            fields.Add($"{Cased(random, "X-Shadow")}:{Ows(random)}from-the-client");   // replaced in a marked shadow copy
        }

        if (random.Next(12) == 0)
        {
            fields.Add($"{Cased(random, "Expect")}: 100-continue");   // sent with the body at once, as a client may
        }

    }

    private static void AddChunkedCoding(Random random, List<string> fields)
    {
        switch (random.Next(5))
        {
            case 0:
                fields.Add($"{Cased(random, "Transfer-Encoding")}:{Ows(random)}gzip,{Ows(random)}{Cased(random, "chunked")}");
                break;
            case 1:
                // Two fields are one list, in their order: kept together through the shuffle.
                fields.Add($"{Cased(random, "Transfer-Encoding")}: gzip\r\n{Cased(random, "Transfer-Encoding")}: chunked");
                break;
            default:
                fields.Add($"{Cased(random, "Transfer-Encoding")}:{Ows(random)}{Cased(random, "chunked")}{Ows(random)}");
                break;
        }
    }

    /// <returns>Whether an HTTP/1.0 request asked for keep-alive.</returns>
    private static bool AddConnectionFields(Random random, List<string> fields, bool wantsClose, bool http10)
    {
        bool keepAlive = false;
        if (wantsClose)
        {
            fields.Add(Pick(random, ["Connection: close", "connection: Close", "Connection: keep-alive, close", "CONNECTION:close"]));
        }
        else if (http10)
        {
            keepAlive = random.Next(10) < 7;
            if (keepAlive)
            {
                fields.Add(Pick(random, ["Connection: keep-alive", "Connection: Keep-Alive", "connection:keep-alive "]));
            }
        }
        else
        {
            switch (random.Next(10))
            {
                case 0:
                case 1:
                    fields.Add(Pick(random, ["Connection: keep-alive", "connection: Keep-Alive", "CONNECTION:\tkeep-alive"]));
                    break;
                case 2:
                    // RFC 9110 §7.6.1 would have a proxy drop X-Trace too; the README promises to replace only the Connection field.
                    fields.Add("Connection: keep-alive, X-Trace");
                    fields.Add("X-Trace: on");
                    break;
            }
        }

        if (random.Next(10) == 0)
        {
            fields.Add($"{Cased(random, "Keep-Alive")}: timeout=5, max=100");
        }

        if (random.Next(12) == 0)
        {
            fields.Add($"{Cased(random, "Proxy-Connection")}: keep-alive");
        }

        return keepAlive;
    }
}
