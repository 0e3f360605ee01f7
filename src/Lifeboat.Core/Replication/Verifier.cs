using System.Collections.Concurrent;
using System.Security.Cryptography;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;

namespace Lifeboat.Core.Replication;

public enum DifferenceKind { Missing, Size, Content, Metadata, Extra, Different }

public sealed record Difference(string Key, DifferenceKind Kind, string Detail);

/// <param name="SkippedAtSource">Entries the source's listing passed over because they are not objects (a folder's
/// links, FIFOs, sockets, devices): not copied, by design; reported, not counted as differences.</param>
/// <param name="SkippedAtTarget">The same on the target (a link there is never followed: keys under it show as missing).</param>
public sealed record VerifyResult(string Resource, long Checked, long Equal, IReadOnlyList<Difference> Differences, IReadOnlyList<string> Held,
    IReadOnlyList<SkippedEntry>? SkippedAtSource = null, IReadOnlyList<SkippedEntry>? SkippedAtTarget = null)
{
    public bool Ok => Differences.Count == 0;
}

/// <summary>
/// Compares a resource's source and target independently of the replicator's own bookkeeping for metadata:
/// every common key is HEADed on both sides. Content is equal when the ETags are the same checksum, or when the
/// state store recorded this exact source/target ETag pair at a verified copy; otherwise both sides are read and
/// hashed. Target-only keys are differences under <c>deletes: propagate</c> and "held" under the other policies.
/// Entries a folder store's listing passes over (links, FIFOs, sockets, devices) are reported apart.
/// </summary>
public sealed class Verifier(BucketResource res, IObjectStore source, IObjectStore target, StateStore state)
{
    public async Task<VerifyResult> RunAsync(CancellationToken ct)
    {
        var diffs = new ConcurrentBag<Difference>();
        var held = new ConcurrentBag<string>();
        long checkedCount = 0, equal = 0;
        var items = PairedListing.MergeAsync(source, res.Source, target, res.Target, null, ct);
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = res.Concurrency, CancellationToken = ct }, async (item, t) =>
        {
            Interlocked.Increment(ref checkedCount);
            var sourceKey = res.Source.Prefix + item.Rel;
            switch (item.Side)
            {
                case Side.SourceOnly:
                    diffs.Add(new Difference(sourceKey, DifferenceKind.Missing, "not on the target"));
                    return;
                case Side.TargetOnly:
                    if (res.Deletes.Mode == DeleteMode.Propagate)
                        diffs.Add(new Difference(sourceKey, DifferenceKind.Extra, "on the target but no longer at the source (deletes: propagate)"));
                    else held.Add(sourceKey);
                    return;
            }
            var targetKey = res.Target.Prefix + item.Rel;
            var sh = source.HeadAsync(res.Source.Bucket, sourceKey, t);
            var th = target.HeadAsync(res.Target.Bucket, targetKey, t);
            var (s, g) = (await sh.ConfigureAwait(false), await th.ConfigureAwait(false));
            if (s is null || g is null)
            {
                diffs.Add(new Difference(sourceKey, s is null ? DifferenceKind.Extra : DifferenceKind.Missing, "changed during verification"));
                return;
            }
            if (s.Info.Size != g.Info.Size)
            {
                diffs.Add(new Difference(sourceKey, DifferenceKind.Size, $"{s.Info.Size} bytes at the source, {g.Info.Size} on the target"));
                return;
            }
            if (!await SameContentAsync(sourceKey, targetKey, s.Info, g.Info, t).ConfigureAwait(false))
            {
                diffs.Add(new Difference(sourceKey, DifferenceKind.Content, $"checksums differ (source {s.Info.ETag}, target {g.Info.ETag})"));
                return;
            }
            var md = s.Metadata.DifferencesFrom(g.Metadata);
            if (md.Count > 0)
            {
                diffs.Add(new Difference(sourceKey, DifferenceKind.Metadata, string.Join("; ", md)));
                return;
            }
            Interlocked.Increment(ref equal);
        }).ConfigureAwait(false);
        var sorted = diffs.OrderBy(d => d.Key, KeyComparer.Instance).ToList();
        var heldSorted = held.OrderBy(k => k, KeyComparer.Instance).ToList();
        // Both listings ran to their end: what they passed over is what the stores recorded for them.
        var skippedSource = (source as ISkippedEntries)?.LastSkipped(res.Source.Bucket, res.Source.Prefix) ?? [];
        var skippedTarget = (target as ISkippedEntries)?.LastSkipped(res.Target.Bucket, res.Target.Prefix) ?? [];
        return new VerifyResult(res.Name, checkedCount, equal, sorted, heldSorted, skippedSource, skippedTarget);
    }

    private async Task<bool> SameContentAsync(string sourceKey, string targetKey, ObjectInfo s, ObjectInfo g, CancellationToken ct)
    {
        var weak = s.ETag.StartsWith("W/", StringComparison.Ordinal) || g.ETag.StartsWith("W/", StringComparison.Ordinal);
        if (!weak && s.ETag == g.ETag) return true;
        var rec = state.GetReplicated(res.Name, sourceKey);
        if (rec is not null && rec.SourceETag == s.ETag && rec.TargetETag == g.ETag && rec.SourceSize == s.Size) return true;
        // Not decidable from checksums: read both sides.
        return await Md5Async(source, res.Source.Bucket, sourceKey, ct).ConfigureAwait(false) ==
               await Md5Async(target, res.Target.Bucket, targetKey, ct).ConfigureAwait(false);
    }

    private static async Task<string?> Md5Async(IObjectStore store, string bucket, string key, CancellationToken ct)
    {
        await using var r = await store.GetAsync(bucket, key, ct).ConfigureAwait(false);
        if (r is null) return null;
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var buf = new byte[1 << 16];
        int n;
        while ((n = await r.Content.ReadAsync(buf, ct).ConfigureAwait(false)) > 0) md5.AppendData(buf, 0, n);
        return Convert.ToHexStringLower(md5.GetHashAndReset());
    }
}
