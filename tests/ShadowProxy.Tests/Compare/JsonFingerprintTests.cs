using System.Text;
using ShadowProxy.Compare;

namespace ShadowProxy.Tests.Compare;

public sealed class JsonFingerprintTests
{
    private static readonly byte[][] IgnoreTimestamp = [Encoding.UTF8.GetBytes("timestamp"), Encoding.UTF8.GetBytes("requestId")];

    private static ulong Fingerprint(string json, byte[][]? ignored = null)
    {
        Assert.True(JsonFingerprint.TryCompute(Encoding.UTF8.GetBytes(json), ignored ?? [], out ulong value), json);
        return value;
    }

    [Theory]
    [InlineData("""{"a":1,"b":[1,2],"c":{"d":"x"}}""", """ { "c" : { "d" : "x" } , "b" : [ 1 , 2 ] , "a" : 1 } """)]
    [InlineData("""{"name":"A\u00e9"}""", """{"name":"Aé"}""")]
    [InlineData("""{"\u0061":true}""", """{"a":true}""")]
    public void Whitespace_member_order_and_escapes_do_not_count(string left, string right) =>
        Assert.Equal(Fingerprint(left), Fingerprint(right));

    [Theory]
    [InlineData("""[1,2]""", """[2,1]""")]
    [InlineData("""{"a":1}""", """{"a":"1"}""")]
    [InlineData("""{"a":1}""", """{"a":1,"b":null}""")]
    [InlineData("""{"a":{"b":1}}""", """{"a":{"c":1}}""")]
    [InlineData("""{"a":1,"b":2}""", """{"a":2,"b":1}""")]
    [InlineData("""{"a":[]}""", """{"a":{}}""")]
    [InlineData("""{"a":true}""", """{"a":false}""")]
    [InlineData("""[[1],[2]]""", """[[1,2]]""")]
    public void Different_documents_differ(string left, string right) =>
        Assert.NotEqual(Fingerprint(left), Fingerprint(right));

    [Fact]
    public void Ignored_members_do_not_count_at_any_depth()
    {
        const string Left = """{"id":7,"timestamp":"2026-11-27T00:00:01Z","items":[{"sku":"a","timestamp":1}],"meta":{"requestId":"x1"}}""";
        const string Right = """{"meta":{"requestId":"y2"},"items":[{"timestamp":{"nested":[1,2,3]},"sku":"a"}],"timestamp":"later","id":7}""";

        Assert.Equal(Fingerprint(Left, IgnoreTimestamp), Fingerprint(Right, IgnoreTimestamp));
        Assert.NotEqual(Fingerprint(Left), Fingerprint(Right));
        Assert.NotEqual(Fingerprint(Left, IgnoreTimestamp), Fingerprint(Left.Replace("\"a\"", "\"b\"", StringComparison.Ordinal), IgnoreTimestamp));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("not json")]
    [InlineData("""{"a":1""")]
    [InlineData("""{"a":1} {"b":2}""")]
    [InlineData("""<html></html>""")]
    public void What_is_not_one_json_value_has_no_fingerprint(string text) =>
        Assert.False(JsonFingerprint.TryCompute(Encoding.UTF8.GetBytes(text), [], out _));

    [Theory]
    [InlineData("""{"a":"\ud800"}""")]
    [InlineData("""["x\udc00y"]""")]
    [InlineData("""{"\ud800":1}""")]
    [InlineData("""{"timestamp":1,"\udfff":2}""")]
    public void A_string_or_name_escaping_a_lone_surrogate_has_no_fingerprint_and_does_not_throw(string json) =>
        Assert.False(JsonFingerprint.TryCompute(Encoding.UTF8.GetBytes(json), IgnoreTimestamp, out _));

    [Theory]
    [InlineData("""{"a":1,"a":2}""")]
    [InlineData("""{"a":1,"b":{"c":true,"c":true}}""")]
    [InlineData("""[{"\u0061":1,"a":1}]""")]
    public void An_object_naming_a_member_twice_has_no_fingerprint(string json)
    {
        // Clients disagree on which of the two counts (most keep the last), so member order would matter.
        Assert.False(JsonFingerprint.TryCompute(Encoding.UTF8.GetBytes(json), IgnoreTimestamp, out _));
    }

    [Fact]
    public void A_member_name_twice_counts_only_where_it_is_not_ignored_and_in_the_same_object()
    {
        Assert.Equal(Fingerprint("""{"timestamp":1,"timestamp":2,"a":1}""", IgnoreTimestamp), Fingerprint("""{"a":1}""", IgnoreTimestamp));
        Assert.NotEqual(0UL, Fingerprint("""{"a":{"a":{"a":1}},"b":[{"a":1},{"a":1}]}"""));
    }

    [Fact]
    public void Many_distinct_members_still_have_a_fingerprint()
    {
        string json = "{" + string.Join(",", Enumerable.Range(0, 5000).Select(i => $"\"m{i}\":{i}")) + "}";
        string reversed = "{" + string.Join(",", Enumerable.Range(0, 5000).Reverse().Select(i => $"\"m{i}\":{i}")) + "}";

        Assert.Equal(Fingerprint(json), Fingerprint(reversed));
    }
}
