using System.Buffers;
using BenchmarkDotNet.Attributes;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Benchmarks;

/// <summary>
/// Formatting one request line into the writer's batch buffer, as RequestLineWriter does for each request. The
/// buffer is reused, so a line should allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class RequestLineBenchmarks : IDisposable
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private readonly JsonRequestLine _json = new();
    private RequestRecord _record;

    [Params(false, true)]
    public bool ShadowFailed { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var production = new BackendResult(200, TimeSpan.FromMilliseconds(12.4), 18_432, BackendError.None);
        BackendResult shadow = ShadowFailed
            ? BackendResult.Failed(BackendError.Timeout)
            : new BackendResult(500, TimeSpan.FromMilliseconds(15.2), 312, BackendError.None);
        _record = new RequestRecord(
            new DateTimeOffset(2026, 11, 26, 23, 59, 59, 123, TimeSpan.Zero), "GET", "/catalog/products?id=7&sort=price&page=2", production, shadow);
    }

    [Benchmark(Baseline = true)]
    public int Text()
    {
        _buffer.ResetWrittenCount();
        TextRequestLine.Write(_record, _buffer);
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public int Json()
    {
        _buffer.ResetWrittenCount();
        _json.Write(_record, _buffer);
        return _buffer.WrittenCount;
    }

    public void Dispose()
    {
        _json.Dispose();
        GC.SuppressFinalize(this);
    }
}
