using System.Text.Json;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;

namespace Lifeboat.Cli.Commands;

public sealed record ResourceStatus(
    string Resource, long Backlog, string? LastKey, DateTimeOffset? LastReplicatedAt,
    double? LagP50Seconds, double? LagP99Seconds, long ChangesLastHour,
    double RpoSeconds, double RpoTargetSeconds, bool RpoMet, long Failed, long HeldDeletes, DateTimeOffset? LastFullPass);

public static class StatusCommand
{
    public static ResourceStatus Compute(StateStore state, Core.Config.BucketResource res, DateTimeOffset now)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        var s = state.Stats(res.Name, nowMs);
        // Measured RPO: the age of the oldest change seen at the source and not yet durable on the target.
        var rpo = s.OldestPendingSeenAtMs is { } oldest ? Math.Max(0, nowMs - oldest) / 1000.0 : 0;
        return new ResourceStatus(res.Name, s.Backlog, s.LastKey,
            s.LastDurableAtMs is { } d ? DateTimeOffset.FromUnixTimeMilliseconds(d) : null,
            Percentile(s.LagsLastHourMs, 0.50), Percentile(s.LagsLastHourMs, 0.99), s.LagsLastHourMs.Length,
            rpo, res.Rpo.TotalSeconds, rpo <= res.Rpo.TotalSeconds, s.Failed, s.HeldDeletes,
            s.LastFullPassAtMs is { } p ? DateTimeOffset.FromUnixTimeMilliseconds(p) : null);
    }

    /// <summary>Nearest-rank percentile of sorted millisecond values, in seconds.</summary>
    public static double? Percentile(long[] sortedMs, double q)
    {
        if (sortedMs.Length == 0) return null;
        var rank = (int)Math.Ceiling(q * sortedMs.Length);
        return sortedMs[Math.Clamp(rank - 1, 0, sortedMs.Length - 1)] / 1000.0;
    }

    public static int Run(string file, bool json)
    {
        var cfg = ConfigLoader.Load(file);
        using var state = new StateStore(cfg.StatePath);
        var now = TimeProvider.System.GetUtcNow();
        var rows = cfg.Resources.Select(r => Compute(state, r, now)).ToList();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            return Cli.Ok;
        }
        foreach (var r in rows)
        {
            string F(double? s) => s is null ? "-" : Durations.Format(TimeSpan.FromSeconds(s.Value));
            Console.WriteLine($"{r.Resource}:");
            Console.WriteLine($"  backlog           {r.Backlog} changes not yet durable on the target");
            Console.WriteLine($"  last replicated   {(r.LastReplicatedAt is { } t ? $"{r.LastKey} ({Durations.Format(now - t)} ago)" : "-")}");
            Console.WriteLine($"  lag (last hour)   p50 {F(r.LagP50Seconds)}, p99 {F(r.LagP99Seconds)} over {r.ChangesLastHour} changes");
            Console.WriteLine($"  RPO (measured)    {F(r.RpoSeconds)} against a target of {F(r.RpoTargetSeconds)}: {(r.RpoMet ? "met" : "MISSED")}");
            Console.WriteLine($"  failed            {r.Failed}");
            Console.WriteLine($"  deletes held      {r.HeldDeletes}");
            Console.WriteLine($"  last full pass    {(r.LastFullPass is { } p ? $"{Durations.Format(now - p)} ago" : "never")}");
        }
        return rows.All(r => r.Failed == 0) ? Cli.Ok : Cli.Failed;
    }
}
