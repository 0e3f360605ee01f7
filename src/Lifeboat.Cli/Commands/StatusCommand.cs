using Lifeboat.Hosting;
using System.Globalization;
using System.Text.Json;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Hosting.Kinds;
using Lifeboat.Core.Status;

namespace Lifeboat.Cli.Commands;

public static class StatusCommand
{
    public static int Run(string file, bool json, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        using var logs = Cli.Logs(Microsoft.Extensions.Logging.LogLevel.Warning);
        using var state = new StateStore(cfg.StatePath, new StateOpenOptions(resetState, TimeProvider.System, logs.CreateLogger("lifeboat.state")));
        var now = TimeProvider.System.GetUtcNow();
        // Every kind through the registry (ADR 0010), in the config's order.
        var all = new List<object>();
        foreach (var r in cfg.All) all.AddRange(ResourceKinds.StatusAsync(cfg, state, r, now, CancellationToken.None).GetAwaiter().GetResult());
        var rows = all.OfType<ResourceStatus>().ToList();
        var pgRows = all.OfType<Providers.Postgres.PgStatus>().ToList();
        // 1 = something needs attention: failed changes, or an archive that cannot be read (one not created yet is not).
        var exit = rows.All(r => r.Failed == 0) && pgRows.All(p => p.Archive != Providers.Postgres.PgStatus.ArchiveUnreadable) ? Cli.Ok : Cli.Failed;
        if (json)
        {
            Console.WriteLine(pgRows.Count == 0 ? JsonSerializer.Serialize(rows, CliJson.Default.ListResourceStatus)
                : JsonSerializer.Serialize(all, CliJson.Default.ListObject));
            return exit;
        }
        PgCommand.PrintStatus(pgRows, now);
        foreach (var r in rows.Where(r => r.Rds is not null)) PrintRds(r, now);
        foreach (var r in rows.Where(r => r.Rds is null))
        {
            string F(double? s) => s is null ? "-" : Durations.Format(TimeSpan.FromSeconds(s.Value));
            var table = r.Type != "bucket";
            Console.WriteLine(table ? $"{r.Resource} ({r.Type}: {r.Source} -> {r.Target}):" : $"{r.Resource}:");
            Console.WriteLine($"  backlog           {r.Backlog} changes not yet durable on the target");
            if (table)
                Console.WriteLine($"  stream read       {(r.StreamReadToEndAt is { } e ? $"to its end {Durations.Format(now - e)} ago (every change made before then is on the target)" : "never to its end yet")}");
            Console.WriteLine($"  last replicated   {(r.LastReplicatedAt is { } t ? $"{r.LastKey} ({Durations.Format(now - t)} ago)" : "-")}");
            Console.WriteLine($"  lag (last hour)   p50 {F(r.LagP50Seconds)}, p99 {F(r.LagP99Seconds)} over {r.ChangesLastHour} changes");
            Console.WriteLine(r.RpoKnown
                ? $"  RPO (measured)    {F(r.RpoSeconds)} against a target of {F(r.RpoTargetSeconds)}: {(r.RpoMet ? "met" : "MISSED")}"
                : $"  RPO (measured)    not measured yet (the stream was never read to its end) against a target of {F(r.RpoTargetSeconds)}");
            if (r.Canary is { } c)
                Console.WriteLine($"  canary            {(c.LastArrivedAt is { } a ? $"last arrived {Durations.Format(now - a)} ago after {F(c.LastLagSeconds)}" : "none arrived yet")}; " +
                                  $"p50 {F(c.LagP50Seconds)}, p99 {F(c.LagP99Seconds)} over {c.ArrivedLastHour} in the last hour; " +
                                  $"{c.InFlight} in flight{(c.OldestInFlightSeconds is { } f ? $" (oldest {F(f)})" : "")}");
            Console.WriteLine($"  failed            {r.Failed}");
            Console.WriteLine($"  deletes held      {r.HeldDeletes}");
            Console.WriteLine($"  last full pass    {(r.LastFullPass is { } p ? $"{Durations.Format(now - p)} ago" : "never")}{(table && r.LastFullPass is not null ? " (initial sync)" : "")}");
        }
        return exit;
    }

    private static void PrintRds(ResourceStatus row, DateTimeOffset now)
    {
        var r = row.Rds!;
        string Ago(DateTimeOffset? t) => t is { } v ? $"{Durations.Format(now - v)} ago" : "never";
        Console.WriteLine($"{row.Resource} (rds: {r.Instance} {r.SourceRegion} -> {r.TargetRegion}, schedule \"{r.Schedule}\", keep {r.Keep}):");
        Console.WriteLine($"  last snapshot     {(r.LastSnapshot is null ? "none yet" : $"{r.LastSnapshot}: taken {Ago(r.LastCreatedAt)}, copied {Ago(r.LastCopiedAt)}")}");
        Console.WriteLine($"  in flight         {(r.InFlight is null ? "-" : $"{r.InFlight} ({r.InFlightPhase}){(r.Waiting is null ? "" : $": {r.Waiting}")}")}");
        Console.WriteLine($"  next run          {(r.NextRun is { } n ? $"{n:yyyy-MM-dd HH:mm} UTC" : "-")}");
        if (r.LastError is not null) Console.WriteLine($"  last error        {Ago(r.LastErrorAt)}: {r.LastError}");
    }
}
