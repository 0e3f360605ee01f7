using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Recovery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>Secrets in URLs from the config stay out of logs, descriptions and probe details (issue 14, finding 9);
/// an empty expected token never authorizes (finding 3, the runtime's side).</summary>
public sealed class SecretRedactionTests
{
    [Fact]
    public void EveryLogLine_ShowsUrlsWithoutTheirSecrets()
    {
        var sw = new StringWriter();
        using var provider = new LineLoggerProvider(TimeProvider.System, sw);
        var log = provider.CreateLogger("lifeboat");
        log.LogError("notify {Url} failed", "https://hooks.slack.com/services/T1/B2/SLACKSECRET");
        log.LogWarning("cannot reach http://admin:hunter2@10.0.0.1:7480/bucket?X-Amz-Signature=SIG");
        var text = sw.ToString();
        Assert.DoesNotContain("SLACKSECRET", text);
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("SIG\n", text);
        Assert.Contains("https://hooks.slack.com/services/T1/B2/***", text);
        Assert.Contains("http://***@10.0.0.1:7480/bucket?X-Amz-Signature=***", text);
    }

    private static LifeboatConfig Config() => Configs.Parse("c.yaml", """
        checks:
          - name: app
            http: { url: "http://admin:hunter2@127.0.0.1:9/health" }
        runbooks:
          rb:
            steps:
              - name: call
                http: { url: "https://api.example.org/x?token=QUERYSECRET" }
              - name: page
                needs: call
                notify: "https://hooks.slack.com/services/T1/B2/SLACKSECRET"
        """);

    [Fact]
    public void ProbeAndStepDescriptions_ShowUrlsWithoutTheirSecrets()
    {
        var cfg = Config();
        Assert.Equal("http GET http://***@127.0.0.1:9/health expects 200", cfg.Recovery.Checks[0].Probe.Describe());
        var rb = cfg.Recovery.Runbooks["rb"];
        Assert.Equal("http: GET https://api.example.org/x?token=***", RunbookEngine.Describe(rb.Step("call")));
        Assert.Equal("notify: https://hooks.slack.com/services/T1/B2/***", RunbookEngine.Describe(rb.Step("page")));
    }

    [Fact]
    public async Task HttpProbeDetails_ShowUrlsWithoutTheirSecrets()
    {
        using var http = new HttpClient();
        var probe = new HttpProbe(Config().Recovery.Checks[0].Probe.Http!, http); // port 9: refused
        var r = await probe.RunAsync(CancellationToken.None);
        Assert.False(r.Ok);
        Assert.DoesNotContain("hunter2", r.Detail);
        Assert.StartsWith("http://***@127.0.0.1:9/health: ", r.Detail);
        Assert.DoesNotContain("hunter2", probe.Describe);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void AnEmptyExpectedToken_NeverAuthorizes(string token)
    {
        var ctx = new DefaultHttpContext();
        Assert.False(WebhookServer.Authorized(ctx.Request, token));
        ctx.Request.Headers.Authorization = "Bearer " + token;
        Assert.False(WebhookServer.Authorized(ctx.Request, token));
        ctx.Request.Headers.Authorization = "Bearer right";
        Assert.True(WebhookServer.Authorized(ctx.Request, "right"));
    }
}
