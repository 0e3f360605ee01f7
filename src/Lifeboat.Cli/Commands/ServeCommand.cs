using System.CommandLine;
using System.Text.Json;
using Lifeboat.Hosting;
using Lifeboat.Hosting.Kinds;
using Lifeboat.Core.Config;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Recovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Commands;

/// <summary>
/// <c>lifeboat serve</c>: the daemon. Replicates every resource (as <c>replicate</c> does, in the mode runbooks set),
/// runs the checks and fires their actions, resumes interrupted executions, and serves on <c>serve.listen</c>
/// (127.0.0.1:8095 by default): the event endpoint (events matching rules trigger actions; every event is recorded),
/// the JSON API and <c>/metrics</c>. Requests that change state (events, approve, failover) need the token in a header
/// (<c>Authorization: Bearer T</c>, any case, or <c>X-Lifeboat-Token</c>; see <see cref="WebhookServer.AuthProblem"/>);
/// without a configured token they are refused.
/// </summary>
public static class ServeCommand
{
    public static void Register(RootCommand root, Option<string> config, Option<bool> reset)
    {
        var serve = new Command("serve", "Daemon: replication, checks and rules, event endpoint, JSON API (status, executions, approve) and /metrics") { config, reset };
        serve.SetAction((p, ct) => Cli.Run(() => RunAsync(p.GetValue(config)!, p.GetValue(reset))));
        root.Subcommands.Add(serve);
    }

    public static async Task<int> RunAsync(string file, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        // validate counts serve's listener only for a config with serve:, checks, rules or runbooks.
        ConfigLoader.CheckListeners(cfg, withServe: true);
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs();
        var log = logs.CreateLogger("lifeboat");
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        using var rec = new RecoveryRuntime(rt);
        var stop = shutdown.Stop;

        // Every resource of every kind (ADR 0010), each through the supervisor that applies the runbooks' modes.
        foreach (var r in cfg.All) rt.LockResource(r.Name);
        var supervisor = new ReplicationSupervisor(rt, log);
        var resources = cfg.All.Select(r => ResourceKinds.Create(rt, r, supervisor)).ToList();
        foreach (var r in resources) await r.PrepareAsync(shutdown.Abort).ConfigureAwait(false);
        var reps = resources.OfType<BucketProtection>().Select(b => b.First).ToList();

        var monitors = cfg.Recovery.Checks.Select(c => new CheckMonitor(c, rec.Context.Probes.Create(c.Probe), rt.Time, rec.Context.Log)).ToList();
        foreach (var m in monitors)
        {
            var label = m.Config.Name;
            rt.Metrics.Gauge(Instruments.CheckFailing, () => m.Failing ? 1 : 0, label);
            rt.Metrics.Gauge(Instruments.CheckLastOk, () => m.Last?.Ok == true ? 1 : 0, label);
            rt.Metrics.Gauge(Instruments.CheckLastUnknown, () => m.Last?.Unknown == true ? 1 : 0, label);
        }
        rt.Metrics.Gauge(Instruments.ExecutionsActive, () => rec.Executions.List(100, activeOnly: true).Count);

        var servers = new List<WebhookServer>();
        var serveCfg = cfg.Recovery.Serve;
        try
        {
            // S3 event listeners of bucket resources; one on the serve address is merged into the serve listener.
            var byListener = reps.Where(r => r.Resource.Events is not null).GroupBy(r => r.Resource.Events!.Listen.ToString()).ToList();
            List<WebhookServer.Route> RoutesOf(IEnumerable<ObjectReplicator> g) => g.GroupBy(r => r.Resource.Events!.Path).Select(pg =>
            {
                var arr = pg.ToArray();
                supervisor.Register(arr);
                return new WebhookServer.Route(pg.Key, pg.First().Resource.Events!.Token, arr, pg.Any(b => b.Resource.Events!.VerifySns),
                    ReplicateCommand.TopicArnsOf(arr));
            }).ToList();
            foreach (var g in byListener.Where(g => g.Key != serveCfg.Listen.ToString()))
                servers.Add(await WebhookServer.StartAsync(g.First().Resource.Events!.Listen, RoutesOf(g), rt.Metrics, rt.Logs, rt.Time, stop).ConfigureAwait(false));
            var merged = byListener.FirstOrDefault(g => g.Key == serveCfg.Listen.ToString());
            servers.Add(await WebhookServer.StartAsync(serveCfg.Listen, merged is null ? [] : RoutesOf(merged), rt.Metrics, rt.Logs, rt.Time, stop,
                app => MapApi(app, rec, monitors, serveCfg, stop)).ConfigureAwait(false));
            log.Serving(serveCfg.Listen, serveCfg.EventsPath,
                serveCfg.Token is null ? " (no token configured: state-changing requests are refused)" : "");
            if (serveCfg.Insecure)
                log.ServeInsecure(serveCfg.Listen);
            ReplicateCommand.WarnInsecure(log, cfg);

            foreach (var active in rec.Executions.List(100, activeOnly: true))
            {
                log.ExecutionResuming(active.Id, active.Runbook, active.Status);
                rec.Dispatcher.Track(active.Id, stop);
            }
            foreach (var r in resources) log.Protecting(ResourceKinds.Describe(r.Config));
            log.ServeSummary(resources.Count, resources.Count == 0 ? "none" : string.Join(", ", resources.GroupBy(r => r.Config.Type).Select(g => $"{g.Count()} {g.Key}")),
                monitors.Count, cfg.Recovery.Rules.Count, cfg.Recovery.Runbooks.Count);

            var tasks = resources.Select(r => supervisor.RunAsync(r, stop, shutdown.Abort))
                .Concat(monitors.Select(m => m.RunAsync(t => rec.Dispatcher.OnCheckAsync(m.Config, t, stop), stop)))
                // The listeners (the API that starts runbooks, the event endpoint) serve until SIGTERM/SIGINT, even
                // for a config with no resource and no check.
                .Append(Task.Delay(Timeout.InfiniteTimeSpan, rt.Time, stop).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default))
                .ToList();
            await Task.WhenAll(tasks).ConfigureAwait(false);
            await rec.Dispatcher.DrainAsync().ConfigureAwait(false);
        }
        finally
        {
            foreach (var s in servers) await s.DisposeAsync().ConfigureAwait(false);
        }
        log.ServeStopped();
        return Cli.Ok;
    }

    private static void MapApi(WebApplication app, RecoveryRuntime rec, List<CheckMonitor> monitors, ServeConfig serve, CancellationToken stop)
    {
        IResult? Deny(HttpContext http)
        {
            if (string.IsNullOrWhiteSpace(serve.Token))
                return Error("state-changing requests need a token: set serve.token or serve.token_env", 403);
            return WebhookServer.AuthProblem(http.Request, serve.Token) is { } problem ? Error(problem, 401) : null;
        }
        var cfg = rec.Runtime.Config;
        app.MapGet("/api/status", () => Results.Json(new ServeStatusJson(
            monitors.Select(m => new CheckStatusJson(m.Config.Name, m.Config.Probe.Describe(), m.Failing, m.Last is { Unknown: false } l ? l.Ok : null,
                m.Last?.Detail, m.LastAt, m.Config.Threshold.ToString(), m.Last?.Outcome)).ToList(),
            cfg.All.Select(r => new ModeJson(r.Name, ReplicationControl.Name(ReplicationControl.Get(rec.Runtime.State, r.Name))) { Type = r.Type }).ToList(),
            rec.Executions.List(100, activeOnly: true)), CliJson.Default.ServeStatusJson));
        app.MapGet("/api/executions", () => Results.Json(rec.Executions.List(100), CliJson.Default.IReadOnlyListExecutionRow));
        app.MapGet("/api/executions/{id:long}", (long id) =>
        {
            try { return Results.Json(Reports.Build(rec.Executions, id), CliJson.Default.ExecutionReport); }
            catch (UserErrorException e) { return Error(e.Message, 404); }
        });
        app.MapPost("/api/executions/{id:long}/approve", (HttpContext http, long id) =>
        {
            if (Deny(http) is { } denied) return denied;
            try
            {
                var by = http.Request.Query["by"].ToString() is { Length: > 0 } b ? b : "api";
                var approved = RunbookEngine.Approve(rec.Executions, id, rec.Context.NowMs, by);
                return Results.Json(new ApprovedJson(id, approved), CliJson.Default.ApprovedJson);
            }
            catch (UserErrorException e) { return Error(e.Message, 409); }
        });
        app.MapPost("/api/failover", (HttpContext http) =>
        {
            if (Deny(http) is { } denied) return denied;
            var name = http.Request.Query["runbook"].ToString();
            if (!cfg.Recovery.Runbooks.ContainsKey(name)) return Error($"no runbook named '{name}'", 404);
            try
            {
                var now = rec.Runtime.Time.GetUtcNow();
                var id = rec.Engine.Create(name, RunbookEngine.KindFailover, "api (POST /api/failover)", ApprovalMode.Auto, now, now, "failover requested through the API");
                rec.Dispatcher.Track(id, stop);
                return Results.Json(new CreatedJson(id), CliJson.Default.CreatedJson, statusCode: 202);
            }
            catch (ActiveExecutionException e) { return Results.Json(new ApiConflict(e.Message, e.Id), ApiErrorJson.Default.ApiConflict, statusCode: 409); }
        });
        app.MapPost(serve.EventsPath, async (HttpContext http) =>
        {
            if (Deny(http) is { } denied) return denied;
            string body;
            using (var reader = new StreamReader(http.Request.Body)) body = await reader.ReadToEndAsync(http.RequestAborted).ConfigureAwait(false);
            try { using var _ = JsonDocument.Parse(body); }
            catch (JsonException e) { return Error($"not a JSON event: {e.Message}", 400); }
            var matched = await rec.Dispatcher.OnEventAsync(body, stop).ConfigureAwait(false);
            return Results.Json(new EventAcceptedJson(matched, true), CliJson.Default.EventAcceptedJson);
        });
    }

    private static IResult Error(string message, int status) => Results.Json(new ApiError(message), ApiErrorJson.Default.ApiError, statusCode: status);
}
