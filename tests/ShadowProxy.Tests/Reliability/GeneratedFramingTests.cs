using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// The request framing (MessageHeadReader, RequestHeadParser, ChunkedBodyScanner) driven through a real Pipe with
/// generated inputs from a seeded generator: any split frames as the whole does, and garbage always ends in a
/// rejection, never an exception, a hang, or a buffer that grows without bound.
/// </summary>
public sealed class GeneratedFramingTests
{
    private const int MaxHead = 32 * 1024;
    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PURGE", "M-SEARCH"];
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);

    public static TheoryData<int> Seeds => [.. Enumerable.Range(1, 8).Select(seed => seed * 7919)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Random_valid_requests_split_at_random_points_frame_exactly_as_generated_and_as_the_unsplit_parse(int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < 150; i++)
        {
            // Two requests back to back: the second must start exactly where the first one's body ends.
            GeneratedRequest first = GeneratedRequest.Create(random);
            GeneratedRequest second = GeneratedRequest.Create(random);
            byte[] wire = [.. first.Bytes, .. second.Bytes];

            IReadOnlyList<Framed> whole = await FrameAsync([wire]);
            IReadOnlyList<Framed> split = await FrameAsync(SplitRandomly(random, wire));

            string context = $"seed {seed}, case {i}: {Encoding.Latin1.GetString(wire)}";
            Assert.True(whole.Count == 2, context);
            Assert.Equal(whole, split);
            Assert.Equal(first.Expected, whole[0]);
            Assert.Equal(second.Expected, whole[1]);
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Random_garbage_is_rejected_without_an_exception_or_a_hang(int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < 200; i++)
        {
            byte[] garbage = new byte[random.Next(1, 4096)];
            random.NextBytes(garbage);
            if (random.Next(2) == 0)
            {
                garbage[^1] = (byte)'\n';
                "\r\n\r\n"u8.CopyTo(garbage.AsSpan(Math.Max(0, garbage.Length - 4)));   // a head end, so the parser (not only the reader) sees it
            }

            IReadOnlyList<Framed> framed = await FrameAsync(SplitRandomly(random, garbage));
            Framed last = Assert.Single(framed);
            Assert.True(last.Rejected, $"seed {seed}, case {i} was accepted: {last}");
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Mutated_valid_requests_are_rejected_or_framed_consistently_never_thrown_or_hung(int seed)
    {
        var random = new Random(seed);
        int rejected = 0;
        for (int i = 0; i < 300; i++)
        {
            byte[] wire = Mutate(random, GeneratedRequest.Create(random).Bytes);
            IReadOnlyList<Framed> whole = await FrameAsync([wire]);
            IReadOnlyList<Framed> split = await FrameAsync(SplitRandomly(random, wire));

            // A mutation may well leave a valid request; whatever it is, every split must frame it the same way. A 400
            // may come before the head is complete (a bare LF is rejected as soon as it arrives), so for rejections
            // only the outcome counts, not how much of the head had been read.
            Assert.Equal(RejectionsAsOutcomes(whole), RejectionsAsOutcomes(split));
            Assert.True(whole.Sum(framed => framed.Head.Length + framed.Body.Length) <= wire.Length);
            rejected += whole[^1].Rejected ? 1 : 0;
        }

        Assert.True(rejected > 100, $"only {rejected} of 300 mutations were rejected: the mutator is too gentle to test anything");
    }

    private static List<Framed> RejectionsAsOutcomes(IReadOnlyList<Framed> framed) =>
        [.. framed.Select(one => one.Outcome == "400" ? Framed.Outcomes("400") : one)];

    [Fact]
    public async Task An_endless_head_is_rejected_once_it_passes_the_limit_while_the_writer_is_held_back()
    {
        // The writer pauses at 64 KiB unread: a reader that waited for the end of a head without a limit would deadlock here.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024));
        using var stop = new CancellationTokenSource(CaseTimeout);
        Task writing = Task.Run(async () =>
        {
            byte[] line = "X-Endless: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"u8.ToArray();
            await pipe.Writer.WriteAsync("GET / HTTP/1.1\r\n"u8.ToArray(), stop.Token);
            while (!stop.IsCancellationRequested)
            {
                FlushResult flushed = await pipe.Writer.WriteAsync(line, stop.Token);
                if (flushed.IsCompleted)
                {
                    return;
                }
            }
        });

        HeadRead read = await MessageHeadReader.ReadAsync(pipe.Reader, new byte[MaxHead], MaxHead, TimeProvider.System, stop.Token).AsTask().WaitAsync(CaseTimeout);
        await pipe.Reader.CompleteAsync();
        await writing.WaitAsync(CaseTimeout);

        Assert.Equal(HeadReadStatus.TooLarge, read.Status);
    }

    [Fact]
    public async Task Every_prefix_of_a_valid_request_is_incomplete_never_rejected_and_never_a_request()
    {
        var random = new Random(42);
        for (int i = 0; i < 20; i++)
        {
            byte[] wire = GeneratedRequest.Create(random).Bytes;
            for (int length = 1; length < wire.Length; length++)
            {
                IReadOnlyList<Framed> framed = await FrameAsync([wire[..length]]);
                Framed last = framed[^1];
                Assert.True(last.Outcome is "truncated" or "body-truncated", $"prefix {length} of {Encoding.Latin1.GetString(wire)}: {last}");
            }
        }
    }

    /// <summary>
    /// Frames requests as the proxy does: a head by MessageHeadReader, parsed by RequestHeadParser, then a
    /// Content-Length body counted or a chunked body scanned by ChunkedBodyScanner, until the input ends or is rejected.
    /// </summary>
    private static async Task<IReadOnlyList<Framed>> FrameAsync(IReadOnlyList<byte[]> pieces)
    {
        var pipe = new Pipe(new PipeOptions(minimumSegmentSize: 512, pauseWriterThreshold: 0));
        Task writing = Task.Run(async () =>
        {
            foreach (byte[] piece in pieces)
            {
                await pipe.Writer.WriteAsync(piece);
            }

            await pipe.Writer.CompleteAsync();
        });

        Task<IReadOnlyList<Framed>> reading = ReadAllAsync(pipe.Reader);
        IReadOnlyList<Framed> framed = await reading.WaitAsync(CaseTimeout);
        await writing.WaitAsync(CaseTimeout);
        return framed;
    }

    private static async Task<IReadOnlyList<Framed>> ReadAllAsync(PipeReader input)
    {
        var framed = new List<Framed>();
        byte[] scratch = new byte[MaxHead];
        while (true)
        {
            HeadRead read = await MessageHeadReader.ReadAsync(input, scratch, MaxHead, TimeProvider.System, CancellationToken.None);
            switch (read.Status)
            {
                case HeadReadStatus.ClientClosed:
                    return framed.Count > 0 ? framed : [Framed.Outcomes("closed")];
                case HeadReadStatus.Truncated:
                    framed.Add(Framed.Outcomes("truncated"));
                    return framed;
                case HeadReadStatus.TooLarge:
                    framed.Add(Framed.Outcomes("431"));
                    return framed;
                case not HeadReadStatus.Complete:
                    framed.Add(Framed.Outcomes("400"));
                    return framed;
            }

            string head = Encoding.Latin1.GetString(scratch, 0, read.Length);
            if (!RequestHeadParser.TryParse(scratch.AsSpan(0, read.Length), out RequestHead request))
            {
                framed.Add(Framed.Outcomes("400") with { Head = head });
                return framed;
            }

            (string outcome, string body) = request.Body switch
            {
                BodyKind.ContentLength => await ReadLengthAsync(input, request.ContentLength),
                BodyKind.Chunked => await ReadChunkedAsync(input),
                _ => ("complete", string.Empty),
            };
            framed.Add(new Framed(outcome, head, request.Method, request.Target, request.Body, body));
            if (outcome != "complete")
            {
                return framed;
            }
        }
    }

    private static async Task<(string, string)> ReadLengthAsync(PipeReader input, long remaining)
    {
        var body = new StringBuilder();
        while (remaining > 0)
        {
            ReadResult result = await input.ReadAsync();
            ReadOnlySequence<byte> slice = result.Buffer.Slice(0, Math.Min(remaining, result.Buffer.Length));
            body.Append(Encoding.Latin1.GetString(slice));
            remaining -= slice.Length;
            input.AdvanceTo(slice.End);
            if (remaining > 0 && result.IsCompleted)
            {
                return ("body-truncated", body.ToString());
            }
        }

        return ("complete", body.ToString());
    }

    private static async Task<(string, string)> ReadChunkedAsync(PipeReader input)
    {
        var scanner = new ChunkedBodyScanner();
        var body = new StringBuilder();
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            long consumed = scanner.Scan(result.Buffer);
            body.Append(Encoding.Latin1.GetString(result.Buffer.Slice(0, consumed)));
            input.AdvanceTo(result.Buffer.GetPosition(consumed));
            if (scanner.IsInvalid)
            {
                return ("400", body.ToString());
            }

            if (scanner.IsComplete)
            {
                return ("complete", body.ToString());
            }

            if (result.IsCompleted)
            {
                return ("body-truncated", body.ToString());
            }
        }
    }

    private static List<byte[]> SplitRandomly(Random random, byte[] wire)
    {
        var pieces = new List<byte[]>();
        for (int start = 0; start < wire.Length;)
        {
            int length = random.Next(4) switch
            {
                0 => 1,
                1 => random.Next(1, 8),
                2 => random.Next(1, 200),
                _ => random.Next(1, 5000),
            };
            length = Math.Min(length, wire.Length - start);
            pieces.Add(wire[start..(start + length)]);
            start += length;
        }

        return pieces;
    }

    private static byte[] Mutate(Random random, byte[] wire)
    {
        var bytes = new List<byte>(wire);
        int mutations = random.Next(1, 4);
        byte[] interesting = "\r\n :;\t\0\u007f0fF-+,"u8.ToArray();
        for (int m = 0; m < mutations && bytes.Count > 1; m++)
        {
            int at = random.Next(bytes.Count);
            byte value = random.Next(2) == 0 ? interesting[random.Next(interesting.Length)] : (byte)random.Next(256);
            switch (random.Next(4))
            {
                case 0:
                    bytes[at] = value;
                    break;
                case 1:
                    bytes.Insert(at, value);
                    break;
                case 2:
                    bytes.RemoveAt(at);
                    break;
                default:
                    int length = Math.Min(random.Next(1, 40), bytes.Count - at);
                    bytes.InsertRange(random.Next(bytes.Count), bytes.GetRange(at, length));
                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>How one request framed: its outcome ("complete", "400", "431", "truncated", ...), head, and body bytes.</summary>
    private sealed record Framed(string Outcome, string Head, string Method, string Target, BodyKind Kind, string Body)
    {
        public bool Rejected => Outcome is "400" or "431" or "truncated" or "body-truncated";

        public static Framed Outcomes(string outcome) => new(outcome, string.Empty, string.Empty, string.Empty, BodyKind.None, string.Empty);
    }

    /// <summary>A random valid request and how it must frame.</summary>
    private sealed record GeneratedRequest(byte[] Bytes, Framed Expected)
    {
        private const string PathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@";
        private const string ValueChars = "abcdefghijklmnopqrstuvwxyz0123456789 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        private const string TokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";

        public static GeneratedRequest Create(Random random)
        {
            string method = Methods[random.Next(Methods.Length)];
            string target = "/" + Text(random, PathChars, 0, 40) + (random.Next(2) == 0 ? "?" + Text(random, PathChars + "/?", 0, 40) : string.Empty);
            int bodyKind = method == "HEAD" ? 0 : random.Next(3);
            bool http10 = bodyKind != 2 && random.Next(5) == 0;
            var head = new StringBuilder($"{method} {target} HTTP/1.{(http10 ? 0 : 1)}\r\n");
            var fields = new List<string> { $"Host: {Text(random, TokenChars, 1, 20)}" };
            for (int i = random.Next(0, 12); i > 0; i--)
            {
                string value = Text(random, ValueChars, 0, 60).Trim(' ', '\t');
                fields.Add($"X-{Text(random, TokenChars, 1, 20)}:{Ows(random)}{value}{Ows(random)}");
            }

            byte[] body = [];
            if (bodyKind == 1)
            {
                body = RandomBytes(random, random.Next(0, 3000));
                fields.Add($"{Cased(random, "Content-Length")}:{Ows(random)}{body.Length}");
            }
            else if (bodyKind == 2)
            {
                body = Chunked(random);
                fields.Add($"{Cased(random, "Transfer-Encoding")}:{Ows(random)}{(random.Next(3) == 0 ? "gzip, chunked" : Cased(random, "chunked"))}");
            }

            foreach (string field in fields.OrderBy(_ => random.Next()))
            {
                head.Append(field).Append("\r\n");
            }

            head.Append("\r\n");
            byte[] headBytes = Encoding.Latin1.GetBytes(head.ToString());
            BodyKind kind = bodyKind switch
            {
                1 when body.Length > 0 => BodyKind.ContentLength,
                2 => BodyKind.Chunked,
                _ => BodyKind.None,
            };
            var expected = new Framed("complete", head.ToString(), method, target, kind, Encoding.Latin1.GetString(body));
            return new GeneratedRequest([.. headBytes, .. body], expected);
        }

        /// <summary>Random chunks with random-case hex sizes (some zero-padded), extensions, and sometimes trailers.</summary>
        private static byte[] Chunked(Random random)
        {
            var body = new List<byte>();
            for (int chunks = random.Next(0, 6); chunks > 0; chunks--)
            {
                byte[] data = RandomBytes(random, random.Next(1, 1500));
                string size = data.Length.ToString(random.Next(2) == 0 ? "x" : "X", System.Globalization.CultureInfo.InvariantCulture);
                size = new string('0', random.Next(3) == 0 ? random.Next(1, 4) : 0) + size;
                body.AddRange(Encoding.Latin1.GetBytes(size + Extensions(random) + "\r\n"));
                body.AddRange(data);
                body.AddRange("\r\n"u8.ToArray());
            }

            body.AddRange(Encoding.Latin1.GetBytes("0" + Extensions(random) + "\r\n"));
            for (int trailers = random.Next(3) == 0 ? random.Next(1, 4) : 0; trailers > 0; trailers--)
            {
                body.AddRange(Encoding.Latin1.GetBytes($"X-T{Text(random, TokenChars, 1, 10)}: {Text(random, ValueChars, 0, 30).Trim()}\r\n"));
            }

            body.AddRange("\r\n"u8.ToArray());
            return [.. body];
        }

        private static string Extensions(Random random)
        {
            var extensions = new StringBuilder();
            for (int i = random.Next(3) == 0 ? random.Next(1, 3) : 0; i > 0; i--)
            {
                extensions.Append(';').Append(Text(random, TokenChars, 1, 10));
                if (random.Next(2) == 0)
                {
                    extensions.Append('=').Append(random.Next(2) == 0 ? Text(random, TokenChars, 1, 10) : "\"" + Text(random, "abc def;=", 0, 10) + "\"");
                }
            }

            return extensions.ToString();
        }

        /// <summary>Bytes that include what a lax parser would trip on: CRLFs, a request line, chunk-size lookalikes.</summary>
        private static byte[] RandomBytes(Random random, int length)
        {
            byte[] bytes = new byte[length];
            random.NextBytes(bytes);
            byte[] decoy = "\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n"u8.ToArray();
            if (length > decoy.Length && random.Next(2) == 0)
            {
                decoy.CopyTo(bytes, random.Next(length - decoy.Length));
            }

            return bytes;
        }

        private static string Ows(Random random) => random.Next(4) switch
        {
            0 => string.Empty,
            1 => " ",
            2 => "\t",
            _ => "  \t",
        };

        private static string Cased(Random random, string name) => random.Next(3) switch
        {
            0 => name.ToUpperInvariant(),
            1 => name.ToLowerInvariant(),
            _ => name,
        };

        private static string Text(Random random, string alphabet, int min, int max)
        {
            var text = new StringBuilder();
            for (int i = random.Next(min, max + 1); i > 0; i--)
            {
                text.Append(alphabet[random.Next(alphabet.Length)]);
            }

            return text.ToString();
        }
    }
}
