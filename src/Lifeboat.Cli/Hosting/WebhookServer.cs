using System.Net;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.Replication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Hosting;

/// <summary>
/// The HTTP side of continuous replication: S3 event webhooks (raw S3 event JSON as Ceph RGW and MinIO push it, and
/// SNS-wrapped notifications), <c>/metrics</c> in Prometheus text format, and <c>/healthz</c>.
/// Bodies over 256 KiB are refused by Kestrel (413). When a token is configured, requests must carry it as
/// <c>Authorization: Bearer T</c>, <c>X-Lifeboat-Token: T</c>, or <c>?token=T</c> (for servers such as RGW whose push
/// endpoints cannot set headers).
/// </summary>
public sealed class WebhookServer : IAsyncDisposable
{
    private static readonly HttpClient ConfirmHttp = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly WebApplication _app;

    private WebhookServer(WebApplication app) => _app = app;

    /// <param name="VerifySns">Refuse SNS-shaped messages without a valid Amazon SNS signature (<see cref="SnsVerifier"/>).</param>
    public sealed record Route(string Path, string? Token, IReadOnlyList<ObjectReplicator> Replicators, bool VerifySns = true);

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
        var confirmHttp = ConfirmHttp;

        app.MapGet("/metrics", () => Results.Text(metrics.Render(), "text/plain; version=0.0.4"));
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        foreach (var route in routes)
        {
            app.MapPost(route.Path, async (HttpContext http) =>
            {
                if (route.Token is not null && !Authorized(http.Request, route.Token))
                {
                    metrics.Inc("lifeboat_webhook_rejected_total", "Webhook requests rejected", 1, ("reason", "token"));
                    return Results.Text("missing or wrong token\n", statusCode: 401);
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
                    metrics.Inc("lifeboat_webhook_rejected_total", "Webhook requests rejected", 1, ("reason", "too-large"));
                    log.LogWarning("webhook: rejected an event body over {Limit} bytes", S3Events.MaxBodyBytes);
                    return Results.Text($"event body larger than {S3Events.MaxBodyBytes} bytes\n", statusCode: 413);
                }
                if (route.VerifySns && await sns.CheckAsync(body, http.RequestAborted).ConfigureAwait(false) is { } refused)
                {
                    metrics.Inc("lifeboat_webhook_rejected_total", "Webhook requests rejected", 1, ("reason", "sns-signature"));
                    log.LogWarning("webhook: rejected an SNS message: {Error}", refused);
                    return Results.Text(refused + "\n", statusCode: 403);
                }
                WebhookMessage msg;
                try { msg = S3Events.Parse(body); }
                catch (EventFormatException e)
                {
                    metrics.Inc("lifeboat_webhook_rejected_total", "Webhook requests rejected", 1, ("reason", "format"));
                    log.LogWarning("webhook: rejected a request: {Error}", e.Message);
                    return Results.Text(e.Message + "\n", statusCode: 400);
                }
                switch (msg)
                {
                    case S3Notification n:
                        var matched = 0;
                        foreach (var rec in n.Records)
                        {
                            foreach (var r in route.Replicators.Where(r => r.Covers(rec.Bucket, rec.Key)))
                            {
                                r.Enqueue(new ChangeHint(rec.Key, rec.EventTime ?? time.GetUtcNow()));
                                matched++;
                            }
                        }
                        if (matched == 0 && n.Records.Count > 0)
                        {
                            metrics.Inc("lifeboat_events_unmatched_total", "Events for buckets or prefixes no resource replicates", n.Records.Count);
                            log.LogWarning("webhook: event for {Bucket}/{Key} matches no resource", n.Records[0].Bucket, n.Records[0].Key);
                        }
                        return Results.Text("ok\n");
                    case SnsSubscriptionConfirmation c:
                        if (!Uri.TryCreate(c.SubscribeUrl, UriKind.Absolute, out var url) || url.Scheme != "https" ||
                            !url.Host.StartsWith("sns.", StringComparison.Ordinal) || !url.Host.EndsWith(".amazonaws.com", StringComparison.Ordinal))
                        {
                            log.LogError("webhook: refusing to confirm an SNS subscription at {Url}: not an AWS SNS host", c.SubscribeUrl);
                            return Results.Text("SubscribeURL is not an AWS SNS endpoint\n", statusCode: 400);
                        }
                        var resp = await confirmHttp.GetAsync(url, http.RequestAborted).ConfigureAwait(false);
                        log.LogInformation("webhook: confirmed SNS subscription to {Topic}: {Status}", c.TopicArn, (int)resp.StatusCode);
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

    internal static bool Authorized(HttpRequest req, string token)
    {
        // An empty expected token would equal an empty given one: never a way in (the config refuses it too).
        if (string.IsNullOrWhiteSpace(token)) return false;
        var given = req.Headers.Authorization.ToString() is { } a && a.StartsWith("Bearer ", StringComparison.Ordinal) ? a[7..]
            : req.Headers["X-Lifeboat-Token"].ToString() is { Length: > 0 } h ? h
            : req.Query["token"].ToString();
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(token));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
