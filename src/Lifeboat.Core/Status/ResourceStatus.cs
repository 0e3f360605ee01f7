using Lifeboat.Core.Config;
using Lifeboat.Core.State;

namespace Lifeboat.Core.Status;

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

/// <summary>What an rds resource's status shows (read from the state store by the AWS provider).</summary>
public sealed record RdsStatus(
    string Instance, string SourceRegion, string TargetRegion, string Schedule, int Keep,
    string? InFlight, string? InFlightPhase, string? Waiting,
    string? LastSnapshot, DateTimeOffset? LastCreatedAt, DateTimeOffset? LastCopiedAt, DateTimeOffset? LastFinishedAt,
    DateTimeOffset? NextRun, string? LastError, DateTimeOffset? LastErrorAt);

/// <summary>The figures of a bucket resource (lag, measured RPO, backlog, failed), computed from its journal: the
/// engine's answer that <c>status</c>, the serve API and alarms all read (ADR 0010).</summary>
public static class BucketStatus
{
    public static ResourceStatus Compute(StateStore state, BucketResource res, DateTimeOffset now)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        var s = state.Stats(res.Name, nowMs);
        // Measured RPO: the age of the oldest change seen at the source and not yet durable on the target.
        var rpo = s.OldestPendingSeenAtMs is { } oldest ? Math.Max(0, nowMs - oldest) / 1000.0 : 0;
        return new ResourceStatus(res.Name, s.Backlog, s.LastKey,
            s.LastDurableAtMs is { } d ? DateTimeOffset.FromUnixTimeMilliseconds(d) : null,
            Percentiles.Of(s.LagsLastHourMs, 0.50), Percentiles.Of(s.LagsLastHourMs, 0.99), s.LagsLastHourMs.Length,
            rpo, res.Rpo.TotalSeconds, rpo <= res.Rpo.TotalSeconds, s.Failed, s.HeldDeletes,
            s.LastFullPassAtMs is { } p ? DateTimeOffset.FromUnixTimeMilliseconds(p) : null,
            Source: $"{res.Source.Store}/{res.Source.Bucket}/{res.Source.Prefix}", Target: $"{res.Target.Store}/{res.Target.Bucket}/{res.Target.Prefix}");
    }

}

public static class Percentiles
{
    public static DateTimeOffset? T(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;

    /// <summary>Nearest-rank percentile of sorted millisecond values, in seconds.</summary>
    public static double? Of(long[] sortedMs, double q)
    {
        if (sortedMs.Length == 0) return null;
        var rank = (int)Math.Ceiling(q * sortedMs.Length);
        return sortedMs[Math.Clamp(rank - 1, 0, sortedMs.Length - 1)] / 1000.0;
    }

}
