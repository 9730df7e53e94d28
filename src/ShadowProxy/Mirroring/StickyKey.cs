using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Mirroring;

/// <summary>
/// The part of a request that identifies its user, for sticky sampling: requests with the same key hash the same,
/// so one user's whole session is mirrored or none of it. The hash (XxHash3, seed 0) is stable across restarts.
/// </summary>
internal sealed class StickyKey
{
    private readonly byte[] _name;

    private StickyKey(StickyKeySource source, string name)
    {
        Source = source;
        Name = name;
        _name = Encoding.ASCII.GetBytes(name);
    }

    public StickyKeySource Source { get; }

    public string Name { get; }

    /// <summary>Parses <c>header:NAME</c>, <c>cookie:NAME</c> or <c>query:NAME</c>.</summary>
    public static bool TryParse(string text, out StickyKey? key)
    {
        key = null;
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        string name = text[(colon + 1)..].Trim();
        StickyKeySource? source = text[..colon].Trim().ToUpperInvariant() switch
        {
            "HEADER" => StickyKeySource.Header,
            "COOKIE" => StickyKeySource.Cookie,
            "QUERY" => StickyKeySource.Query,
            _ => null,
        };
        if (source is null || name.Length == 0 || !Ascii.IsValid(name) || name.Any(c => char.IsControl(c) || c is ' ' or ';' or '=' or '&'))
        {
            return false;
        }

        // A field or cookie name is a token (RFC 9110 §5.1, RFC 6265 §4.1.1): any other (a typo's trailing colon) would
        // never match, and every request would go by chance without a word.
        if (source != StickyKeySource.Query && !HttpChars.AllToken(name))
        {
            return false;
        }

        key = new StickyKey(source.Value, name);
        return true;
    }

    public override string ToString() => $"{Source.ToString().ToLowerInvariant()}:{Name}";

    /// <summary>
    /// Hashes the key's value in this request; false when the request does not carry the key, or only with an empty value:
    /// that names no user, and hashed it would put every such request (all anonymous traffic) in or out together.
    /// </summary>
    public bool TryHash(ReadOnlySpan<byte> head, string target, out ulong hash)
    {
        hash = 0;
        if (Source == StickyKeySource.Query)
        {
            return TryHashQuery(target, ref hash);
        }

        var lines = new HeadLines(head);
        lines.TryNext(out _);   // the request line
        while (lines.TryNext(out ReadOnlySpan<byte> line) && !line.IsEmpty)
        {
            if (!HeadLines.TrySplitField(line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value))
            {
                continue;
            }

            if (Source == StickyKeySource.Header && FieldNames.Is(name, _name) && !value.IsEmpty)
            {
                hash = XxHash3.HashToUInt64(value);
                return true;
            }

            if (Source == StickyKeySource.Cookie && FieldNames.Is(name, "Cookie"u8) && TryFindPair(value, (byte)';', out ReadOnlySpan<byte> cookie))
            {
                hash = XxHash3.HashToUInt64(cookie);
                return true;
            }
        }

        return false;
    }

    private bool TryFindPair(ReadOnlySpan<byte> list, byte separator, out ReadOnlySpan<byte> value)
    {
        foreach (Range range in list.Split(separator))
        {
            ReadOnlySpan<byte> pair = list[range].Trim((byte)' ');
            int equals = pair.IndexOf((byte)'=');
            if (equals > 0 && equals < pair.Length - 1 && pair[..equals].SequenceEqual(_name))
            {
                value = pair[(equals + 1)..];
                return true;
            }
        }

        value = default;
        return false;
    }

    private bool TryHashQuery(string target, ref ulong hash)
    {
        int question = target.IndexOf('?', StringComparison.Ordinal);
        if (question < 0)
        {
            return false;
        }

        ReadOnlySpan<char> query = target.AsSpan(question + 1);
        foreach (Range range in query.Split('&'))
        {
            ReadOnlySpan<char> pair = query[range];
            int equals = pair.IndexOf('=');
            if (equals > 0 && equals < pair.Length - 1 && pair[..equals].SequenceEqual(Name))
            {
                hash = XxHash3.HashToUInt64(MemoryMarshal.AsBytes(pair[(equals + 1)..]));
                return true;
            }
        }

        return false;
    }
}
