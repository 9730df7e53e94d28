using System.Globalization;
using System.Text;
using ShadowProxy.Http;
using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;

namespace ShadowProxy.Hosting;

/// <summary>
/// Reads the mirroring keys of the <c>ShadowProxy</c> section into a <see cref="MirrorPolicy"/>: at start-up, and
/// again each time the settings file changes. Every key is read through the reader, which refuses a control character
/// in any of them; problems are reported through it, one line naming the option.
/// </summary>
internal static class MirrorSettings
{
    public static MirrorPolicy Read(ProxySettings.Reader reader, string[]? excludeOverride)
    {
        var policy = new MirrorPolicy
        {
            Percent = Percent(reader, reader.Text("ShadowPercent")),
            Sticky = Sticky(reader, reader.Text("ShadowSticky")),
            Methods = Methods(reader, reader.List("ShadowMethods", null)),
            MaxInflight = reader.Integer("ShadowMaxInflight", 0, 0, 1_000_000),
            MaxBody = reader.Integer("ShadowMaxBody", -1, 0, int.MaxValue),
            ShadowHeader = Header(reader, reader.Text("ShadowHeader")),
            ShadowHost = Host(reader, reader.Text("ShadowHost")),
            Exclude = Exclude(reader, reader.List("Exclude", excludeOverride, splitCommas: false)),
        };
        return policy;
    }

    /// <summary>
    /// The paths are compared with a request-target's path, which starts with '/' (or is OPTIONS' '*') and holds
    /// visible ASCII only: "health", "/health?full" or "/a b" could never match, and the health checks they were meant
    /// for would fill the log without a word.
    /// </summary>
    private static ExcludedPaths Exclude(ProxySettings.Reader reader, string[] paths)
    {
        foreach (string path in paths)
        {
            if (!(path.StartsWith('/') || path == "*") || path.Contains('?') || path.Any(c => c is <= ' ' or >= (char)0x7F))
            {
                reader.Fail($"--exclude: {OneLine.Quote(path)} can never match: a path starts with '/', holds no '?' (the query is not compared) and no space");
                break;
            }
        }

        return new ExcludedPaths(paths);
    }

    private static double Percent(ProxySettings.Reader reader, string? text)
    {
        if (text is null)
        {
            return 100;
        }

        if (!double.TryParse(text.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out double percent) || percent is not (>= 0 and <= 100))
        {
            reader.Fail($"--shadow-percent: '{text}' is not a percentage from 0 to 100");
            return 100;
        }

        return percent;
    }

    private static StickyKey? Sticky(ProxySettings.Reader reader, string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (!StickyKey.TryParse(text, out StickyKey? key))
        {
            reader.Fail($"--shadow-sticky: '{text}' is not header:NAME, cookie:NAME or query:NAME");
        }

        return key;
    }

    private static HashSet<string>? Methods(ProxySettings.Reader reader, string[] methods)
    {
        if (methods.Length == 0 || methods.Any(method => method.Equals("ALL", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (string method in methods)
        {
            // Methods are case-sensitive tokens (RFC 9110 §9.1); the registered ones are all upper case, as users mean them.
            string name = method.ToUpperInvariant();
            if (!HttpChars.AllToken(name))
            {
                reader.Fail($"--shadow-methods: '{method}' is not a method");
                return null;
            }

            set.Add(name);
        }

        return set;
    }

    private static string? Header(ProxySettings.Reader reader, string? text)
    {
        if (text is null)
        {
            return null;
        }

        // Control characters were refused by the reader already (ProxySettings.Reader.Text).
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string name = colon > 0 ? text[..colon] : "";
        string value = colon > 0 ? text[(colon + 1)..].Trim() : "";
        byte[] nameBytes = Encoding.ASCII.GetBytes(name);
        if (name.Length == 0 || !Ascii.IsValid(text) || !HttpChars.AllToken(name)
            || FieldNames.IsConnectionScoped(nameBytes) || FieldNames.Is(nameBytes, FieldNames.ContentLength)
            || FieldNames.Is(nameBytes, FieldNames.TransferEncoding) || FieldNames.Is(nameBytes, FieldNames.Host))
        {
            reader.Fail($"--shadow-header: '{text}' is not a header 'Name: value' the proxy may add (not Host, framing or connection fields)");
            return null;
        }

        return $"{name}: {value}";
    }

    private static string? Host(ProxySettings.Reader reader, string? text)
    {
        if (text is null)
        {
            return null;
        }

        string host = text.Trim();   // control characters were refused by the reader already
        if (!IsHostAndPort(host))
        {
            reader.Fail($"--shadow-host: '{text}' is not a host name (host or host:port)");
            return null;
        }

        return host;
    }

    /// <summary>
    /// A Host field value (RFC 9110 §7.2): a name (letters, digits, "-._~" and the sub-delims but ','), an IPv4 address,
    /// or an IPv6 address in brackets, then optionally ':' and a port from 0 to 65535.
    /// </summary>
    private static bool IsHostAndPort(string host)
    {
        string name = host;
        string? port = null;
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || !System.Net.IPAddress.TryParse(host[1..close], out System.Net.IPAddress? address)
                || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            name = host[..(close + 1)];
            if (close + 1 < host.Length)
            {
                if (host[close + 1] != ':')
                {
                    return false;
                }

                port = host[(close + 2)..];
            }
        }
        else
        {
            int colon = host.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                (name, port) = (host[..colon], host[(colon + 1)..]);
            }

            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '!' or '$' or '&' or '\'' or '(' or ')' or '*' or '+' or ';' or '='))
            {
                return false;
            }
        }

        return port is null || (port.Length is > 0 and <= 5 && port.All(char.IsAsciiDigit) && int.Parse(port, CultureInfo.InvariantCulture) <= 65535);
    }
}
