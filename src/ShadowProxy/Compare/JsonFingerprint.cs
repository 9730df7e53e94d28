using System.Buffers;
using System.IO.Hashing;
using System.Text.Json;

namespace ShadowProxy.Compare;

/// <summary>
/// One 64-bit value for a JSON document that ignores what does not change its meaning to a client: whitespace, the
/// order of an object's members, escapes in strings, and the members named in the ignore list (at any depth).
/// Array order and number spelling do count. Reads the bytes once with <see cref="Utf8JsonReader"/>; builds no tree.
/// </summary>
internal static class JsonFingerprint
{
    private const ulong ObjectSeed = 0x6A09E667F3BCC908;
    private const ulong ArraySeed = 0xBB67AE8584CAA73B;
    private const ulong StringSeed = 0x3C6EF372FE94F82B;
    private const ulong NumberSeed = 0xA54FF53A5F1D36F1;
    private const ulong TrueValue = 0x510E527FADE682D1;
    private const ulong FalseValue = 0x9B05688C2B3E6C1F;
    private const ulong NullValue = 0x1F83D9ABFB41BD6B;

    /// <returns>
    /// False when the bytes are not one complete JSON value (or nest deeper than 64, escape a lone surrogate, or name
    /// a member twice in one object).
    /// </returns>
    public static bool TryCompute(ReadOnlySpan<byte> json, byte[][] ignoredNames, out ulong fingerprint)
    {
        fingerprint = 0;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            if (!reader.Read())
            {
                return false;
            }

            fingerprint = Value(ref reader, ignoredNames);
            return !reader.Read();   // anything after the value is not JSON (the reader throws on it)
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: an escape that decodes to no character (a lone "\ud800"), met while
            // unescaping a string or comparing a member name with the ignored ones. Not JSON text: the hash compares.
            return false;
        }
    }

    private static ulong Value(ref Utf8JsonReader reader, byte[][] ignoredNames)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                // Members are summed, so their order does not count; each member mixes its name with its value.
                // That is only true while every name is there once: of {"a":1,"a":2} most clients keep the last,
                // so the order would count. The names are collected and such an object is not compared as JSON.
                ulong members = 0;
                int count = 0;
                ulong[] names = ArrayPool<ulong>.Shared.Rent(16);
                try
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        bool ignored = IsIgnored(ref reader, ignoredNames);
                        ulong name = Text(ref reader);
                        reader.Read();
                        if (ignored)
                        {
                            reader.Skip();
                            continue;
                        }

                        if (count == names.Length)
                        {
                            ulong[] larger = ArrayPool<ulong>.Shared.Rent(count * 2);
                            names.AsSpan().CopyTo(larger);
                            ArrayPool<ulong>.Shared.Return(names);
                            names = larger;
                        }

                        names[count] = name;
                        members += Mix(name, Value(ref reader, ignoredNames));
                        count++;
                    }

                    if (HasDuplicate(names.AsSpan(0, count)))
                    {
                        throw new JsonException("A member name occurs twice in one object.");
                    }
                }
                finally
                {
                    ArrayPool<ulong>.Shared.Return(names);
                }

                return Mix(ObjectSeed ^ members, (ulong)count);

            case JsonTokenType.StartArray:
                ulong items = ArraySeed;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    items = Mix(items, Value(ref reader, ignoredNames));
                }

                return items;

            case JsonTokenType.String:
                return Mix(StringSeed, Text(ref reader));
            case JsonTokenType.Number:
                return Mix(NumberSeed, XxHash3.HashToUInt64(reader.ValueSpan));
            case JsonTokenType.True:
                return TrueValue;
            case JsonTokenType.False:
                return FalseValue;
            default:
                return NullValue;
        }
    }

    /// <summary>Sorts the name hashes in place: O(n log n), so a body of many thousand members stays cheap.</summary>
    private static bool HasDuplicate(Span<ulong> names)
    {
        if (names.Length < 2)
        {
            return false;
        }

        names.Sort();
        for (int i = 1; i < names.Length; i++)
        {
            if (names[i] == names[i - 1])
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsIgnored(ref Utf8JsonReader reader, byte[][] ignoredNames)
    {
        foreach (byte[] name in ignoredNames)
        {
            if (reader.ValueTextEquals(name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Hashes a string or member name as its unescaped text, so "\u0041" and "A" are the same.</summary>
    private static ulong Text(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return XxHash3.HashToUInt64(reader.ValueSpan);
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length);
        try
        {
            int length = reader.CopyString(buffer);
            return XxHash3.HashToUInt64(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>SplitMix64's finaliser over the pair: a change in either input changes every output bit.</summary>
    private static ulong Mix(ulong a, ulong b)
    {
        ulong x = a ^ (b * 0x9E3779B97F4A7C15) ^ (b >> 29);
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9;
        x ^= x >> 27;
        x *= 0x94D049BB133111EB;
        return x ^ (x >> 31);
    }
}
