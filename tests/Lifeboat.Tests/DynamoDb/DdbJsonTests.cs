using Lifeboat.Providers.DynamoDb;
using Xunit;

namespace Lifeboat.Tests.DynamoDb;

/// <summary>The DynamoDB JSON codec: exact round trips (numbers never through double), sets compared as sets.</summary>
public sealed class DdbJsonTests
{
    private const string Item = """
        {"pk":{"S":"k"},"n":{"N":"12345678901234567890123456789012345678"},"tiny":{"N":"1E-130"},"b":{"B":"AAEC/w=="},
         "ss":{"SS":["b","a"]},"ns":{"NS":["0.10","-1"]},"bs":{"BS":["AA==","AQI="]},
         "m":{"M":{"x":{"L":[{"NULL":true},{"BOOL":false},{"M":{}}]}}},"l":{"L":[]},"t":{"BOOL":true}}
        """;

    [Fact]
    public void Item_RoundTripsExactly()
    {
        var item = DdbJson.ParseItem(Item);
        Assert.Equal("12345678901234567890123456789012345678", item["n"].Text);
        Assert.Equal("1E-130", item["tiny"].Text);
        Assert.Equal([0, 1, 2, 255], item["b"].Bytes.ToArray());
        Assert.Equal(["0.10", "-1"], item["ns"].Strings!);
        var again = DdbJson.ParseItem(DdbJson.SerializeItem(item));
        Assert.Equal(item.Count, again.Count);
        foreach (var (k, v) in item) Assert.True(v.Equals(again[k]), k);
        Assert.Equal(DdbJson.SerializeItem(item), DdbJson.SerializeItem(again));
    }

    [Fact]
    public void SdkConversion_IsLossless()
    {
        var item = DdbJson.ParseItem(Item);
        var back = DdbSdk.FromSdk(DdbSdk.ToSdk(item));
        Assert.Equal(DdbJson.SerializeItem(item), DdbJson.SerializeItem(back));
    }

    [Fact]
    public void Sets_CompareAsSets_ListsInOrder()
    {
        Assert.Equal(DdbValue.SS(["a", "b"]), DdbValue.SS(["b", "a"]));
        Assert.NotEqual(DdbValue.NS(["1"]), DdbValue.NS(["1", "2"]));
        Assert.NotEqual(DdbValue.L([DdbValue.S("a"), DdbValue.S("b")]), DdbValue.L([DdbValue.S("b"), DdbValue.S("a")]));
        Assert.NotEqual(DdbValue.S("1"), DdbValue.N("1"));
    }

    [Fact]
    public void Nesting32Levels_AndMore_IsReadAndWritten()
    {
        var deep = StreamsClientTests.Nested(40);
        var json = DdbJson.Serialize(deep);
        Assert.Equal(deep, DdbJson.ParseValue(json));
    }

    [Fact]
    public void BareJsonNumber_KeepsItsText()
    {
        Assert.Equal("1.50000000000000000000000000000000000001", DdbJson.ParseValue("""{"N":1.50000000000000000000000000000000000001}""").Text);
    }

    [Theory]
    [InlineData("""{"X":"1"}""", "unknown attribute value type")]
    [InlineData("""{}""", "empty attribute value")]
    [InlineData("""{"S":"a","N":"1"}""", "more than one type")]
    public void Malformed_IsAFormatError(string json, string message)
    {
        var e = Assert.Throws<FormatException>(() => DdbJson.ParseValue(json));
        Assert.Contains(message, e.Message);
    }
}
