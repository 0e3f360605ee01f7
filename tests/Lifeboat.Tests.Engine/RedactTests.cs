using Lifeboat.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Unit;

public sealed class RedactTests
{
    [Theory]
    [InlineData("http://user:pass@127.0.0.1:8080/x", "http://***@127.0.0.1:8080/x")]
    [InlineData("https://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXX", "https://hooks.slack.com/services/T0001/B0002/***")]
    [InlineData("https://discord.com/api/webhooks/123/abcSECRET", "https://discord.com/api/webhooks/123/***")]
    [InlineData("https://example.org/hook?token=abc&x=1", "https://example.org/hook?token=***&x=1")]
    [InlineData("https://b.s3.amazonaws.com/k?X-Amz-Signature=ff&X-Amz-Credential=AKIA", "https://b.s3.amazonaws.com/k?X-Amz-Signature=***&X-Amz-Credential=***")]
    [InlineData("https://example.org/cb#access_token=abc", "https://example.org/cb#***")]
    [InlineData("http://127.0.0.1:7480", "http://127.0.0.1:7480")]
    [InlineData("http://127.0.0.1:7480/", "http://127.0.0.1:7480/")]
    [InlineData("http://u:p@127.0.0.1:7480?token=x", "http://***@127.0.0.1:7480?token=***")]
    [InlineData("not a url", "not a url")]
    [InlineData("user:pass@host", "(redacted URL)")]
    public void Url_HidesSecrets(string url, string shown) => Assert.Equal(shown, Redact.Url(url));

    [Fact]
    public void Text_RedactsEveryUrlInside() =>
        Assert.Equal("POST http://***@h/x failed; see https://hooks.slack.com/services/T1/B2/***.",
            Redact.Text("POST http://a:b@h/x failed; see https://hooks.slack.com/services/T1/B2/S3."));

    [Fact]
    public void Text_LeavesAUrlWithNothingToHideAsWritten() =>
        Assert.Equal("serving on http://127.0.0.1:8095: events at /events; see http://h/x?a=1.",
            Redact.Text("serving on http://127.0.0.1:8095: events at /events; see http://h/x?a=1."));
}
