using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Core.Status;

namespace Lifeboat.Providers.Aws.Rds;

/// <summary>The status of an rds resource, read from the state store (ADR 0010): the recovery point is the newest
/// snapshot copied to the target region.</summary>
public static class RdsStatusReader
{
    public static RdsStatus Read(StateStore state, RdsResource r, DateTimeOffset now)
    {
        var cycle = RdsSnapshotRunner.LoadCycle(state, r.Name);
        var last = RdsSnapshotRunner.LoadLast(state, r.Name);
        var err = RdsSnapshotRunner.LoadError(state, r.Name);
        static DateTimeOffset? T(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;
        return new RdsStatus(r.Instance, r.SourceRegion, r.TargetRegion, r.Schedule.Expression, r.Keep,
            cycle?.SnapshotId, cycle?.Phase, cycle?.Waiting,
            last?.SnapshotId, T(last?.CreatedAtMs), T(last?.CopiedAtMs), T(last?.FinishedAtMs),
            r.Schedule.Next(RdsSnapshotRunner.LoadLastTick(state, r.Name) ?? now), err?.Message, T(err?.AtMs));
    }

    /// <summary>The row <c>status</c> shows (backlog = a cycle in flight; failed = the last cycle failed).</summary>
    public static ResourceStatus Row(StateStore state, RdsResource r, DateTimeOffset now)
    {
        var st = Read(state, r, now);
        var age = st.LastCreatedAt is { } c ? (now - c).TotalSeconds : 0;
        return new ResourceStatus(r.Name, st.InFlight is null ? 0 : 1, st.LastSnapshot, st.LastCopiedAt, null, null, 0,
            age, 0, st.LastError is null && st.LastCreatedAt is not null, st.LastError is null ? 0 : 1, 0, st.LastFinishedAt,
            Type: "rds", Source: $"{r.SourceRegion}/{r.Instance}", Target: r.TargetRegion, RpoKnown: st.LastCreatedAt is not null, Rds: st);
    }
}
