using System.Globalization;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Core.Status;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>The figures of a table resource, computed from its journal, stream checkpoint and canaries (ADR 0010).</summary>
public static class TableResourceStatus
{
    /// <summary>
    /// A table resource (or its failback direction, <paramref name="stateName"/> NAME.reverse). Lag = durable_at − seen_at
    /// of the journal (seen_at: see <see cref="TableReplicator.SeenAtMs"/>). Measured RPO = the longest of: the age of
    /// the oldest change seen and not yet durable; the time since the stream was last read to its end (changes made
    /// since may not be on the target: while no replicator runs, this grows, as the exposure does); the age of the
    /// oldest canary written and not yet arrived. Unknown (not met, and no evidence for an alarm, which holds its state)
    /// until the stream was read to its end once.
    /// </summary>
    public static ResourceStatus Compute(StateStore state, TableResource res, string stateName, DateTimeOffset now)
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
            Percentiles.T(c2.LastWrittenAtMs), Percentiles.T(c2.LastArrivedAtMs), c2.LastLagMs / 1000.0,
            Percentiles.Of(c2.LagsLastHourMs, 0.50), Percentiles.Of(c2.LagsLastHourMs, 0.99), c2.LagsLastHourMs.Length, c2.Open,
            c2.OldestOpenWrittenAtMs is { } o ? Math.Max(0, nowMs - o) / 1000.0 : null);
        var reverse = stateName.EndsWith(TableReplicator.ReverseSuffix, StringComparison.Ordinal);
        var (from, to) = reverse ? (res.Target, res.Source) : (res.Source, res.Target);
        return new ResourceStatus(stateName, s.Backlog, s.LastKey, Percentiles.T(s.LastDurableAtMs),
            Percentiles.Of(s.LagsLastHourMs, 0.50), Percentiles.Of(s.LagsLastHourMs, 0.99), s.LagsLastHourMs.Length,
            rpo, res.Rpo.TotalSeconds, known && rpo <= res.Rpo.TotalSeconds, s.Failed, s.HeldDeletes, Percentiles.T(s.LastFullPassAtMs),
            Type: reverse ? "table-reverse" : "table", Source: $"{from.Store}/{from.Table}", Target: $"{to.Store}/{to.Table}",
            StreamReadToEndAt: Percentiles.T(caughtUp), RpoKnown: known, Canary: canary);
    }


    /// <summary>The rows <c>status</c> shows: the table, and its failback direction once that has run.</summary>
    public static IEnumerable<ResourceStatus> Rows(StateStore state, TableResource res, DateTimeOffset now)
    {
        yield return Compute(state, res, res.Name, now);
        var rev = res.Name + TableReplicator.ReverseSuffix;
        if (state.GetCheckpoint(rev, TableReplicator.CaughtUpCheckpoint) is not null || state.GetCheckpoint(rev, "table:stream-arn") is not null)
            yield return Compute(state, res, rev, now);
    }
}
