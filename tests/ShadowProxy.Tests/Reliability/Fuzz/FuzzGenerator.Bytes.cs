using System.Globalization;
using System.Text;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>The byte-level pieces of cases: chunked bodies, random bodies, and where the bytes are cut.</summary>
internal static partial class FuzzGenerator
{
    /// <summary>Random chunks with sizes of any hex case (some zero-padded), extensions, and sometimes trailers.</summary>
    internal static (byte[] Body, IReadOnlyList<int> SizeLineOffsets) Chunked(Random random, bool last = true)
    {
        var body = new List<byte>();
        var sizeLines = new List<int>();
        for (int chunks = random.Next(0, 5); chunks > 0; chunks--)
        {
            byte[] data = RandomBody(random, random.Next(4) == 0 ? random.Next(1, 12_000) : random.Next(1, 300));
            if (data.Length == 0)
            {
                continue;
            }

            sizeLines.Add(body.Count);
            body.AddRange(Encoding.ASCII.GetBytes(ChunkSize(random, data.Length) + ChunkExtensions(random) + "\r\n"));
            body.AddRange(data);
            body.AddRange("\r\n"u8.ToArray());
        }

        if (last)
        {
            sizeLines.Add(body.Count);
            body.AddRange(Encoding.ASCII.GetBytes(new string('0', random.Next(4) == 0 ? random.Next(2, 5) : 1) + ChunkExtensions(random) + "\r\n"));
            for (int trailers = random.Next(4) == 0 ? random.Next(1, 4) : 0; trailers > 0; trailers--)
            {
                body.AddRange(Encoding.ASCII.GetBytes($"{Cased(random, "X-T" + Text(random, TokenChars, 1, 10))}:{Ows(random)}{Text(random, ValueChars, 0, 30).Trim()}\r\n"));
            }

            body.AddRange("\r\n"u8.ToArray());
        }

        return ([.. body], sizeLines);
    }

    public static byte[] Dechunk(byte[] body)
    {
        var payload = new List<byte>();
        for (int at = 0; ;)
        {
            int lineEnd = IndexOf(body, "\r\n"u8, at);
            string line = Encoding.ASCII.GetString(body, at, lineEnd - at);
            int sizeEnd = line.IndexOfAny([';', ' ', '\t']);
            int size = int.Parse(sizeEnd < 0 ? line : line[..sizeEnd], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                return [.. payload];
            }

            payload.AddRange(body.AsSpan(lineEnd + 2, size).ToArray());
            at = lineEnd + 2 + size + 2;
        }
    }

    private static int IndexOf(byte[] bytes, ReadOnlySpan<byte> value, int from) => from + bytes.AsSpan(from).IndexOf(value);

    private static string ChunkSize(Random random, int size)
    {
        string hex = size.ToString(Pick(random, ["x", "X"]), CultureInfo.InvariantCulture);
        if (random.Next(3) == 0)
        {
            hex = new string([.. hex.Select(c => random.Next(2) == 0 ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c))]);
        }

        return new string('0', random.Next(4) == 0 ? random.Next(1, 5) : 0) + hex;
    }

    private static string ChunkExtensions(Random random)
    {
        var extensions = new StringBuilder();
        if (random.Next(60) == 0)
        {
            extensions.Append(";long=").Append(new string('x', random.Next(1000, 4000)));   // under the 4 KiB size-line bound
        }

        for (int i = random.Next(4) == 0 ? random.Next(1, 3) : 0; i > 0; i--)
        {
            extensions.Append(random.Next(5) == 0 ? " ;" : ";").Append(Text(random, TokenChars, 1, 10));
            if (random.Next(2) == 0)
            {
                extensions.Append('=').Append(random.Next(2) == 0 ? Text(random, TokenChars, 1, 10) : "\"" + Text(random, "abc def;=,", 0, 10) + "\"");
            }
        }

        return extensions.ToString();
    }

    /// <summary>Bytes that include what a lax parser would trip on: CRLFs, request and status lines, chunk-size lookalikes.</summary>
    internal static byte[] RandomBody(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        byte[][] decoys =
        [
            "\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(),
            "0\r\n\r\n"u8.ToArray(),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"u8.ToArray(),
            "\r\n"u8.ToArray(),
        ];
        for (int i = random.Next(4); i > 0; i--)
        {
            byte[] decoy = Pick(random, decoys);
            if (length > decoy.Length)
            {
                decoy.CopyTo(bytes, random.Next(length - decoy.Length));
            }
        }

        return bytes;
    }

    /// <summary>Where a cut is most likely to catch a parser out: inside each CRLF and inside each chunk-size line.</summary>
    private static List<int> InterestingPoints(IReadOnlyList<FuzzRequest> requests)
    {
        var points = new List<int>();
        int start = 0;
        foreach (FuzzRequest request in requests)
        {
            byte[] wire = request.Wire;
            for (int i = 1; i < wire.Length; i++)
            {
                if (wire[i - 1] == '\r')
                {
                    points.Add(start + i);
                }
            }

            int bodyStart = start + request.Leading.Length + request.Head.Length;
            foreach (int line in request.SizeLineOffsets)
            {
                points.Add(bodyStart + line + 1);
                points.Add(bodyStart + line + 2);
            }

            points.Add(start);
            points.Add(bodyStart);
            start += wire.Length;
        }

        return points;
    }

    /// <summary>
    /// Cuts bytes into pieces: some at interesting points, some at random, sometimes a run of single bytes; a few
    /// pieces come after a short pause, so that the proxy sees them in reads of their own.
    /// </summary>
    internal static List<Cut> Split(Random random, byte[] wire, IReadOnlyList<int> interesting, int maxPauses = 14)
    {
        var points = new SortedSet<int>();
        int style = random.Next(5);
        if (style > 0)
        {
            foreach (int point in interesting.Where(_ => random.Next(4) == 0).Take(30))
            {
                points.Add(point);
            }

            for (int i = random.Next(0, 8); i > 0; i--)
            {
                points.Add(random.Next(wire.Length + 1));
            }
        }

        if (style >= 3 && wire.Length > 0)
        {
            // A dribble: single bytes around one interesting point (or anywhere).
            int around = interesting.Count > 0 && random.Next(3) > 0 ? interesting[random.Next(interesting.Count)] : random.Next(wire.Length);
            for (int at = Math.Max(0, around - random.Next(0, 8)), end = Math.Min(wire.Length, around + random.Next(1, 12)); at <= end; at++)
            {
                points.Add(at);
            }
        }

        var cuts = new List<Cut>();
        int previous = 0, pauses = 0;
        foreach (int point in points.Where(point => point > 0 && point < wire.Length).Append(wire.Length))
        {
            if (point <= previous)
            {
                continue;
            }

            bool pause = cuts.Count > 0 && pauses < maxPauses && random.Next(3) == 0;
            pauses += pause ? 1 : 0;
            cuts.Add(new Cut(point - previous, pause ? 1 : 0));
            previous = point;
        }

        return cuts;
    }

    internal static byte[] Head(string startLine, IEnumerable<string> fields) =>
        Encoding.Latin1.GetBytes(startLine + "\r\n" + string.Concat(fields.Select(field => field + "\r\n")) + "\r\n");

    internal static List<string> Shuffled(Random random, List<string> fields) => [.. fields.OrderBy(_ => random.Next())];

    internal static string Latin1Head(FuzzRequest request) => Latin1(request.Head);

    internal static string Latin1(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    internal static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    internal static string Ows(Random random) => random.Next(5) switch
    {
        0 => string.Empty,
        1 => "\t",
        2 => "  \t ",
        _ => " ",
    };

    internal static string Cased(Random random, string name) => random.Next(4) switch
    {
        0 => name.ToUpperInvariant(),
        1 => name.ToLowerInvariant(),
        2 => new string([.. name.Select(c => random.Next(2) == 0 ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c))]),
        _ => name,
    };

    internal static string Text(Random random, string alphabet, int min, int max)
    {
        var text = new StringBuilder();
        for (int i = random.Next(min, max + 1); i > 0; i--)
        {
            text.Append(alphabet[random.Next(alphabet.Length)]);
        }

        return text.ToString();
    }
}
