using Lifeboat.Core.Config;

namespace Lifeboat.Cli.Commands;

public static class ValidateCommand
{
    public static int Run(string file)
    {
        var cfg = ConfigLoader.Load(file);
        Cost.Input.CostConfig.Load(file); // workload: blocks and prices:, with the cost command's rules
        Console.WriteLine($"{file}: OK ({cfg.Stores.Count} stores, {cfg.Resources.Count + cfg.Tables.Count} resources; state {cfg.StatePath})");
        foreach (var r in cfg.Resources)
            Console.WriteLine($"  {r.Name}: {r.Source.Store}/{r.Source.Bucket}/{r.Source.Prefix} -> {r.Target.Store}/{r.Target.Bucket}/{r.Target.Prefix}; deletes {r.Deletes}; rpo {Durations.Format(r.Rpo)}; reconcile every {Durations.Format(r.ReconcileEvery)}{(r.Events is null ? "" : $"; events on {r.Events.Listen}{r.Events.Path}")}");
        foreach (var t in cfg.Tables)
            Console.WriteLine($"  {t.Name} (table): {t.Source.Store}/{t.Source.Table} -> {t.Target.Store}/{t.Target.Table}; create target {(t.CreateTarget ? "yes" : "no")}; " +
                              $"exclude {(t.ExcludeAttributes.Count == 0 ? "none" : string.Join(", ", t.ExcludeAttributes))}; deletes {t.Deletes}; rpo {Durations.Format(t.Rpo)}; concurrency {t.Concurrency}");
        if (cfg.Recovery.Checks.Count + cfg.Recovery.Rules.Count + cfg.Recovery.Runbooks.Count > 0) RecoveryCommands.PrintSummary(cfg);
        return Cli.Ok;
    }
}
