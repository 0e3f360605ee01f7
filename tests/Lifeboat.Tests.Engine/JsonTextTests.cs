using Lifeboat.Core.Storage;
using System.Text.Encodings.Web;
using System.Text.Json;
using Lifeboat.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary><see cref="JsonText.Quote"/> replaced <c>JsonSerializer.Serialize(string)</c> (reflection, unavailable in the
/// ahead-of-time compiled package): it must write the same literal, with the default and the relaxed encoder.</summary>
public sealed class JsonTextTests
{
    public static TheoryData<string> Strings => new()
    {
        "", "plain", "with \"quotes\" and \\backslash", "tab\tnew\nline\r", "\u0001\u001f control", "<script>&amp;'x'</script>",
        "accents: café, Größe", "emoji: \U0001F6DF", "lone surrogate: \ud800", "$.detail[\"state\"]", "+1.5e3",
    };

    [Theory]
    [MemberData(nameof(Strings))]
    public void Quote_WritesWhatTheSerializerWrote(string s)
    {
        Assert.Equal(JsonSerializer.Serialize(s), JsonText.Quote(s));
        var relaxed = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        Assert.Equal(JsonSerializer.Serialize(s, relaxed), JsonText.Quote(s, JavaScriptEncoder.UnsafeRelaxedJsonEscaping));
        Assert.Equal(s.Replace("\ud800", "\ufffd"), JsonSerializer.Deserialize<string>(JsonText.Quote(s)));
    }
}
