using System.Text.RegularExpressions;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Deploy;

/// <summary>The shipped Logstash grok pattern, expanded into a .NET regex, parses the lines the proxy really writes.</summary>
public sealed partial class GrokPatternTests
{
    private static readonly DateTimeOffset At = DateTimeOffset.UnixEpoch;

    public static TheoryData<string, string?, string?, string?, string?, string?> Lines => new()
    {
        { "/products?id=7&x=%20", "0.012", "0.015", "0.003", "200", "500" },
        { "/slow", "2.500", "1.000", "-1.500", "200", "200" },
        { "/shadow-down", "0.003", null, null, "200", null },
        { "/production-down", null, "0.004", null, null, "404" },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void The_pattern_extracts_every_field_of_a_real_line(
        string url, string? production, string? shadow, string? delta, string? productionStatus, string? shadowStatus)
    {
        var record = new RequestRecord(At, "GET", url, Result(production, productionStatus), Result(shadow, shadowStatus));
        string line = TextRequestLine.Format(record);

        Match match = LineRegex().Match(line);

        Assert.True(match.Success, line);
        Assert.Equal(url, match.Groups["url"].Value);
        AssertField(production, match.Groups["production_time"]);
        AssertField(shadow, match.Groups["shadow_time"]);
        AssertField(delta, match.Groups["delta"]);
        AssertField(productionStatus, match.Groups["production_status"]);
        AssertField(shadowStatus, match.Groups["shadow_status"]);
    }

    [Theory]
    [InlineData("/x 0.012 0.015 0.003 200")]
    [InlineData("/x 0.012 0.015 0.003 200 500 extra")]
    [InlineData("/x 12ms 0.015 0.003 200 500")]
    public void The_pattern_rejects_what_is_not_a_request_line(string line) => Assert.DoesNotMatch(LineRegex(), line);

    private static void AssertField(string? expected, Group group)
    {
        Assert.Equal(expected is not null, group.Success);
        if (expected is not null)
        {
            Assert.Equal(expected, group.Value);
        }
    }

    private static BackendResult Result(string? seconds, string? status) => new(
        status is null ? 0 : int.Parse(status, System.Globalization.CultureInfo.InvariantCulture),
        seconds is null ? null : TimeSpan.FromSeconds(double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture)),
        0,
        seconds is null ? BackendError.Refused : BackendError.None);

    /// <summary>SHADOWPROXY_LINE from deploy/logstash/patterns/shadowproxy, anchored as the pipeline anchors it.</summary>
    private static Regex LineRegex()
    {
        string file = Path.Combine(Repository.Root, "deploy", "logstash", "patterns", "shadowproxy");
        var definitions = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["NOTSPACE"] = @"\S+",   // the one Logstash built-in the pattern uses
        };
        foreach (string raw in File.ReadAllLines(file))
        {
            string line = raw.Trim();
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (line.Length > 0 && !line.StartsWith('#') && space > 0)
            {
                definitions[line[..space]] = line[(space + 1)..];
            }
        }

        return new Regex("^" + Expand(definitions["SHADOWPROXY_LINE"], definitions) + "$", RegexOptions.CultureInvariant);
    }

    /// <summary>Grok's %{NAME}, %{NAME:field} and %{NAME:field:type}: a named group around the named pattern.</summary>
    private static string Expand(string pattern, Dictionary<string, string> definitions) =>
        GrokReference().Replace(pattern, match =>
        {
            string body = Expand(definitions[match.Groups["name"].Value], definitions);
            return match.Groups["field"].Success ? $"(?<{match.Groups["field"].Value}>{body})" : $"(?:{body})";
        });

    [GeneratedRegex(@"%\{(?<name>[A-Z0-9_]+)(?::(?<field>[a-z_]+))?(?::(?:int|float))?\}")]
    private static partial Regex GrokReference();
}
