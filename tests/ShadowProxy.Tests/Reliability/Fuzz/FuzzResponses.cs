using System.Globalization;
using System.Text;
using static ShadowProxy.Tests.Reliability.Fuzz.FuzzGenerator;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>
/// Backend responses of every framing: Content-Length (bodies holding status lines and CRLFs), chunked, to the close,
/// Transfer-Encoding with a Content-Length it overrides, 204 and 304 without a body, HEAD answers that announce a
/// length they do not send, interim answers before the final one; each sent in pieces of its own.
/// </summary>
internal static class FuzzResponses
{
    private static readonly string[] Interims =
    [
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\nconnection: keep-alive\r\n\r\n",
    ];

    /// <summary>Response heads the proxy must not relay (RFC 9112 §6.3, §11.2: a client could frame them another way).</summary>
    private static readonly (string Shape, string Response)[] InvalidHeads =
    [
        ("two different Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"),
        ("a signed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc"),
        ("a Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc"),
        ("obs-fold", "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 3\r\n\r\nabc"),
        ("bare LF", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc"),
        ("bare LF between fields", "HTTP/1.1 200 OK\r\nX: 1\nContent-Length: 3\r\n\r\nabc"),
        ("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 3\r\n\r\nabc"),
        ("space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc"),
        ("a four-digit status", "HTTP/1.1 2000 OK\r\nContent-Length: 3\r\n\r\nabc"),
        ("HTTP/2 in the status line", "HTTP/2 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
        ("not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        ("NUL in a value", "HTTP/1.1 200 OK\r\nX: a\u0000b\r\nContent-Length: 3\r\n\r\nabc"),
        ("101 to a request that asked for no switch", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),   // last: left out for an Upgrade
    ];

    /// <param name="upgrade">The request asked for an Upgrade: a 101 would be the switch it asked for, not a broken answer.</param>
    public static FuzzResponse Create(Random random, string method, FuzzMode mode, bool upgrade = false)
    {
        var interims = new List<byte[]>();
        for (int i = random.Next(10) == 0 ? random.Next(1, 3) : 0; i > 0; i--)
        {
            interims.Add(Encoding.ASCII.GetBytes(Pick(random, Interims)));
        }

        if (random.Next(30) == 0)
        {
            return CreateInvalid(random, method, interims, upgrade);
        }

        bool http10 = random.Next(12) == 0;
        bool head = method == "HEAD";
        int status = head ? Pick(random, [200, 200, 404, 301]) : Pick(random, [200, 200, 200, 201, 204, 304, 404, 500, 302]);
        var fields = new List<string>();
        if (random.Next(2) == 0)
        {
            fields.Add($"{Cased(random, "Content-Type")}: text/plain; charset=utf-8");
        }

        for (int i = random.Next(0, 4); i > 0; i--)
        {
            fields.Add($"{Cased(random, "X-R-" + Text(random, "abcdefgh", 1, 8))}:{Ows(random)}{Pick(random, ["HTTP/1.1 200 OK", "a\tb", "0", Text(random, "xyz ;=,", 0, 20).Trim()])}");
        }

        byte[] body = [];
        byte[] payload = [];
        bool closeDelimited = false, lengthOverridden = false, chunked = false;
        if (head)
        {
            // The length of the body a GET would get; none follows (RFC 9110 §9.3.2).
            switch (random.Next(3))
            {
                case 0:
                    fields.Add($"{Cased(random, "Content-Length")}: {random.Next(0, 100_000).ToString(CultureInfo.InvariantCulture)}");
                    break;
                case 1:
                    fields.Add($"{Cased(random, "Transfer-Encoding")}: chunked");
                    break;
            }
        }
        else if (status == 204)
        {
        }
        else if (status == 304)
        {
            fields.Add("ETag: \"v1\"");
            if (random.Next(2) == 0)
            {
                fields.Add($"{Cased(random, "Content-Length")}: {random.Next(1, 5000).ToString(CultureInfo.InvariantCulture)}");
            }
        }
        else
        {
            switch (random.Next(12))
            {
                case < 6:
                    body = payload = RandomBody(random, random.Next(3) == 0 ? random.Next(0, 30_000) : random.Next(0, 200));
                    fields.Add($"{Cased(random, "Content-Length")}:{Ows(random)}{body.Length.ToString(CultureInfo.InvariantCulture)}");
                    break;
                case < 9:
                    (body, _) = Chunked(random);
                    payload = Dechunk(body);
                    chunked = true;
                    fields.Add($"{Cased(random, "Transfer-Encoding")}:{Ows(random)}{Cased(random, "chunked")}");
                    break;
                case 9:
                    // Transfer-Encoding overrides the length (RFC 9112 §6.3 item 3); the client's copy goes without it.
                    (body, _) = Chunked(random);
                    payload = Dechunk(body);
                    chunked = true;
                    fields.Add($"{Cased(random, "Transfer-Encoding")}: chunked");
                    fields.Add($"{Cased(random, "Content-Length")}: {random.Next(0, 100).ToString(CultureInfo.InvariantCulture)}");
                    lengthOverridden = true;
                    break;
                default:
                    // Delimited by the close: rare, since it ends the client's connection too.
                    body = payload = RandomBody(random, random.Next(0, 3000));
                    closeDelimited = true;
                    if (random.Next(3) == 0)
                    {
                        fields.Add($"{Cased(random, "Transfer-Encoding")}: gzip");
                        if (random.Next(2) == 0)
                        {
                            fields.Add("Content-Length: 7");
                            lengthOverridden = true;
                        }
                    }

                    break;
            }
        }

        // The backend closes after this answer when the proxy asked it to, when it says so, or when nothing else ends the body.
        bool saysClose = random.Next(mode == FuzzMode.BackendKeepAlive ? 6 : 2) == 0;
        bool saysKeepAlive = !saysClose && random.Next(3) == 0;
        if (saysClose)
        {
            fields.Add(Pick(random, ["Connection: close", "connection: Close"]));
        }
        else if (saysKeepAlive || (http10 && mode == FuzzMode.BackendKeepAlive && random.Next(2) == 0))
        {
            saysKeepAlive = true;
            fields.Add(Pick(random, ["Connection: keep-alive", "Connection: Keep-Alive"]));
            if (random.Next(2) == 0)
            {
                fields.Add("Keep-Alive: timeout=5, max=100");
            }
        }

        bool backendCloses = mode != FuzzMode.BackendKeepAlive || saysClose || closeDelimited || (http10 && !saysKeepAlive);
        string reason = status switch
        {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            301 => "Moved Permanently",
            302 => "Found",
            304 => "Not Modified",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        byte[] headBytes = FuzzGenerator.Head($"HTTP/1.{(http10 ? 0 : 1)} {status.ToString(CultureInfo.InvariantCulture)} {reason}", Shuffled(random, fields));
        return new FuzzResponse(status, interims, headBytes, body, payload, closeDelimited, backendCloses, lengthOverridden, Cuts(random, interims, headBytes, body))
        {
            Chunked = chunked,
        };
    }

    /// <summary>A response the proxy must refuse (head) or cut (a chunked body that breaks part-way); the backend closes after it.</summary>
    private static FuzzResponse CreateInvalid(Random random, string method, List<byte[]> interims, bool upgrade)
    {
        if (method == "HEAD" || random.Next(3) > 0)
        {
            (string shape, string response) = Pick(random, InvalidHeads[..(upgrade ? ^1 : ^0)]);
            byte[] bytes = Encoding.Latin1.GetBytes(response);
            return new FuzzResponse(0, interims, bytes, [], [], false, true, false, Cuts(random, interims, bytes, []))
            {
                Invalid = Invalidity.Head,
                Shape = shape,
            };
        }

        (string bodyShape, string tail, int breaks) = Pick(random, FuzzGenerator.InvalidBodies);
        (byte[] valid, _) = Chunked(random, last: false);
        byte[] head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\n{Cased(random, "Transfer-Encoding")}: chunked\r\n\r\n");
        byte[] body = [.. valid, .. Encoding.Latin1.GetBytes(tail)];
        return new FuzzResponse(200, interims, head, body, [], false, true, false, Cuts(random, interims, head, body))
        {
            Invalid = Invalidity.Body,
            Shape = bodyShape,
            BreakAt = valid.Length + breaks,
            Chunked = true,
        };
    }

    private static List<Cut> Cuts(Random random, List<byte[]> interims, byte[] head, byte[] body)
    {
        byte[] wire = [.. interims.SelectMany(interim => interim), .. head, .. body];
        var interesting = Enumerable.Range(1, Math.Max(0, wire.Length - 1)).Where(i => wire[i - 1] == '\r').ToList();
        return Split(random, wire, interesting, maxPauses: 4);
    }
}
