using System.Net;
using Lifeboat.Abstractions;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.Replication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Hosting;

/// <summary>
/// The HTTP side of continuous replication: S3 event webhooks (raw S3 event JSON as Ceph RGW and MinIO push it, and
/// SNS-wrapped notifications), <c>/metrics</c> in Prometheus text format, and <c>/healthz</c>.
/// Bodies over 256 KiB are refused by Kestrel (413); a body that is not a known shape is refused with one line (400).
/// When a token is configured, requests must carry it in a header (<see cref="AuthProblem"/>), never in the URL's query.
/// Messages in Amazon SNS's shape are accepted only from the route's <c>topic_arns</c> (none without the list).
/// </summary>
public sealed class WebhookServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebhookServer(WebApplication app) => _app = app;

    /// <param name="VerifySns">Refuse SNS-shaped messages without a valid Amazon SNS signature (<see cref="SnsVerifier"/>).</param>
    /// <param name="TopicArns">The SNS topics whose messages (notifications, subscription confirmations) are accepted.</param>
    public sealed record Route(string Path, string? Token, IReadOnlyList<ObjectReplicator> Replicators, bool VerifySns = true,
        IReadOnlyList<string>? TopicArns = null);

    /// <param name="configure">Maps more endpoints on the same listener (lifeboat serve: the event rules endpoint and the JSON API).</param>
    public static async Task<WebhookServer> StartAsync(IPEndPoint listen, IReadOnlyList<Route> routes, MetricsRegistry metrics,
        ILoggerFactory logs, TimeProvider time, CancellationToken ct, Action<WebApplication>? configure = null, SnsVerifier? sns = null)
    {
        sns ??= SnsVerifier.Default;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(logs);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(listen);
            k.Limits.MaxRequestBodySize = S3Events.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        var app = builder.Build();
        var log = logs.CreateLogger("lifeboat.webhook");

        app.MapGet("/metrics", () => Results.Text(metrics.Render(), "text/plain; version=0.0.4"));
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        foreach (var route in routes)
        {
            var topics = new HashSet<string>(route.TopicArns ?? [], StringComparer.Ordinal);
            IResult Refuse(string reason, int status, string message, LogLevel level = LogLevel.Warning)
            {
                metrics.Inc(Instruments.WebhookRejected, 1, reason);
                log.WebhookRejected(level, route.Path, message);
                return Results.Text(message + "\n", statusCode: status);
            }
            app.MapPost(route.Path, async (HttpContext http) =>
            {
                if (route.Token is not null && AuthProblem(http.Request, route.Token) is { } denied)
                {
                    metrics.Inc(Instruments.WebhookRejected, 1, "token");
                    return Results.Text(denied + "\n", statusCode: 401);
                }
                byte[] body;
                try
                {
                    using var ms = new MemoryStream();
                    await http.Request.Body.CopyToAsync(ms, http.RequestAborted).ConfigureAwait(false);
                    body = ms.ToArray();
                }
                catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    return Refuse("too-large", 413, $"event body larger than {S3Events.MaxBodyBytes} bytes");
                }
                catch (BadHttpRequestException e)
                {
                    return Refuse("format", e.StatusCode, $"unreadable request: {e.Message.ReplaceLineEndings(" ")}");
                }
                catch (IOException e)
                {
                    return Refuse("format", 400, $"the request body could not be read: {e.Message.ReplaceLineEndings(" ")}");
                }
                WebhookMessage msg;
                try { msg = S3Events.Parse(body); }
                catch (EventFormatException e) { return Refuse("format", 400, e.Message); }
                if (msg.SnsTopicArn is { } topic)
                {
                    // Checked before the signature, so a foreign topic costs no certificate fetch.
                    if (!topics.Contains(topic))
                        return Refuse("sns-topic", 403, topics.Count == 0
                            ? $"SNS message from topic '{S3Events.Shown(topic)}' refused: this webhook accepts SNS messages only from the topics in its events.topic_arns, and none is listed"
                            : $"SNS message from topic '{S3Events.Shown(topic)}' refused: not in this webhook's events.topic_arns");
                    if (route.VerifySns && await sns.CheckAsync(body, http.RequestAborted).ConfigureAwait(false) is { } refused)
                        return Refuse("sns-signature", 403, $"SNS message refused: {refused}");
                }
                switch (msg)
                {
                    case S3Notification n:
                        var matched = 0;
                        foreach (var rec in n.Records)
                        {
                            foreach (var r in route.Replicators.Where(r => r.Covers(rec.Bucket, rec.Key)))
                            {
                                r.Enqueue(new ChangeHint(rec.Key));
                                matched++;
                            }
                        }
                        if (matched == 0 && n.Records.Count > 0)
                        {
                            metrics.Inc(Instruments.EventsUnmatched, n.Records.Count);
                            log.WebhookUnmatched(S3Events.Shown(n.Records[0].Bucket), S3Events.Shown(n.Records[0].Key));
                        }
                        return Results.Text("ok\n");
                    case SnsSubscriptionConfirmation c:
                        if (SnsVerifier.SubscribeUrlProblem(c.SubscribeUrl, c.TopicArn) is { } bad)
                            return Refuse("sns-subscribe-url", 400, $"not confirming the SNS subscription to '{S3Events.Shown(c.TopicArn)}' at " +
                                $"{S3Events.Shown(Redact.Url(c.SubscribeUrl))}: {bad}", LogLevel.Error);
                        if (await sns.ConfirmAsync(c, http.RequestAborted).ConfigureAwait(false) is { } failed)
                        {
                            // 502: the sender (SNS) retries the confirmation later.
                            metrics.Inc(Instruments.WebhookRejected, 1, "sns-confirm-failed");
                            log.SnsConfirmFailed(c.TopicArn, failed);
                            return Results.Text($"confirming the subscription failed: {failed}\n", statusCode: 502);
                        }
                        log.SnsConfirmed(c.TopicArn);
                        return Results.Text("confirmed\n");
                    default:
                        return Results.Text("ok\n");
                }
            });
        }
        configure?.Invoke(app);
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new Core.Config.UserErrorException($"cannot listen on {listen}: {e.Message}");
        }
        return new WebhookServer(app);
    }

    /// <summary>Null when <paramref name="req"/> carries <paramref name="token"/>, else why not (one line, for the 401).
    /// Accepted: <c>Authorization: Bearer T</c> or <c>Authorization: Basic base64(ANY:T)</c> (the scheme in any case;
    /// Basic is what Ceph RGW's push endpoint sends for <c>http://lifeboat:T@host/events</c>), or <c>X-Lifeboat-Token: T</c>.
    /// Never from the URL (a query string is logged by proxies and servers). An empty expected token matches nothing.</summary>
    internal static string? AuthProblem(HttpRequest req, string token)
    {
        if (string.IsNullOrWhiteSpace(token)) return "no token is configured: requests are refused";
        foreach (var given in GivenTokens(req))
            if (TokenEquals(given, token)) return null;
        return req.Query.ContainsKey("token")
            ? "missing or wrong token (a token in the URL's query is not accepted: send Authorization: Bearer TOKEN, Basic with TOKEN as the password, or X-Lifeboat-Token)"
            : "missing or wrong token";
    }

    internal static bool Authorized(HttpRequest req, string token) => AuthProblem(req, token) is null;

    private static IEnumerable<string> GivenTokens(HttpRequest req)
    {
        foreach (var auth in req.Headers.Authorization)
        {
            if (string.IsNullOrEmpty(auth)) continue;
            var space = auth.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0) continue;
            var scheme = auth[..space];
            var value = auth[(space + 1)..].Trim();
            if (scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase)) yield return value;
            else if (scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase) && BasicPassword(value) is { } password) yield return password;
        }
        foreach (var h in req.Headers["X-Lifeboat-Token"])
            if (!string.IsNullOrEmpty(h)) yield return h;
    }

    private static string? BasicPassword(string value)
    {
        var bytes = new byte[value.Length];
        if (!Convert.TryFromBase64String(value, bytes, out var n)) return null;
        var text = System.Text.Encoding.UTF8.GetString(bytes, 0, n);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? null : text[(colon + 1)..];
    }

    /// <summary>Compares hashes in constant time: neither the content nor the length of the token leaks through timing.</summary>
    private static bool TokenEquals(string given, string token) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(given)),
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
