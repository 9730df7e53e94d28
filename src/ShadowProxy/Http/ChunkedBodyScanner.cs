using System.Buffers;

namespace ShadowProxy.Http;

/// <summary>
/// Finds where a chunked body ends (RFC 9112 §7.1) as its bytes go by, so that the original bytes can be forwarded
/// untouched. Incremental: any split of the input scans the same. Strict: bare LF, a size that is not hex or
/// overflows, a size line that is not chunk-size *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
/// (anything else after the size, such as "5 xyz" or "5;", is refused), a trailer line that is not a field line
/// (token ":" value), or a line or trailer section over its limit makes the body invalid.
/// </summary>
/// <remarks>
/// One liberty is taken with the grammar, as the scanner took it before it checked extensions: whitespace just before
/// the CRLF ("5 \r\n", "5;a=b\t\r\n") is accepted, as BWS with no extension after it. No parser can read another size
/// or extension out of it (a stricter one refuses the line, which the proxy forwards unchanged), so tolerating it opens
/// no second framing.
/// </remarks>
internal struct ChunkedBodyScanner
{
    /// <summary>
    /// A chunk-size line with its extensions: every byte before its CRLF (the size's digits, leading zeros included, the
    /// ';' and whitespace between them and the extensions); Kestrel caps extensions similarly.
    /// </summary>
    public const int MaxSizeLineBytes = 4 * 1024;

    /// <summary>
    /// The whole trailer section, every byte after the last chunk's size line: each field line with its CRLF and the
    /// empty line that ends the section, as a head's bound counts every byte of the head.
    /// </summary>
    public const int MaxTrailerBytes = 32 * 1024;

    private const long MaxChunkSize = (1L << 60) - 1;   // 15 significant hex digits: far below long.MaxValue

    private State _state;
    private long _remaining;
    private int _lineBytes;
    private int _sizeDigits;

    private enum State : byte
    {
        Size,
        ExtensionEnd,           // after the size, a value or a quoted-string: BWS, then ';' or CR
        ExtensionNameStart,     // after ';': BWS, then the name's first token character
        ExtensionName,
        AfterExtensionName,     // BWS after a name: then '=', ';' or CR
        ExtensionValueStart,    // after '=': BWS, then a token or a quoted-string
        ExtensionValue,
        QuotedValue,
        QuotedPair,             // after a backslash in a quoted-string
        SizeLineFeed,
        Data,
        DataCarriageReturn,
        DataLineFeed,
        TrailerStart,
        TrailerName,
        TrailerValue,
        TrailerLineFeed,
        FinalLineFeed,
        Done,
        Invalid,
    }

    public readonly bool IsComplete => _state == State.Done;

    public readonly bool IsInvalid => _state == State.Invalid;

    /// <summary>
    /// Scans input; returns how many bytes of it belong to the body: all of it, unless the body ended (its bytes up to
    /// the end) or turned invalid (its bytes before the one that broke the framing, which is not counted).
    /// </summary>
    public long Scan(in ReadOnlySequence<byte> input) => Scan(input, payload: null);

    /// <summary>As <see cref="Scan(in ReadOnlySequence{byte})"/>, handing the chunk data (the de-chunked payload) to <paramref name="payload"/>.</summary>
    public long Scan(in ReadOnlySequence<byte> input, IPayloadSink? payload)
    {
        long consumed = 0;
        foreach (ReadOnlyMemory<byte> segment in input)
        {
            consumed += Scan(segment.Span, payload);
            if (_state is State.Done or State.Invalid)
            {
                break;
            }
        }

        return consumed;
    }

    public int Scan(ReadOnlySpan<byte> input) => Scan(input, payload: null);

    public int Scan(ReadOnlySpan<byte> input, IPayloadSink? payload)
    {
        int i = 0;
        while (i < input.Length && _state is not (State.Done or State.Invalid))
        {
            if (_state == State.Data)
            {
                int take = (int)Math.Min(_remaining, input.Length - i);
                payload?.Append(input.Slice(i, take));
                i += take;
                _remaining -= take;
                _state = _remaining == 0 ? State.DataCarriageReturn : State.Data;
                continue;
            }

            _state = Step(input[i++]);
        }

        // The byte that made the body invalid is not counted as the body's: a caller that forwards what was consumed
        // forwards only a valid prefix of chunked framing, never the byte that breaks it. (Only a step can invalidate,
        // and it has counted its byte; a scanner already invalid scans nothing.)
        return _state == State.Invalid && i > 0 ? i - 1 : i;
    }

    private State Step(byte b)
    {
        switch (_state)
        {
            case State.Size:
                int digit = HexValue(b);
                if (digit >= 0)
                {
                    // Only the value can overflow: zeros in front are still a valid size (chunk-size is 1*HEXDIG); the
                    // digits themselves are bounded as the size line is.
                    if (_remaining > MaxChunkSize >> 4)
                    {
                        return State.Invalid;
                    }

                    _remaining = (_remaining << 4) | (uint)digit;
                    return ++_sizeDigits > MaxSizeLineBytes ? State.Invalid : State.Size;
                }

                if (_sizeDigits == 0)
                {
                    return State.Invalid;
                }

                // The byte that ends the size is the line's too (a ';' or BWS counts as the extension's first byte),
                // so the bound is on every byte before the CR, as documented.
                _lineBytes = _sizeDigits;
                return b switch
                {
                    (byte)'\r' => State.SizeLineFeed,
                    (byte)';' => CountExtensionByte(State.ExtensionNameStart),
                    (byte)' ' or (byte)'\t' => CountExtensionByte(State.ExtensionEnd),
                    _ => State.Invalid,
                };

            // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112 §7.1.1). Every byte
            // of it counts towards the size line's bound; the CR that ends it does not.
            case State.ExtensionEnd:
                return b switch
                {
                    (byte)'\r' => State.SizeLineFeed,
                    (byte)';' => CountExtensionByte(State.ExtensionNameStart),
                    (byte)' ' or (byte)'\t' => CountExtensionByte(State.ExtensionEnd),
                    _ => State.Invalid,
                };

            case State.ExtensionNameStart:
                return b is (byte)' ' or (byte)'\t' ? CountExtensionByte(State.ExtensionNameStart)
                    : HttpChars.Token.Contains(b) ? CountExtensionByte(State.ExtensionName)
                    : State.Invalid;

            case State.ExtensionName:
                // Neither a delimiter nor whitespace is a token character: a name goes on, or ends as a bare name would.
                if (HttpChars.Token.Contains(b))
                {
                    return CountExtensionByte(State.ExtensionName);
                }

                goto case State.AfterExtensionName;

            case State.AfterExtensionName:
                return b switch
                {
                    (byte)'\r' => State.SizeLineFeed,
                    (byte)';' => CountExtensionByte(State.ExtensionNameStart),
                    (byte)'=' => CountExtensionByte(State.ExtensionValueStart),
                    (byte)' ' or (byte)'\t' => CountExtensionByte(State.AfterExtensionName),
                    _ => State.Invalid,
                };

            case State.ExtensionValueStart:
                return b switch
                {
                    (byte)'"' => CountExtensionByte(State.QuotedValue),
                    (byte)' ' or (byte)'\t' => CountExtensionByte(State.ExtensionValueStart),
                    _ => HttpChars.Token.Contains(b) ? CountExtensionByte(State.ExtensionValue) : State.Invalid,
                };

            case State.ExtensionValue:
                if (HttpChars.Token.Contains(b))
                {
                    return CountExtensionByte(State.ExtensionValue);
                }

                goto case State.ExtensionEnd;

            case State.QuotedValue:
                // qdtext is any byte but a control (HTAB aside), '"' and '\'; quoted-pair escapes any but a control.
                return b switch
                {
                    (byte)'"' => CountExtensionByte(State.ExtensionEnd),
                    (byte)'\\' => CountExtensionByte(State.QuotedPair),
                    _ => IsControl(b) ? State.Invalid : CountExtensionByte(State.QuotedValue),
                };

            case State.QuotedPair:
                return IsControl(b) ? State.Invalid : CountExtensionByte(State.QuotedValue);

            case State.SizeLineFeed:
                if (b != '\n')
                {
                    return State.Invalid;
                }

                _sizeDigits = 0;
                _lineBytes = 0;
                return _remaining == 0 ? State.TrailerStart : State.Data;

            case State.DataCarriageReturn:
                return b == '\r' ? State.DataLineFeed : State.Invalid;

            case State.DataLineFeed:
                return b == '\n' ? State.Size : State.Invalid;

            case State.TrailerStart:
                if (b == '\r')
                {
                    return CountTrailerByte(State.FinalLineFeed);
                }

                // A trailer field starts with a token character; whitespace here would be obs-fold.
                return HttpChars.Token.Contains(b) ? CountTrailerByte(State.TrailerName) : State.Invalid;

            case State.TrailerName:
                // field-line = field-name ":" OWS field-value OWS (RFC 9112 §5): the name is a token ended by the colon,
                // with no whitespace before it; a line without one (or a CR before it) is no field line.
                return b == ':' ? CountTrailerByte(State.TrailerValue)
                    : HttpChars.Token.Contains(b) ? CountTrailerByte(State.TrailerName)
                    : State.Invalid;

            case State.TrailerValue:
                return b == '\r' ? CountTrailerByte(State.TrailerLineFeed) : IsControl(b) ? State.Invalid : CountTrailerByte(State.TrailerValue);

            case State.TrailerLineFeed:
                return b == '\n' ? CountTrailerByte(State.TrailerStart) : State.Invalid;

            case State.FinalLineFeed:
                return b == '\n' ? CountTrailerByte(State.Done) : State.Invalid;

            default:
                return State.Invalid;
        }
    }

    private State CountExtensionByte(State next) => ++_lineBytes > MaxSizeLineBytes ? State.Invalid : next;

    private State CountTrailerByte(State next) => ++_lineBytes > MaxTrailerBytes ? State.Invalid : next;

    private static bool IsControl(byte b) => b != '\t' && (b < 0x20 || b == 0x7F);

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
