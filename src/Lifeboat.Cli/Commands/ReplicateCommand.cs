using Lifeboat.Cli.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Lifeboat.Cli.Commands;

public static class ReplicateCommand
{
    public static async Task<int> RunAsync(string file, string? resourceName, bool once, bool reverse = false)
    {
        var cfg = ConfigLoader.Load(file);
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs);
        var (buckets, tables) = cfg.SelectAny(resourceName);
        if (reverse && buckets.Count > 0)
            throw new UserErrorException(resourceName is null
                ? $"{file}: --reverse replicates table resources back from their target (failback); name a table with --resource (buckets: use restore)"
                : $"--reverse: '{resourceName}' is a bucket resource; --reverse is for table resources (buckets: use restore)");
        if (buckets.Count + tables.Count == 0) throw new UserErrorException($"{file}: no resources to replicate");
        // One process per resource, whichever the direction: forward and reverse at once would chase each other.
        foreach (var name in buckets.Select(r => r.Name).Concat(tables.Select(t => t.Name))) rt.LockResource(name);
        var reps = buckets.Select(r => rt.Replicator(r)).ToList();
        foreach (var rep in reps) await rep.PrepareAsync(shutdown.Abort).ConfigureAwait(false);
        var tableReps = tables.Select(t => rt.TableReplicator(t, reverse)).ToList();
        foreach (var rep in tableReps) await rep.PrepareAsync(shutdown.Abort).ConfigureAwait(false);
        return once
            ? await OnceAsync(rt, reps, tableReps, shutdown).ConfigureAwait(false)
            : await ContinuousAsync(rt, reps, tableReps, shutdown).ConfigureAwait(false);
    }

    /// <summary>How a table replicator is named in output: the resource, and the direction when reversed.</summary>
    public static string Label(TableReplicator rep) => rep.Resource.Name.EndsWith(TableReplicator.ReverseSuffix, StringComparison.Ordinal)
        ? $"{rep.Resource.Name[..^TableReplicator.ReverseSuffix.Length]} (reverse: {rep.Resource.Source.Store}/{rep.Resource.Source.Table} -> {rep.Resource.Target.Store}/{rep.Resource.Target.Table})"
        : rep.Resource.Name;

    private static async Task<int> OnceAsync(Runtime rt, List<ObjectReplicator> reps, List<TableReplicator> tables, Cli.Shutdown shutdown)
    {
        var ok = true;
        foreach (var rep in reps)
        {
            var name = rep.Resource.Name;
            await rep.RetryOpenChangesAsync(shutdown.Abort).ConfigureAwait(false);
            var result = await WithProgressAsync(name, p => rep.ReconcileAsync(p, shutdown.Stop, shutdown.Abort)).ConfigureAwait(false);
            await rep.ApplyDueDeletesAsync(shutdown.Abort).ConfigureAwait(false);
            var failed = rt.State.Failed(name);
            var backlog = rt.State.Backlog(name);
            Console.WriteLine($"{name}: {result.Listed} listed, {result.InSync} already in sync, {result.Copied} copied ({Sizes.Format(result.Bytes)}), " +
                              $"{result.Deleted} deleted, {result.Held} deletes held, {failed.Count} failed{(result.Completed ? "" : " (pass interrupted)")}");
            foreach (var f in failed.Take(20)) Console.WriteLine($"  FAILED {f.Key}: {f.Error}");
            if (failed.Count > 20) Console.WriteLine($"  ... and {failed.Count - 20} more");
            if (!result.Completed || failed.Count > 0 || backlog > 0) ok = false;
        }
        foreach (var rep in tables)
        {
            var name = rep.Resource.Name;
            try
            {
                var r = await rep.RunOnceAsync(shutdown.Abort, shutdown.Stop).ConfigureAwait(false);
                var backlog = rt.State.Backlog(name);
                string T(TimeSpan t) => Durations.Format(t);
                var sync = r.Scanned > 0 || r.Written > 0 || r.Swept > 0
                    ? $"initial sync: {r.Scanned} items scanned, {r.Written} written{(r.Swept > 0 ? $", {r.Swept} gone from the source" : "")} in {T(r.SyncTime)}; "
                    : "";
                Console.WriteLine($"{Label(rep)}: {sync}stream: {r.Records} records read ({r.CoveredBySync} already in the initial copy), {r.Keys} items written or deleted in {T(r.TailTime)}" +
                                  $"{(r.DeletesApplied > 0 ? $", {r.DeletesApplied} delayed deletes applied" : "")}; backlog {backlog}{(r.Completed ? "" : " (interrupted)")}");
                if (!r.Completed || backlog > 0) ok = false;
            }
            catch (Exception e) when (e is not UserErrorException and not OperationCanceledException)
            {
                Console.WriteLine($"{Label(rep)}: FAILED: {e.Message}");
                ok = false;
            }
        }
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

    private static async Task<int> ContinuousAsync(Runtime rt, List<ObjectReplicator> reps, List<TableReplicator> tables, Cli.Shutdown shutdown)
    {
        var log = rt.Logs.CreateLogger("lifeboat");
        var servers = new List<WebhookServer>();
        try
        {
            var byListener = reps.Where(r => r.Resource.Events is not null).GroupBy(r => r.Resource.Events!.Listen.ToString());
            foreach (var g in byListener)
            {
                var routes = g.GroupBy(r => r.Resource.Events!.Path)
                    .Select(pg => new WebhookServer.Route(pg.Key, pg.First().Resource.Events!.Token, pg.ToList())).ToList();
                servers.Add(await WebhookServer.StartAsync(g.First().Resource.Events!.Listen, routes, rt.Metrics, rt.Logs, rt.Time, shutdown.Stop).ConfigureAwait(false));
                log.LogInformation("listening for S3 events on http://{Listen} ({Paths}); metrics at /metrics", g.Key, string.Join(", ", routes.Select(r => r.Path)));
            }
            // A separate metrics listener, unless an events listener already serves /metrics on that address.
            if (rt.Config.Metrics is { } m && !byListener.Any(g => g.Key == m.Listen.ToString()))
            {
                servers.Add(await WebhookServer.StartAsync(m.Listen, [], rt.Metrics, rt.Logs, rt.Time, shutdown.Stop).ConfigureAwait(false));
                log.LogInformation("metrics at http://{Listen}/metrics", m.Listen);
            }
            log.LogInformation("replicating {Resources} continuously; SIGINT or SIGTERM stops after in-flight copies",
                string.Join(", ", reps.Select(r => r.Resource.Name).Concat(tables.Select(Label))));
            await Task.WhenAll(reps.Select(r => r.RunAsync(null, shutdown.Stop, shutdown.Abort))
                .Concat(tables.Select(t => t.RunAsync(shutdown.Stop, shutdown.Abort, TimeSpan.FromMilliseconds(250))))
                .Concat(tables.Select(t => t.RunCanaryAsync(shutdown.Stop)))).ConfigureAwait(false);
        }
        finally
        {
            foreach (var s in servers) await s.DisposeAsync().ConfigureAwait(false);
        }
        log.LogInformation("stopped cleanly");
        return Cli.Ok;
    }
}
