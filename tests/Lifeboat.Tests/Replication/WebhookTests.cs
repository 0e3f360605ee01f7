using System.Net;
using System.Text;
using Lifeboat.Cli.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Tests.EndToEnd;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Replication;

/// <summary>The webhook over real HTTP (Kestrel on 127.0.0.1) feeding a replicator between two real folders.</summary>
public sealed class WebhookTests
{
    /// <summary>A webhook on a free port. SNS signatures are not checked unless asked (verify_sns: false, as for a
    /// trusted relay): these tests post SNS-shaped bodies by hand; SnsVerifierTests covers the signed path.</summary>
    internal static async Task<(Harness H, ObjectReplicator Rep, WebhookServer Server, int Port)> StartAsync(string? token, bool verifySns = false, SnsVerifier? sns = null)
    {
        var h = await Harness.FilesAsync(DeletePolicy.Propagate);
        var rep = h.Replicator();
        var port = S3ReplicationTests.FreePort();
        var server = await WebhookServer.StartAsync(new IPEndPoint(IPAddress.Loopback, port), [new("/events", token, [rep], verifySns)], h.Metrics,
            NullLoggerFactory.Instance, h.Time, CancellationToken.None, sns: sns);
        return (h, rep, server, port);
    }

    internal static string AwsEvent(string bucket, string encodedKey, string name = "ObjectCreated:Put") =>
        "{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventTime\":\"2026-11-21T10:00:00Z\",\"eventName\":\"" + name +
        "\",\"s3\":{\"bucket\":{\"name\":\"" + bucket + "\"},\"object\":{\"key\":\"" + encodedKey + "\",\"sequencer\":\"01\"}}}]}";

    [Fact]
    public async Task SnsWrappedEvent_IsQueuedAndJournaled_WithTheKeyDecodedOnce()
    {
        var (h, rep, server, port) = await StartAsync(token: null);
        await using var _ = h;
        await using var __ = server;
        var wrapped = System.Text.Json.JsonSerializer.Serialize(new { Type = "Notification", Message = AwsEvent("b", "my+file%2B1.txt") });
        using var http = new HttpClient();
        var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(wrapped, Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        var open = h.State.OpenChanges("res");
        Assert.Equal("my file+1.txt", Assert.Single(open).Key);
        Assert.Equal(1, h.Metrics.Read("lifeboat_events_total", ("resource", "res")));
    }

    [Fact]
    public async Task EventForAnotherBucket_IsRecordedAsUnmatched_NotDropped()
    {
        var (h, _, server, port) = await StartAsync(token: null);
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(AwsEvent("other", "k")));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.Equal(1, h.Metrics.Read("lifeboat_events_unmatched_total"));
        Assert.Empty(h.State.OpenChanges("res"));
    }

    [Fact]
    public async Task SubscriptionConfirmation_ForANonAwsHost_IsRefused()
    {
        var (h, _, server, port) = await StartAsync(token: null);
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        var body = """{"Type":"SubscriptionConfirmation","TopicArn":"t","SubscribeURL":"http://127.0.0.1:1/confirm"}""";
        var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(body));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        Assert.Contains("not an AWS SNS endpoint", await resp.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData("Bearer wrong", HttpStatusCode.Unauthorized)]
    [InlineData("Bearer right", HttpStatusCode.OK)]
    public async Task Token_IsRequiredWhenConfigured(string? authorization, HttpStatusCode expected)
    {
        var (h, _, server, port) = await StartAsync(token: "right");
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/events") { Content = new StringContent(AwsEvent("b", "k")) };
        if (authorization is not null) req.Headers.TryAddWithoutValidation("Authorization", authorization);
        Assert.Equal(expected, (await http.SendAsync(req)).StatusCode);
    }

    [Fact]
    public async Task LateDuplicateAndOutOfOrderEvents_EndWithTheSourcesCurrentState()
    {
        var (h, rep, server, port) = await StartAsync(token: null);
        await using var _h = h;
        await using var _s = server;
        using var stop = new CancellationTokenSource();
        var run = rep.RunAsync(null, stop.Token, CancellationToken.None);
        await h.PutSourceAsync("doc", version: 1);
        await h.PutSourceAsync("doc", version: 2);
        using var http = new HttpClient();
        // The newer event first, then the older one twice, then a stale delete: the target must hold version 2.
        foreach (var name in new[] { "ObjectCreated:Put", "ObjectCreated:Put", "ObjectCreated:Put", "ObjectRemoved:Delete" })
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(AwsEvent("b", "doc", name)))).StatusCode);
        await Eventually.TrueAsync(() => h.State.Backlog("res") == 0 && h.State.GetCheckpoint("res", "last-full-pass") is not null, TimeSpan.FromSeconds(20), "events applied");
        Assert.Equal(Harness.Content("doc", 2), await h.ReadAsync(h.Target, h.TargetBucket, "doc"));
        await stop.CancelAsync();
        await run;
    }
}
