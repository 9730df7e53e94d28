using System.Text;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>
/// One generated case: 1-5 requests pipelined on one client connection, written in the given pieces, and everything the
/// proxy promises about them (README, "What the backends and the client see"), worked out independently of its code.
/// </summary>
internal sealed record FuzzCase(int Seed, int Index, string Key, FuzzMode Mode, IReadOnlyList<FuzzRequest> Requests, IReadOnlyList<Cut> Cuts, bool HalfClose)
{
    public byte[] Wire => [.. Requests.SelectMany(request => request.Wire)];

    /// <summary>The requests that reach the backends (in order): every one up to the first that ends the connection.</summary>
    public IReadOnlyList<FuzzRequest> Forwarded => [.. Walk().Where(step => step.Forwarded).Select(step => step.Request)];

    /// <summary>Exactly what the client must receive before the proxy closes the connection (but <see cref="ExpectedClientCut"/>).</summary>
    public byte[] ExpectedClientBytes => [.. Walk().SelectMany(step => step.ClientBytes)];

    /// <summary>
    /// When production's last answer breaks part-way through its body: what of it may follow <see cref="ExpectedClientBytes"/>
    /// (the relay stops before the breaking byte and cuts the connection): any prefix of this, and nothing else.
    /// </summary>
    public byte[] ExpectedClientCut => Walk().Last().Cut;

    /// <summary>
    /// The client said close itself and still pipelined requests behind it, which it must not do (RFC 9112 §9.6): the
    /// proxy then need not look for those bytes before it closes, and the kernel may answer them with a reset.
    /// </summary>
    public bool ClientSendsAfterItsClose
    {
        get
        {
            int last = Walk().Last().Request.Number;
            FuzzRequest closing = Requests[last];
            return closing.Invalid == Invalidity.None && closing.ClientWantsClose && last < Requests.Count - 1;
        }
    }

    /// <summary>
    /// Production's last answer breaks part-way and the client frames it by the close (a chunked answer to an HTTP/1.0
    /// request): a close would make it look whole, so the proxy ends the connection with a reset.
    /// </summary>
    public bool EndsWithReset
    {
        get
        {
            FuzzRequest last = Walk().Last().Request;
            return last.Invalid == Invalidity.None && last.Production.Invalid == Invalidity.Body && last.Http10 && last.Production.Chunked;
        }
    }

    public const string ShadowHeader = "X-Shadow: 1";

    public const string ShadowHost = "shadow.internal:8080";

    /// <summary>Exactly what a backend must receive for a request: the client's bytes with the proxy's Connection field.</summary>
    public string ExpectedBackendRequest(FuzzRequest request, bool shadow = false)
    {
        string field = request.Tunnel ? "Connection: Upgrade" : Mode == FuzzMode.BackendKeepAlive ? "Connection: keep-alive" : "Connection: close";
        byte[] head = HeadRewrite(request.Head, field, dropContentLength: false);
        if (shadow && Mode == FuzzMode.ShadowMarked)
        {
            // README: Host replaced (its own line after the request line), the header added before the empty line in
            // place of any field of that name the client sent.
            string[] lines = Latin1(head).Split("\r\n");
            IEnumerable<string> fields = lines.Skip(1).Where(line => line.Length > 0).Where(line =>
                !Named(line, "Host") && !Named(line, ShadowHeader[..ShadowHeader.IndexOf(':', StringComparison.Ordinal)]));
            // An absolute-form target names the host too, and the server goes by it (RFC 9112 §3.2.2): it is replaced.
            string requestLine = System.Text.RegularExpressions.Regex.Replace(
                lines[0], "^([^ ]+ https?://)[^/? ]*", "${1}" + ShadowHost, System.Text.RegularExpressions.RegexOptions.IgnoreCase);
            head = Encoding.Latin1.GetBytes(string.Concat(
                new[] { requestLine, "Host: " + ShadowHost }.Concat(fields).Append(ShadowHeader).Select(line => line + "\r\n")) + "\r\n");
        }

        return Latin1(head) + Latin1(request.Body);
    }

    private static bool Named(string line, string name) =>
        line.IndexOf(':', StringComparison.Ordinal) is var colon and > 0 && line[..colon].Equals(name, StringComparison.OrdinalIgnoreCase);

    private IEnumerable<(FuzzRequest Request, bool Forwarded, byte[] ClientBytes, byte[] Cut)> Walk()
    {
        foreach (FuzzRequest request in Requests)
        {
            if (request.Invalid == Invalidity.Head)
            {
                yield return (request, false, Rejection(request.RejectStatus), []);
                yield break;
            }

            if (request.Invalid == Invalidity.Body)
            {
                yield return (request, true, Rejection(400), []);
                yield break;
            }

            FuzzResponse response = request.Production;
            bool closes = Mode == FuzzMode.ClientClose || request.ClientWantsClose || response.CloseDelimited || request.Tunnel
                || (request.Http10 && response.Chunked);
            // An HTTP/1.0 request or answer persists only with keep-alive said (RFC 9112 §9.3).
            bool http10Answer = response.Head.AsSpan().StartsWith("HTTP/1.0 "u8);
            string? field = closes ? "Connection: close" : request.Http10 || http10Answer ? "Connection: keep-alive" : null;
            // An HTTP/1.0 client gets no interim answer (RFC 9110 §15.2): the proxy reads them and passes them over.
            byte[] interims = request.Http10 ? [] : [.. response.Interims.SelectMany(interim => HeadRewrite(interim, null, dropContentLength: false))];
            if (response.Invalid == Invalidity.Head)
            {
                // Nothing of a head the proxy cannot read reaches the client: 502, and the connection ends.
                yield return (request, true, [.. interims, .. Rejection(502, answersHead: request.Method == "HEAD")], []);
                yield break;
            }

            if (response.Invalid == Invalidity.Body)
            {
                // The head and the body's valid part go out as they arrive, never the byte that breaks it; then the cut.
                yield return (request, true, interims, [.. HeadRewrite(response.Head, field, response.LengthOverridden), .. response.Body[..response.BreakAt]]);
                yield break;
            }

            yield return (request, true, [.. interims, .. HeadRewrite(response.Head, field, response.LengthOverridden), .. response.Body], []);
            if (closes)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// The proxy's own answer: ErrorResponses, written out here so that a change to it is seen; to a HEAD, the head alone.
    /// </summary>
    public static byte[] Rejection(int status, bool answersHead = false)
    {
        string reason = status switch
        {
            431 => "Request Header Fields Too Large",
            502 => "Bad Gateway",
            _ => "Bad Request",
        };
        string body = $"{status} {reason}\n";
        return Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{(answersHead ? "" : body)}");
    }

    /// <summary>
    /// A head as the next hop gets it: the same lines minus Connection, Keep-Alive and Proxy-Connection (and, for a
    /// response whose Transfer-Encoding overrides it, Content-Length), plus the proxy's own Connection field.
    /// </summary>
    public static byte[] HeadRewrite(byte[] head, string? connectionField, bool dropContentLength)
    {
        string[] lines = Latin1(head).Split("\r\n");
        var rewritten = new StringBuilder(lines[0]).Append("\r\n");
        foreach (string line in lines.Skip(1).Where(line => line.Length > 0))
        {
            string name = line[..line.IndexOf(':', StringComparison.Ordinal)];
            bool dropped = name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase)
                || (dropContentLength && name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase));
            if (!dropped)
            {
                rewritten.Append(line).Append("\r\n");
            }
        }

        if (connectionField is not null)
        {
            rewritten.Append(connectionField).Append("\r\n");
        }

        return Encoding.Latin1.GetBytes(rewritten.Append("\r\n").ToString());
    }

    public static string Latin1(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    public static byte[] Latin1Bytes(string text) => Encoding.Latin1.GetBytes(text);

    /// <summary>Everything needed to read the case back: the mode, each request and response, and the pieces.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo(
            $"case {Index} of seed {Seed} (rerun: SHADOWPROXY_FUZZ_SEED={Seed} SHADOWPROXY_FUZZ_CASE={Index}); mode {Mode}; {(HalfClose ? "client half-closes after sending" : "connection left open")}\n"));
        foreach (FuzzRequest request in Requests)
        {
            text.Append(CultureInfo($"  request {request.Number}{(request.Invalid != Invalidity.None ? $" INVALID ({request.Invalid}: {request.Shape})" : string.Empty)}: {Escape(request.Wire)}\n"));
            text.Append(CultureInfo($"    production answers{Broken(request.Production)}: {Escape(request.Production.Wire)} in pieces {Pieces(request.Production.Cuts)}\n"));
            text.Append(CultureInfo($"    shadow answers{Broken(request.Shadow)}: {Escape(request.Shadow.Wire)}\n"));
        }

        text.Append(CultureInfo($"  client pieces ({Wire.Length} bytes; '+' = a pause before the piece): {Pieces(Cuts)}\n"));
        return text.ToString();
    }

    private static string Broken(FuzzResponse response) =>
        response.Invalid == Invalidity.None ? string.Empty : CultureInfo($" INVALID ({response.Invalid}: {response.Shape}, breaks at body byte {response.BreakAt})");

    private static string CultureInfo(FormattableString text) => text.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Pieces(IReadOnlyList<Cut> cuts) =>
        string.Join(',', cuts.Select(cut => (cut.DelayMs > 0 ? "+" : string.Empty) + cut.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Bytes as readable text: CR, LF, tab and other non-printables escaped; long runs shortened.</summary>
    public static string Escape(byte[] bytes, int max = 600)
    {
        var text = new StringBuilder("\"");
        for (int i = 0; i < bytes.Length; i++)
        {
            if (i == max / 2 && bytes.Length > max)
            {
                text.Append(CultureInfo($"...({bytes.Length - max} bytes)..."));
                i = bytes.Length - (max / 2);
            }

            byte b = bytes[i];
            text.Append(b switch
            {
                (byte)'\r' => "\\r",
                (byte)'\n' => "\\n",
                (byte)'\t' => "\\t",
                (byte)'\\' => "\\\\",
                (byte)'"' => "\\\"",
                >= 0x20 and < 0x7F => ((char)b).ToString(),
                _ => CultureInfo($"\\x{b:X2}"),
            });
        }

        return text.Append('"').ToString();
    }
}
