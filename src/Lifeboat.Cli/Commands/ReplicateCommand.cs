using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Hosting;
using Lifeboat.Hosting.Kinds;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Lifeboat.Cli.Commands;

public static class ReplicateCommand
{
    public static async Task<int> RunAsync(string file, string? resourceName, bool once, bool reverse = false, bool resetState = false, bool deep = false)
    {
        if (deep && !once) throw new UserErrorException("--deep runs with --once; continuous mode runs a deep pass every deep_reconcile_every (default 24h)");
        var cfg = Configs.Load(file);
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        // rds resources (scheduled snapshots, copied cross-region) and postgres resources are selected apart from buckets and tables.
        var rds = cfg.Rds.Where(r => resourceName is null || r.Name == resourceName).ToList();
        var pgs = PgCommand.Select(cfg, resourceName).ToList();
        var (buckets, tables) = resourceName is not null && rds.Count + pgs.Count > 0 ? ([], []) : cfg.SelectAny(resourceName);
        if (reverse && rds.Count + pgs.Count > 0 && resourceName is not null)
            throw new UserErrorException($"--reverse: '{resourceName}' is an {(rds.Count > 0 ? "rds" : "postgres")} resource; --reverse is for table resources");
        if (reverse) { rds = []; pgs = []; }
        if (reverse && buckets.Count > 0)
            throw new UserErrorException(resourceName is null
                ? $"{file}: --reverse replicates table resources back from their target (failback); name a table with --resource (buckets: use restore)"
                : $"--reverse: '{resourceName}' is a bucket resource; --reverse is for table resources (buckets: use restore)");
        if (buckets.Count + tables.Count + rds.Count + pgs.Count == 0) throw new UserErrorException($"{file}: no resources to replicate");
        // One process per resource, whichever the direction: forward and reverse at once would chase each other.
        foreach (var name in buckets.Select(r => r.Name).Concat(tables.Select(t => t.Name)).Concat(rds.Select(r => r.Name)).Concat(pgs.Select(p => p.Name))) rt.LockResource(name);
        // Bucket replicators (their stores and HTTP clients) are set up while the state store opens in the background.
        // Each claims its target (ADR 0009): a target protected by another state file is refused before any copy.
        var reps = buckets.Select(r => rt.Replicator(r, claim: ClaimMode.Claim)).ToList();
        // Their bucket checks (the first requests) go out while the state store opens and the modes are read.
        var checks = reps.ToDictionary(r => r, r => r.CheckBucketsAsync(shutdown.Abort));
        // --once obeys the mode a failover runbook set, as the continuous loop does (ReplicationSupervisor): a cron job
        // running `replicate --once` during a failover must not copy from a failed primary into the recovery copy.
        var held = once ? HeldByMode(rt, file, buckets.Select(b => b.Name).Concat(tables.Select(t => t.Name)).Concat(pgs.Select(p => p.Name)).Concat(rds.Select(r => r.Name)), reverse) : [];
        foreach (var (rep, check) in checks)
            if (held.Contains(rep.Resource.Name)) // not replicated by this run: whether its buckets answer does not matter
                _ = check.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        reps = reps.Where(r => !held.Contains(r.Resource.Name)).ToList();
        tables = tables.Where(t => !held.Contains(t.Name)).ToList();
        pgs = pgs.Where(p => !held.Contains(p.Name)).ToList();
        rds = rds.Where(r => !held.Contains(r.Name)).ToList();
        var rdsRunners = rds.Select(rt.RdsRunner).ToList();
        // The first backfill's listing pages go out while the bucket checks are answered (read-only; used only if they
        // pass). Only the pass that starts next: a listing read long before its pass (after another bucket's pass or an
        // rds cycle) would be stale.
        if (once && reps.Count > 0 && rdsRunners.Count == 0) _ = reps[0].PrefetchPass(shutdown.Stop); // awaited by the pass
        foreach (var rep in reps) await rep.PrepareAsync(shutdown.Abort, checks[rep]).ConfigureAwait(false);
        var tableReps = tables.Select(t => rt.TableReplicator(t, reverse, ClaimMode.Claim)).ToList();
        foreach (var rep in tableReps) await rep.PrepareAsync(shutdown.Abort).ConfigureAwait(false);
        var pgProtectors = await PgCommand.PrepareAsync(rt, pgs, shutdown.Abort).ConfigureAwait(false);
        // Every kind through its contract (ADR 0010), in the order of the config file.
        var prepared = reps.Select(r => (IProtectedResource)new BucketProtection(rt, r, null))
            .Concat(tables.Zip(tableReps, (t, rep) => new TableProtection(rt, t, rep)))
            .Concat(pgProtectors.Select(p => new PostgresProtection(rt, p)))
            .Concat(rdsRunners.Select(r => new RdsProtection(rt, r)))
            .OrderBy(r => IndexOf(cfg, r.Config.Name)).ToList();
        return once
            ? Math.Max(await OnceAsync(prepared, shutdown, deep).ConfigureAwait(false), held.Count > 0 ? Cli.Failed : Cli.Ok)
            : await ContinuousAsync(rt, prepared, shutdown).ConfigureAwait(false);
    }

    private static int IndexOf(LifeboatConfig cfg, string name)
    {
        for (var i = 0; i < cfg.All.Count; i++)
            if (cfg.All[i].Name == name) return i;
        return cfg.All.Count;
    }

    /// <summary>The resources whose replication mode does not allow this run (forward needs forward; --reverse needs
    /// forward or reversed), each reported on a line: they are not replicated, so the run cannot exit 0.</summary>
    private static HashSet<string> HeldByMode(Runtime rt, string file, IEnumerable<string> names, bool reverse)
    {
        var held = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var mode = ReplicationControl.Get(rt.State, name);
            if (mode == ReplicationMode.Forward || (reverse && mode == ReplicationMode.Reversed)) continue;
            held.Add(name);
            Console.WriteLine($"{name}: not replicated: replication is {ReplicationControl.Name(mode)} (set by a failover runbook); " +
                              $"`lifeboat failback -c {file}` returns it to forward");
        }
        return held;
    }

    public static string Label(TableReplicator rep) => TableProtection.Label(rep);

    /// <summary>One pass of every resource, each kind through <see cref="IProtectedResource.RunOnceAsync"/>; exit 1 when
    /// any left something undone.</summary>
    private static async Task<int> OnceAsync(List<IProtectedResource> resources, Cli.Shutdown shutdown, bool deep)
    {
        var ok = true;
        var options = new OnceOptions(deep, WithProgressAsync);
        foreach (var r in resources) ok &= await r.RunOnceAsync(options, Console.Out, shutdown.Stop, shutdown.Abort).ConfigureAwait(false);
        return ok ? Cli.Ok : Cli.Failed;
    }

    private static Task<PassResult> WithProgressAsync(string name, Func<IProgress<PassProgress>?, Task<PassResult>> run) =>
        // Spectre.Console is loaded only for a terminal (its start-up shows in short runs with redirected output).
        Console.IsOutputRedirected ? run(null) : WithProgressBarAsync(name, run);

    private static async Task<PassResult> WithProgressBarAsync(string name, Func<IProgress<PassProgress>?, Task<PassResult>> run)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive) return await run(null).ConfigureAwait(false);
        PassResult result = null!;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new SpinnerColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(name).IsIndeterminate();
                var progress = new Progress<PassProgress>(p => task.Description =
                    $"{name}: {p.Listed} listed, {p.Copied} copied ({Sizes.Format(p.Bytes)}), {p.InSync} in sync, {p.Failed} failed");
                result = await run(progress).ConfigureAwait(false);
                task.StopTask();
            }).ConfigureAwait(false);
        return result;
    }

    private static async Task<int> ContinuousAsync(Runtime rt, List<IProtectedResource> prepared, Cli.Shutdown shutdown)
    {
        var log = rt.Logs.CreateLogger("lifeboat");
        var servers = new List<WebhookServer>();
        // Runs each resource in the mode runbooks set (forward, paused, stopped, reversed): see ReplicationSupervisor.
        var supervisor = new ReplicationSupervisor(rt, log);
        var reps = prepared.OfType<BucketProtection>().Select(b => b.First).ToList();
        var tables = prepared.OfType<TableProtection>().Where(t => t.Reverse).ToList();
        try
        {
            var byListener = reps.Where(r => r.Resource.Events is not null).GroupBy(r => r.Resource.Events!.Listen.ToString());
            foreach (var g in byListener)
            {
                var routes = g.GroupBy(r => r.Resource.Events!.Path)
                    .Select(pg => new WebhookServer.Route(pg.Key, pg.First().Resource.Events!.Token, Routed(supervisor, pg), pg.Any(b => b.Resource.Events!.VerifySns),
                        TopicArnsOf(pg))).ToList();
                servers.Add(await WebhookServer.StartAsync(g.First().Resource.Events!.Listen, routes, rt.Metrics, rt.Logs, rt.Time, shutdown.Stop).ConfigureAwait(false));
                log.EventsListening(g.Key, string.Join(", ", routes.Select(r => r.Path)));
            }
            WarnInsecure(log, rt.Config);
            // A separate metrics listener, unless an events listener already serves /metrics on that address.
            if (rt.Config.Metrics is { } m && !byListener.Any(g => g.Key == m.Listen.ToString()))
            {
                servers.Add(await WebhookServer.StartAsync(m.Listen, [], rt.Metrics, rt.Logs, rt.Time, shutdown.Stop).ConfigureAwait(false));
                log.MetricsListening(m.Listen);
            }
            foreach (var t in tables) log.Protecting(t.Describe());
            // Every kind through the supervisor (ADR 0010), in the mode runbooks set; --reverse runs its tables as asked.
            var resources = prepared.Where(r => r is not TableProtection { Reverse: true })
                .Select(r => r is BucketProtection b ? new BucketProtection(rt, b.First, supervisor) : r).ToList();
            foreach (var r in resources) log.Protecting(ResourceKinds.Describe(r.Config));
            log.ReplicatingContinuously(resources.Count + tables.Count);
            await Task.WhenAll(resources.Select(r => supervisor.RunAsync(r, shutdown.Stop, shutdown.Abort))
                .Concat(tables.Select(t => t.RunAsync(ReplicationMode.Reversed, shutdown.Stop, shutdown.Abort))))
                .ConfigureAwait(false);
        }
        finally
        {
            foreach (var s in servers) await s.DisposeAsync().ConfigureAwait(false);
        }
        log.ReplicateStopped();
        return Cli.Ok;
    }

    /// <summary>Every start says which event listeners take requests without a token (<c>insecure: true</c>).</summary>
    internal static void WarnInsecure(ILogger log, LifeboatConfig cfg)
    {
        foreach (var r in cfg.Resources.Where(r => r.Events is { Insecure: true }))
            log.EventsListenerInsecure(r.Name, r.Events!.Listen);
    }


    private static ObjectReplicator[] Routed(ReplicationSupervisor supervisor, IEnumerable<ObjectReplicator> reps)
    {
        var arr = reps.ToArray();
        supervisor.Register(arr);
        return arr;
    }

    /// <summary>The SNS topics a webhook route accepts: those listed by any resource on it.</summary>
    internal static IReadOnlyList<string> TopicArnsOf(IEnumerable<ObjectReplicator> route) =>
        route.SelectMany(r => r.Resource.Events!.TopicArns ?? []).Distinct(StringComparer.Ordinal).ToList();
}
