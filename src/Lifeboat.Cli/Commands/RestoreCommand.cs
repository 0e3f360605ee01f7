using Lifeboat.Providers.Postgres;
using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Commands;

public static class RestoreCommand
{
    /// <summary>Copies objects from the resource's replica back to its source (or elsewhere), through the same
    /// verified copier. Never deletes; by default restores only objects missing at the destination, so a newer
    /// version written after the incident is never replaced by an older replica (use --overwrite for that).</summary>
    public static async Task<int> RunAsync(string file, string resourceName, string? prefix, string? toStore, string? toBucket, bool overwrite, CancellationToken ct,
        string? toTable = null, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        switch (cfg.Find(resourceName))
        {
            case PostgresResource:
                throw new UserErrorException($"'{resourceName}' is a postgres resource: restore it to a point in time with " +
                                             $"`lifeboat pg restore -c {file} --resource {resourceName} --target-dir DIR --time T` (or --latest)");
            case RdsResource rdsRes:
                throw new UserErrorException($"'{resourceName}' is an rds resource: its snapshots are copied to {rdsRes.TargetRegion} and restored there with " +
                                             $"RDS's RestoreDBInstanceFromDBSnapshot (`lifeboat verify -c {file} --resource {resourceName}` lists the copies)");
        }
        if (cfg.Tables.FirstOrDefault(t => t.Name == resourceName) is { } table)
        {
            if (prefix is not null || toBucket is not null)
                throw new UserErrorException($"'{resourceName}' is a table resource: --prefix and --to-bucket are for buckets (use --to-table, --to-store)");
            return await RestoreTableAsync(cfg, table, toStore, toTable, overwrite, resetState).ConfigureAwait(false);
        }
        if (toTable is not null)
            throw new UserErrorException($"--to-table: '{resourceName}' is not a table resource (buckets: use --to-store/--to-bucket)");
        var res = cfg.Resource(resourceName);
        if (toStore is not null) toBucket ??= res.Source.Bucket;
        if (toStore is not null && !cfg.Stores.ContainsKey(toStore))
            throw new UserErrorException($"--to-store: no store named '{toStore}' in {file} (stores: {string.Join(", ", cfg.Stores.Keys)})");
        var rel = prefix ?? "";
        var dest = new Location(toStore ?? res.Source.Store, toBucket ?? res.Source.Bucket, res.Source.Prefix + rel, res.Source.Where);
        var restore = res with
        {
            Name = res.Name + ".restore",
            Source = res.Target with { Prefix = res.Target.Prefix + rel },
            Target = dest,
            Deletes = DeletePolicy.Retain,
        };
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        var rep = rt.Replicator(restore, onlyMissing: !overwrite);
        await rep.PrepareAsync(shutdown.Abort).ConfigureAwait(false);
        await rep.RetryOpenChangesAsync(shutdown.Abort).ConfigureAwait(false);
        var r = await rep.ReconcileAsync(null, shutdown.Stop, shutdown.Abort).ConfigureAwait(false);
        var failed = rt.State.Failed(restore.Name);
        Console.WriteLine($"restore {res.Name}: {r.Copied} objects restored ({Sizes.Format(r.Bytes)}) to {dest.Store}/{dest.Bucket}/{dest.Prefix}, " +
                          $"{r.InSync} already present{(overwrite ? " and equal" : " (kept as they are)")}, {failed.Count} failed");
        foreach (var f in failed) Console.WriteLine($"  FAILED {f.Key}: {f.Error}");
        return failed.Count == 0 && r.Completed ? Cli.Ok : Cli.Failed;
    }

    /// <summary>Copies items from a table resource's replica back to its source table, or to <paramref name="toTable"/>
    /// (in <paramref name="toStore"/>, default the source's store), created with the source's keys if absent. Never
    /// deletes; only missing items unless <paramref name="overwrite"/>.</summary>
    private static async Task<int> RestoreTableAsync(LifeboatConfig cfg, TableResource res, string? toStore, string? toTable, bool overwrite, bool resetState)
    {
        var store = toStore ?? res.Source.Store;
        if (!cfg.Stores.TryGetValue(store, out var sc))
            throw new UserErrorException($"--to-store: no store named '{store}' in {cfg.File} (stores: {string.Join(", ", cfg.Stores.Keys)})");
        if (sc.Type != StoreType.DynamoDb)
            throw new UserErrorException($"--to-store: store '{store}' is not a dynamodb store: a table restores into a dynamodb store");
        var to = new TableLocation(store, toTable ?? res.Source.Table,
            toTable is null && toStore is null ? res.Source.Where : new ConfigLocation(cfg.File, res.Where.Line, "--to-table"));
        if (to.Store == res.Target.Store && to.Table == res.Target.Table)
            throw new UserErrorException($"--to-table: '{to.Table}' is the replica itself");
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        var restorer = new Providers.DynamoDb.TableRestorer(res, rt.Dynamo(res.Target.Store), rt.Dynamo(res.Source.Store), rt.Dynamo(to.Store), to, rt.Time,
            logs.CreateLogger("lifeboat." + res.Name));
        var r = await restorer.RunAsync(overwrite, shutdown.Abort).ConfigureAwait(false);
        Console.WriteLine($"restore {res.Name}: {r.Restored} items restored{(overwrite ? $", {r.Overwritten} differing items replaced" : "")} to {to.Store}/{to.Table}" +
                          $"{(r.Created ? " (table created)" : "")} from {res.Target.Store}/{res.Target.Table}; {r.Equal} already equal" +
                          $"{(overwrite ? "" : $", {r.Differing} differing kept as they are (--overwrite replaces them)")}");
        return Cli.Ok;
    }
}
