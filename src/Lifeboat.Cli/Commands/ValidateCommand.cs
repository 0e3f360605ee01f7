using Lifeboat.Providers.Postgres;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;

namespace Lifeboat.Cli.Commands;

public static class ValidateCommand
{
    public static int Run(string file)
    {
        var cfg = Configs.Load(file);
        Cost.Input.CostConfig.Load(file); // workload: blocks and prices:, with the cost command's rules
        Console.WriteLine($"{file}: OK ({cfg.Stores.Count} stores, {cfg.Resources.Count + cfg.Tables.Count + cfg.Rds.Count + cfg.Postgres.Count} resources; state {cfg.StatePath})");
        foreach (var r in cfg.Resources)
            Console.WriteLine($"  {r.Name}: {r.Source.Store}/{r.Source.Bucket}/{r.Source.Prefix} -> {r.Target.Store}/{r.Target.Bucket}/{r.Target.Prefix}; deletes {r.Deletes}; rpo {Durations.Format(r.Rpo)}; reconcile every {Durations.Format(r.ReconcileEvery)}; deep pass {(r.DeepReconcileEvery is { } deep ? "every " + Durations.Format(deep) : "off")}{(r.Events is null ? "" : $"; events on {r.Events.Listen}{r.Events.Path}")}");
        foreach (var t in cfg.Tables)
            Console.WriteLine($"  {t.Name} (table): {t.Source.Store}/{t.Source.Table} -> {t.Target.Store}/{t.Target.Table}; create target {(t.CreateTarget ? "yes" : "no")}; " +
                              $"exclude {(t.ExcludeAttributes.Count == 0 ? "none" : string.Join(", ", t.ExcludeAttributes))}; deletes {t.Deletes}; rpo {Durations.Format(t.Rpo)}; concurrency {t.Concurrency}");
        foreach (var r in cfg.Rds)
            Console.WriteLine($"  {r.Name} (rds): {r.Instance} snapshots in {r.SourceRegion} on \"{r.Schedule}\" (UTC), copied to {r.TargetRegion}; keep {r.Keep}" +
                              $"{(r.KmsKeyId is null ? "" : $"; kms key {r.KmsKeyId}")}");
        foreach (var p in cfg.Postgres)
            Console.WriteLine($"  {p.Name} (postgres): {p.Connection.User}@{p.Connection.Host}:{p.Connection.Port} -> {p.Target.Store}/{p.Target.Bucket}/{p.Target.Prefix}; wal {p.Wal.ToString().ToLowerInvariant()}; " +
                              $"base backups {(p.BaseBackup.Schedule is { } s ? $"'{s}' (UTC)" : "on demand")}, keep {p.BaseBackup.Keep}; rpo {Durations.Format(p.Rpo)}");
        if (cfg.Recovery.Checks.Count + cfg.Recovery.Rules.Count + cfg.Recovery.Runbooks.Count > 0) RecoveryCommands.PrintSummary(cfg);
        return Cli.Ok;
    }
}
