using System.Globalization;

namespace Lifeboat.Core.Config;

/// <summary><c>lock:</c> of a history: S3 Object Lock mode written on every kept version (ADR 0011).</summary>
public enum HistoryLock { None, Governance, Compliance }

/// <summary>
/// <c>history: { keep: 30d, lock: compliance, store: vault, bucket: b, prefix: p/, snapshot_every: 24h }</c> on a
/// bucket or table resource (ADR 0011, issue 16): every replaced or deleted version (bucket), every stream change and a
/// periodic snapshot (table) is kept in an object store for <see cref="Keep"/>. <see cref="Place"/>: where the history
/// objects go (null for a bucket = the replica's own reserved prefix, <c>PREFIX.lifeboat/history/</c>; required for a
/// table). <see cref="Lock"/> needs a separate history bucket created with Object Lock.
/// <see cref="SnapshotEvery"/>: tables only, how often a full snapshot is taken (default 24h).
/// </summary>
public sealed record HistoryConfig(TimeSpan Keep, HistoryLock Lock, Location? Place, TimeSpan? SnapshotEvery, ConfigLocation Where)
{
    public static TimeSpan DefaultSnapshotEvery { get; } = TimeSpan.FromHours(24);

    /// <summary>Where a bucket resource's history objects go: <see cref="Place"/>, else <c>PREFIX.lifeboat/history/</c>
    /// in the replica bucket.</summary>
    public Location For(BucketResource r) =>
        Place ?? new Location(r.Target.Store, r.Target.Bucket, r.Target.Prefix + Replication.TargetClaim.Reserved + "history/", Where);

    public string LockName => Lock.ToString().ToLowerInvariant();
}

/// <summary>The <c>--time T</c> of restores and history listings: RFC 3339 (<c>2026-12-03T07:03:17Z</c>; fractions and
/// offsets allowed; a time without an offset is UTC). A time after <paramref name="now"/> is refused: nothing is known
/// about it.</summary>
public static class PointInTime
{
    public static DateTimeOffset Parse(string text, DateTimeOffset now, string option = "--time")
    {
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
            throw new UserErrorException($"{option}: '{text}' is not a time (RFC 3339, e.g. 2026-12-03T07:03:17Z)");
        if (t > now)
            throw new UserErrorException($"{option}: {Format(t)} is in the future (now: {Format(now)})");
        return t;
    }

    /// <summary>UTC, milliseconds when there are any: how times are printed in restore and history output.</summary>
    public static string Format(DateTimeOffset t) =>
        t.ToUniversalTime().ToString(t.Millisecond == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
