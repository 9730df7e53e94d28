using System.Text;
using ShadowProxy.Http;
using ShadowProxy.Proxy;

namespace ShadowProxy.Mirroring;

/// <summary>
/// Which requests the shadow gets, and how its copy is marked. Immutable: a reload of the settings file builds a new
/// one and swaps it in whole (<see cref="MirrorPolicySource"/>), so a request always sees one consistent policy.
/// </summary>
internal sealed class MirrorPolicy
{
    private static readonly string[] SafeMethods = ["GET", "HEAD", "OPTIONS", "TRACE"];

    /// <summary>The original's behaviour: every request, unmarked.</summary>
    public static MirrorPolicy MirrorAll { get; } = new();

    /// <summary>Share of requests mirrored, 0 to 100.</summary>
    public double Percent { get; init; } = 100;

    /// <summary>When set, the key's hash (not chance) decides whether a request is in the percentage.</summary>
    public StickyKey? Sticky { get; init; }

    /// <summary>The methods mirrored; null for all.</summary>
    public IReadOnlySet<string>? Methods { get; init; }

    /// <summary>Shadow copies running at once; past it the copy is skipped. 0: no bound.</summary>
    public int MaxInflight { get; init; }

    /// <summary>Largest request body mirrored; -1: no bound.</summary>
    public long MaxBody { get; init; } = -1;

    /// <summary>A whole header line ("X-Shadow: 1") added to the shadow's copy only, in place of any field of that name; null for none.</summary>
    public string? ShadowHeader { get; init; }

    /// <summary>Replaces the Host header in the shadow's copy only; null to keep the client's.</summary>
    public string? ShadowHost { get; init; }

    /// <summary>Paths (before '?') that are proxied and mirrored but get no request line.</summary>
    public ExcludedPaths Exclude { get; init; } = ExcludedPaths.None;

    private byte[]? _hostLine;
    private byte[]? _headerLine;
    private byte[]? _headerName;

    /// <summary>The shadow's copy of the head differs from production's.</summary>
    public bool MarksShadowCopy => ShadowHeader is not null || ShadowHost is not null;

    /// <summary>Methods that may change state on the shadow (all of them when <see cref="Methods"/> is null).</summary>
    public IEnumerable<string> UnsafeMethodsMirrored =>
        Methods is null ? ["POST", "PUT", "PATCH", "DELETE", "any other"] : Methods.Where(method => !SafeMethods.Contains(method)).Order(StringComparer.Ordinal);

    /// <summary>Decides from the head alone; the in-flight bound is checked after, by the caller.</summary>
    public ShadowSkip Decide(in RequestHead request, ReadOnlySpan<byte> head)
    {
        if (Methods is not null && !Methods.Contains(request.Method))
        {
            return ShadowSkip.MethodFiltered;
        }

        if (Percent < 100 && !IsSampled(request, head))
        {
            return ShadowSkip.SampledOut;
        }

        return MaxBody >= 0 && request.Body == BodyKind.ContentLength && request.ContentLength > MaxBody
            ? ShadowSkip.BodyTooLarge
            : ShadowSkip.None;
    }

    /// <summary>Writes the shadow's copy of a rewritten head: Host replaced, the extra header added before the empty line.</summary>
    public int WriteShadowHead(ReadOnlySpan<byte> head, Span<byte> destination)
    {
        var lines = new HeadLines(head);
        int written = 0;
        bool isStartLine = true;
        while (lines.TryNext(out ReadOnlySpan<byte> line) && !line.IsEmpty)
        {
            // Host is replaced; a client field named as the added header is left out, so the shadow sees one value, ours.
            if (!isStartLine && HeadLines.TrySplitField(line, out ReadOnlySpan<byte> name, out _)
                && ((ShadowHost is not null && FieldNames.Is(name, FieldNames.Host))
                    || (ShadowHeader is not null && FieldNames.Is(name, HeaderName))))
            {
                continue;
            }

            if (isStartLine && ShadowHost is not null)
            {
                written += WriteStartLine(line, destination[written..]);
                written += WriteLine(HostLine, destination[written..]);
            }
            else
            {
                written += WriteLine(line, destination[written..]);
            }

            isStartLine = false;
        }

        if (ShadowHeader is not null)
        {
            written += WriteLine(HeaderLine, destination[written..]);
        }

        HttpChars.CrLf.CopyTo(destination[written..]);
        return written + 2;
    }

    /// <summary>The most <see cref="WriteShadowHead"/> adds to a head (the host may go into the target and the Host field both).</summary>
    public int ShadowHeadGrowth => (ShadowHeader?.Length ?? 0) + (2 * (ShadowHost?.Length ?? 0)) + 16;

    public override string ToString() =>
        $"percent {Percent.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
        + (Sticky is null ? "" : $" sticky {Sticky}")
        + $", methods {(Methods is null ? "all" : string.Join(',', Methods.Order(StringComparer.Ordinal)))}"
        + $", max in flight {(MaxInflight > 0 ? MaxInflight : "--max-connections")}, max body {(MaxBody >= 0 ? MaxBody : "unbounded")}"
        + (ShadowHeader is null ? "" : $", header '{ShadowHeader}'") + (ShadowHost is null ? "" : $", host '{ShadowHost}'")
        + $", {Exclude.Count} excluded paths";

    private bool IsSampled(in RequestHead request, ReadOnlySpan<byte> head)
    {
        if (Percent <= 0)
        {
            return false;
        }

        // A key's hash lands in [0, 100) evenly, so a user is in or out for as long as the percentage stays.
        double draw = Sticky is not null && Sticky.TryHash(head, request.Target, out ulong hash)
            ? hash % 1_000_000 / 10_000.0
#pragma warning disable CA5394 // sampling, not security
            : Random.Shared.NextDouble() * 100;
#pragma warning restore CA5394
        return draw < Percent;
    }

    /// <summary>
    /// The request line, its target's authority replaced by the shadow host when the target is in absolute-form: the
    /// server takes the authority from there, not from Host (RFC 9112 §3.2.2; Kestrel refuses the two disagreeing with
    /// 400), so a Host field alone would not reach the shadow's host.
    /// </summary>
    private int WriteStartLine(ReadOnlySpan<byte> line, Span<byte> destination)
    {
        int targetStart = line.IndexOf((byte)' ') + 1;
        ReadOnlySpan<byte> target = line[targetStart..];
        if (!RequestHeadParser.IsAbsoluteForm(target))
        {
            return WriteLine(line, destination);
        }

        int authorityStart = targetStart + target.IndexOf("://"u8) + 3;
        int authorityLength = line[authorityStart..].IndexOfAny("/? "u8);   // the request line ends in " HTTP/1.x"
        line[..authorityStart].CopyTo(destination);
        int written = authorityStart;
        ReadOnlySpan<byte> host = HostLine.AsSpan("Host: ".Length);
        host.CopyTo(destination[written..]);
        written += host.Length;
        return written + WriteLine(line[(authorityStart + authorityLength)..], destination[written..]);
    }

    private static int WriteLine(ReadOnlySpan<byte> line, Span<byte> destination)
    {
        line.CopyTo(destination);
        HttpChars.CrLf.CopyTo(destination[line.Length..]);
        return line.Length + 2;
    }

    // Encoded once per policy, not per mirrored request (a benign race at first use: both writers compute the same bytes).
    private byte[] HostLine => _hostLine ??= Encoding.ASCII.GetBytes("Host: " + ShadowHost);

    private byte[] HeaderLine => _headerLine ??= Encoding.ASCII.GetBytes(ShadowHeader!);

    private byte[] HeaderName => _headerName ??= Encoding.ASCII.GetBytes(ShadowHeader!.Split(':', 2)[0]);
}
