using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using ShadowProxy.Http;

namespace ShadowProxy.Benchmarks;

/// <summary>
/// The per-request head path of ProxyConnection: frame the head out of the client pipe, parse it, rewrite it for the
/// backends. Only parsing should allocate, and only the target string (the request line needs it anyway).
/// </summary>
[MemoryDiagnoser]
public class HeadFramingBenchmarks
{
    private const int MaxHeadBytes = 32 * 1024;   // ProxyOptions.MaxRequestHeadBytes
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly byte[] _scratch = new byte[MaxHeadBytes];
    private readonly byte[] _rewritten = new byte[MaxHeadBytes + HeadRewriter.MaxGrowth];
    private byte[] _head = [];

    [Params(SampleHeads.BrowserGet, SampleHeads.ApiPost)]
    public string Head { get; set; } = SampleHeads.BrowserGet;

    [GlobalSetup]
    public void Setup() => _head = SampleHeads.Get(Head);

    /// <summary>MessageHeadReader: find the end of the head in the pipe and copy it out (the data is already there).</summary>
    [Benchmark]
    public int Frame() => FrameOnce();

    /// <summary>RequestHeadParser: request line, every field, the body's framing; allocates the target string.</summary>
    [Benchmark]
    public bool Parse() => RequestHeadParser.TryParse(_head, out RequestHead _);

    /// <summary>HeadRewriter: the same bytes minus the connection fields, plus Connection: close.</summary>
    [Benchmark]
    public int Rewrite() => HeadRewriter.Rewrite(_head, HeadRewriter.ConnectionClose, _rewritten);

    /// <summary>All three, as ProxyConnection runs them for each request.</summary>
    [Benchmark(Baseline = true)]
    public int FrameParseRewrite()
    {
        ReadOnlySpan<byte> head = _scratch.AsSpan(0, FrameOnce());
        return RequestHeadParser.TryParse(head, out RequestHead _) ? HeadRewriter.Rewrite(head, HeadRewriter.ConnectionClose, _rewritten) : -1;
    }

    /// <summary>The head is in the pipe before the read, so both the flush and the read complete synchronously.</summary>
    private int FrameOnce()
    {
        _pipe.Writer.Write(_head);
        ValueTask<FlushResult> flushing = _pipe.Writer.FlushAsync();
        if (!flushing.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("The pipe applied back-pressure.");
        }

        ValueTask<HeadRead> reading = MessageHeadReader.ReadAsync(_pipe.Reader, _scratch, MaxHeadBytes, TimeProvider.System, CancellationToken.None);
        if (!reading.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("The head was not framed at once.");
        }

        HeadRead read = reading.Result;
        return read.Status == HeadReadStatus.Complete ? read.Length : throw new InvalidOperationException($"Framing said {read.Status}.");
    }
}
