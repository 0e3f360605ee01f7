using System.Net;
using System.Text;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Tests.EndToEnd;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Replication;

/// <summary>The webhook over real HTTP (Kestrel on 127.0.0.1) feeding a replicator between two real folders.</summary>
public sealed class WebhookTests
{
    /// <summary>A webhook on a free port. SNS signatures are not checked unless asked (verify_sns: false, as for a
    /// trusted relay): these tests post SNS-shaped bodies by hand; SnsVerifierTests covers the signed path.</summary>
    internal static async Task<(Harness H, ObjectReplicator Rep, WebhookServer Server, int Port)> StartAsync(string? token, bool verifySns = false,
        SnsVerifier? sns = null, IReadOnlyList<string>? topicArns = null, TimeProvider? time = null, ILoggerFactory? logs = null)
    {
        var h = await Harness.FilesAsync(DeletePolicy.Propagate, time);
        logs ??= NullLoggerFactory.Instance;
        var rep = new ObjectReplicator(h.Resource, h.Source, h.Target, h.State, h.Time, h.Metrics, logs.CreateLogger("lifeboat.res"), Harness.FastRetry);
        var port = S3ReplicationTests.FreePort();
        var server = await WebhookServer.StartAsync(new IPEndPoint(IPAddress.Loopback, port), [new("/events", token, [rep], verifySns, topicArns)], h.Metrics,
            logs, h.Time, CancellationToken.None, sns: sns);
        return (h, rep, server, port);
    }

    internal static string AwsEvent(string bucket, string encodedKey, string name = "ObjectCreated:Put", string eventTime = "2026-11-21T10:00:00Z") =>
        "{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventTime\":\"" + eventTime + "\",\"eventName\":\"" + name +
        "\",\"s3\":{\"bucket\":{\"name\":\"" + bucket + "\"},\"object\":{\"key\":\"" + encodedKey + "\",\"sequencer\":\"01\"}}}]}";

    internal const string Topic = "arn:aws:sns:eu-west-1:123456789012:photos";

    [Fact]
    public async Task SnsWrappedEvent_IsQueuedAndJournaled_WithTheKeyDecodedOnce()
    {
        var (h, rep, server, port) = await StartAsync(token: null, topicArns: [Topic]);
        await using var _ = h;
        await using var __ = server;
        var wrapped = System.Text.Json.JsonSerializer.Serialize(new { Type = "Notification", TopicArn = Topic, Message = AwsEvent("b", "my+file%2B1.txt") });
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
        var (h, _, server, port) = await StartAsync(token: null, topicArns: [Topic]);
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        var body = """{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:eu-west-1:123456789012:photos","SubscribeURL":"http://127.0.0.1:1/confirm"}""";
        var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(body));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        Assert.Contains("not an AWS SNS endpoint", await resp.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(null, null, HttpStatusCode.Unauthorized)]
    [InlineData("Bearer wrong", null, HttpStatusCode.Unauthorized)]
    [InlineData("Bearer right", null, HttpStatusCode.OK)]
    [InlineData("bearer right", null, HttpStatusCode.OK)]          // the scheme in any case (RFC 9110)
    [InlineData("BEARER right", null, HttpStatusCode.OK)]
    [InlineData("Basic bGlmZWJvYXQ6cmlnaHQ=", null, HttpStatusCode.OK)]   // lifeboat:right, what RGW sends for http://lifeboat:right@host/events
    [InlineData("basic OnJpZ2h0", null, HttpStatusCode.OK)]               // ":right"
    [InlineData("Basic cmlnaHQ6d3Jvbmc=", null, HttpStatusCode.Unauthorized)] // right:wrong: the token is the password, not the user
    [InlineData("Basic !!!", null, HttpStatusCode.Unauthorized)]
    [InlineData("Token right", null, HttpStatusCode.Unauthorized)]
    [InlineData(null, "right", HttpStatusCode.OK)]                 // X-Lifeboat-Token
    [InlineData(null, "wrong", HttpStatusCode.Unauthorized)]
    public async Task Token_IsRequiredWhenConfigured(string? authorization, string? header, HttpStatusCode expected)
    {
        var (h, _, server, port) = await StartAsync(token: "right");
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/events") { Content = new StringContent(AwsEvent("b", "k")) };
        if (authorization is not null) req.Headers.TryAddWithoutValidation("Authorization", authorization);
        if (header is not null) req.Headers.TryAddWithoutValidation("X-Lifeboat-Token", header);
        Assert.Equal(expected, (await http.SendAsync(req)).StatusCode);
    }

    [Fact]
    public async Task Token_InTheQueryString_IsRefused_WithAHint()
    {
        var (h, _, server, port) = await StartAsync(token: "right");
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        var resp = await http.PostAsync($"http://127.0.0.1:{port}/events?token=right", new StringContent(AwsEvent("b", "k")));
        Assert.Equal(HttpStatusCode.Unauthorized, resp.StatusCode);
        Assert.Contains("query is not accepted", await resp.Content.ReadAsStringAsync());
        Assert.Empty(h.State.OpenChanges("res"));
    }

    [Fact]
    public async Task EmptyConfiguredToken_AcceptsNothing()
    {
        var (h, _, server, port) = await StartAsync(token: "");
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/events") { Content = new StringContent(AwsEvent("b", "k")) };
        req.Headers.TryAddWithoutValidation("Authorization", "Bearer ");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(req)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(AwsEvent("b", "k")))).StatusCode);
        Assert.Empty(h.State.OpenChanges("res"));
    }

    [Fact]
    public async Task EventTimes_FromTheDistantPastOrFuture_MoveNeitherLagNorRpo()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        var (h, rep, server, port) = await StartAsync(token: "t", time: clock);
        await using var _h = h;
        await using var _s = server;
        await h.PutSourceAsync("old.txt");
        await h.PutSourceAsync("future.txt");
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Lifeboat-Token", "t");
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(AwsEvent("b", "old.txt", eventTime: "2000-01-01T00:00:00Z")))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(AwsEvent("b", "future.txt", eventTime: "2999-01-01T00:00:00Z")))).StatusCode);
        clock.Advance(TimeSpan.FromSeconds(2));
        var st = Core.Status.BucketStatus.Compute(h.State, h.Resource, clock.GetUtcNow());
        Assert.Equal(2, st.Backlog);
        Assert.Equal(2, st.RpoSeconds); // from when the events arrived
        await rep.RetryOpenChangesAsync(CancellationToken.None);
        st = Core.Status.BucketStatus.Compute(h.State, h.Resource, clock.GetUtcNow());
        Assert.Equal(0, st.Backlog);
        Assert.Equal(2, st.LagP99Seconds);
        Assert.Equal(2, st.LagP50Seconds);
        Assert.Contains("lifeboat_replication_lag_seconds_sum{resource=\"res\"} 4\n", h.Metrics.Render());
    }

    [Theory]
    [InlineData("", "empty key")]
    [InlineData("a%00b", "NUL")]
    [InlineData("../outside", "segment")]          // a folder store's keys stay inside its folder
    [InlineData("a//b", "segment")]
    [InlineData("long", "1024")]
    public async Task EventsForKeysThatCannotExist_AreRefusedAndCounted_NeverJournaled(string encodedKey, string why)
    {
        if (encodedKey == "long") encodedKey = new string('k', 1025);
        using var captured = new CapturedLogs();
        var (h, rep, server, port) = await StartAsync(token: null, logs: captured.Factory);
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(AwsEvent("b", encodedKey)))).StatusCode);
        Assert.Empty(h.State.OpenChanges("res"));
        await rep.RetryOpenChangesAsync(CancellationToken.None);
        Assert.Empty(h.State.Failed("res"));
        Assert.Equal(1, h.Metrics.Read("lifeboat_events_refused_total", ("resource", "res"), ("reason", "invalid-key")));
        Assert.Contains("cannot exist at the source", captured.Text);
        Assert.Contains(why, captured.Text);
    }

    [Theory]
    [InlineData("""{"Records":[1]}""")]
    [InlineData("""{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":"b","object":{"key":"k"}}}]}""")]
    [InlineData("""{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"bad \xff"}}}]}""")]
    [InlineData("""{"Type":"Notification","TopicArn":"arn:aws:sns:eu-west-1:123456789012:photos","Message":"{\"Type\":\"SubscriptionConfirmation\",\"TopicArn\":\"x\",\"SubscribeURL\":\"https://sns.eu-west-1.amazonaws.com/\"}"}""")]
    [InlineData("""{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:eu-west-1:123456789012:photos","SubscribeURL":"https://sns.eu-west-1.amazonaws.com:1/?Action=ConfirmSubscription"}""")]
    [InlineData("""{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:eu-west-1:123456789012:photos","SubscribeURL":"https://sns.s3.amazonaws.com/?Action=ConfirmSubscription"}""")]
    public async Task HostileBodies_Answer400_WithOneLine_AndNoStackTraceInTheLog(string body)
    {
        using var captured = new CapturedLogs();
        var (h, _, server, port) = await StartAsync(token: null, topicArns: [Topic], logs: captured.Factory);
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        // \xff stands for a byte that is not valid UTF-8.
        var raw = Encoding.UTF8.GetBytes(body.Replace("\\xff", "\u0001", StringComparison.Ordinal)).Select(b => b == 1 ? (byte)0xff : b).ToArray();
        var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new ByteArrayContent(raw));
        var answer = await resp.Content.ReadAsStringAsync();
        Assert.True(resp.StatusCode == HttpStatusCode.BadRequest, $"{(int)resp.StatusCode} {answer}");
        Assert.Single(answer.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", captured.Text);
        Assert.DoesNotContain("Exception", captured.Text);
        Assert.Contains("webhook: rejected a request", captured.Text);
        Assert.Empty(h.State.OpenChanges("res"));
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

/// <summary>Log lines as the CLI writes them (LineLogger, ASP.NET Core's own from warnings up), kept for assertions.</summary>
internal sealed class CapturedLogs : IDisposable
{
    private readonly StringWriter _out = new();
    private readonly TextWriter _sync;
    public ILoggerFactory Factory { get; }

    public CapturedLogs()
    {
        _sync = TextWriter.Synchronized(_out);
        Factory = new LoggerFactory([new LineLoggerProvider(TimeProvider.System, _sync)],
            new LoggerFilterOptions { MinLevel = LogLevel.Information, Rules = { new LoggerFilterRule(null, "Microsoft", LogLevel.Warning, null) } });
    }

    public string Text { get { lock (_sync) return _out.ToString(); } }

    public void Dispose() => Factory.Dispose();
}
