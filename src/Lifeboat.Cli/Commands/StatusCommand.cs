using System.Globalization;
using System.Text.Json;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Providers.DynamoDb;

namespace Lifeboat.Cli.Commands;

/// <summary>A canary's end-to-end measurements (table resources with <c>canary:</c>): the last arrival, arrival delays
/// over the last hour, and the canaries written but not yet durable on the target.</summary>
public sealed record CanaryStatus(
    DateTimeOffset? LastWrittenAt, DateTimeOffset? LastArrivedAt, double? LastLagSeconds,
    double? LagP50Seconds, double? LagP99Seconds, long ArrivedLastHour, long InFlight, double? OldestInFlightSeconds);

public sealed record ResourceStatus(
    string Resource, long Backlog, string? LastKey, DateTimeOffset? LastReplicatedAt,
    double? LagP50Seconds, double? LagP99Seconds, long ChangesLastHour,
    double RpoSeconds, double RpoTargetSeconds, bool RpoMet, long Failed, long HeldDeletes, DateTimeOffset? LastFullPass,
    string Type = "bucket", string? Source = null, string? Target = null,
    DateTimeOffset? StreamReadToEndAt = null, bool RpoKnown = true, CanaryStatus? Canary = null, RdsStatus? Rds = null);

public static class StatusCommand
{
    public static ResourceStatus Compute(StateStore state, BucketResource res, DateTimeOffset now)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        var s = state.Stats(res.Name, nowMs);
        // Measured RPO: the age of the oldest change seen at the source and not yet durable on the target.
        var rpo = s.OldestPendingSeenAtMs is { } oldest ? Math.Max(0, nowMs - oldest) / 1000.0 : 0;
        return new ResourceStatus(res.Name, s.Backlog, s.LastKey,
            s.LastDurableAtMs is { } d ? DateTimeOffset.FromUnixTimeMilliseconds(d) : null,
            Percentile(s.LagsLastHourMs, 0.50), Percentile(s.LagsLastHourMs, 0.99), s.LagsLastHourMs.Length,
            rpo, res.Rpo.TotalSeconds, rpo <= res.Rpo.TotalSeconds, s.Failed, s.HeldDeletes,
            s.LastFullPassAtMs is { } p ? DateTimeOffset.FromUnixTimeMilliseconds(p) : null,
            Source: $"{res.Source.Store}/{res.Source.Bucket}/{res.Source.Prefix}", Target: $"{res.Target.Store}/{res.Target.Bucket}/{res.Target.Prefix}");
    }

    /// <summary>
    /// A table resource (or its failback direction, <paramref name="stateName"/> NAME.reverse). Lag = durable_at − seen_at
    /// of the journal (seen_at: see <see cref="TableReplicator.SeenAtMs"/>). Measured RPO = the longest of: the age of
    /// the oldest change seen and not yet durable; the time since the stream was last read to its end (changes made
    /// since may not be on the target: while no replicator runs, this grows, as the exposure does); the age of the
    /// oldest canary written and not yet arrived. Unknown (not met, and no evidence for an alarm, which holds its state)
    /// until the stream was read to its end once.
    /// </summary>
    public static ResourceStatus ComputeTable(StateStore state, TableResource res, string stateName, DateTimeOffset now)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        var s = state.Stats(stateName, nowMs);
        long? caughtUp = long.TryParse(state.GetCheckpoint(stateName, TableReplicator.CaughtUpCheckpoint), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) ? c : null;
        var c2 = state.Canary(stateName, nowMs);
        var ages = new List<long>();
        if (s.OldestPendingSeenAtMs is { } oldest) ages.Add(nowMs - oldest);
        if (caughtUp is { } cu) ages.Add(nowMs - cu);
        if (c2.OldestOpenWrittenAtMs is { } co) ages.Add(nowMs - co);
        var rpo = ages.Count == 0 ? 0 : Math.Max(0, ages.Max()) / 1000.0;
        var known = caughtUp is not null;
        CanaryStatus? canary = res.Canary is null && c2.LastWrittenAtMs is null ? null : new CanaryStatus(
            T(c2.LastWrittenAtMs), T(c2.LastArrivedAtMs), c2.LastLagMs / 1000.0,
            Percentile(c2.LagsLastHourMs, 0.50), Percentile(c2.LagsLastHourMs, 0.99), c2.LagsLastHourMs.Length, c2.Open,
            c2.OldestOpenWrittenAtMs is { } o ? Math.Max(0, nowMs - o) / 1000.0 : null);
        var reverse = stateName.EndsWith(TableReplicator.ReverseSuffix, StringComparison.Ordinal);
        var (from, to) = reverse ? (res.Target, res.Source) : (res.Source, res.Target);
        return new ResourceStatus(stateName, s.Backlog, s.LastKey, T(s.LastDurableAtMs),
            Percentile(s.LagsLastHourMs, 0.50), Percentile(s.LagsLastHourMs, 0.99), s.LagsLastHourMs.Length,
            rpo, res.Rpo.TotalSeconds, known && rpo <= res.Rpo.TotalSeconds, s.Failed, s.HeldDeletes, T(s.LastFullPassAtMs),
            Type: reverse ? "table-reverse" : "table", Source: $"{from.Store}/{from.Table}", Target: $"{to.Store}/{to.Table}",
            StreamReadToEndAt: T(caughtUp), RpoKnown: known, Canary: canary);
    }

    private static DateTimeOffset? T(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;

    /// <summary>Nearest-rank percentile of sorted millisecond values, in seconds.</summary>
    public static double? Percentile(long[] sortedMs, double q)
    {
        if (sortedMs.Length == 0) return null;
        var rank = (int)Math.Ceiling(q * sortedMs.Length);
        return sortedMs[Math.Clamp(rank - 1, 0, sortedMs.Length - 1)] / 1000.0;
    }

    public static int Run(string file, bool json, bool resetState = false)
    {
        var cfg = ConfigLoader.Load(file);
        using var logs = Cli.Logs(Microsoft.Extensions.Logging.LogLevel.Warning);
        using var state = new StateStore(cfg.StatePath, new StateOpenOptions(resetState, TimeProvider.System, logs.CreateLogger("lifeboat.state")));
        var now = TimeProvider.System.GetUtcNow();
        var rows = cfg.Resources.Select(r => Compute(state, r, now)).ToList();
        foreach (var t in cfg.Tables)
        {
            rows.Add(ComputeTable(state, t, t.Name, now));
            // The failback direction, once it has run.
            var rev = t.Name + TableReplicator.ReverseSuffix;
            if (state.GetCheckpoint(rev, TableReplicator.CaughtUpCheckpoint) is not null || state.GetCheckpoint(rev, "table:stream-arn") is not null)
                rows.Add(ComputeTable(state, t, rev, now));
        }
        foreach (var r in cfg.Rds)
        {
            // rds: the recovery point is the newest snapshot copied to the target region.
            var st = RdsCommand.Status(state, r, now);
            var age = st.LastCreatedAt is { } c ? (now - c).TotalSeconds : 0;
            rows.Add(new ResourceStatus(r.Name, st.InFlight is null ? 0 : 1, st.LastSnapshot, st.LastCopiedAt, null, null, 0,
                age, 0, st.LastError is null && st.LastCreatedAt is not null, st.LastError is null ? 0 : 1, 0, st.LastFinishedAt,
                Type: "rds", Source: $"{r.SourceRegion}/{r.Instance}", Target: r.TargetRegion, RpoKnown: st.LastCreatedAt is not null, Rds: st));
        }
        var pgRows = PgCommand.StatusAsync(cfg, now, CancellationToken.None).GetAwaiter().GetResult();
        // 1 = something needs attention: failed changes, or an archive that cannot be read (one not created yet is not).
        var exit = rows.All(r => r.Failed == 0) && pgRows.All(p => p.Archive != Providers.Postgres.PgStatus.ArchiveUnreadable) ? Cli.Ok : Cli.Failed;
        if (json)
        {
            Console.WriteLine(pgRows.Count == 0 ? JsonSerializer.Serialize(rows, CliJson.Default.ListResourceStatus)
                : JsonSerializer.Serialize(rows.Cast<object>().Concat(pgRows.Select(p => (object)p)).ToList(), CliJson.Default.ListObject));
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
