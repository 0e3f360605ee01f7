using System.Collections.Concurrent;
using Amazon.DynamoDBv2;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>
/// Compares a table resource's source and target, independently of the replicator's bookkeeping: both tables are
/// scanned at once (parallel segments, consistent reads) into a canonical hash per key (<see cref="DdbCanonical"/>:
/// numbers exact, sets as sets, without <c>exclude_attributes</c>). Keys that do not match are read again on both sides
/// (a change made during the scan is not a difference) and reported: missing (source only), different (with the
/// attributes that differ), extra (target only). A target-only key whose delete Lifeboat saw and holds by policy
/// (retain, or a delay not yet due) is reported as held, not as a difference; any other target-only key is extra —
/// under retain too, since Lifeboat never wrote it (e.g. an item written in the recovery region after a failover).
/// Lifeboat's canary item is left out.
/// </summary>
public sealed class TableVerifier(TableResource res, IAmazonDynamoDB source, IAmazonDynamoDB target, StateStore state, TimeProvider time)
{
    /// <summary>Differences re-read one by one before reporting; beyond this many, they are reported as scanned.</summary>
    public const int MaxRechecks = 2000;

    public async Task<VerifyResult> RunAsync(CancellationToken ct)
    {
        var sDesc = await TableSchema.DescribeAsync(source, res.Source, ct).ConfigureAwait(false)
                    ?? throw new UserErrorException($"{res.Source.Where}: table '{res.Source.Table}' does not exist in store '{res.Source.Store}'");
        var tDesc = await TableSchema.DescribeAsync(target, res.Target, ct).ConfigureAwait(false)
                    ?? throw new UserErrorException($"{res.Target.Where}: table '{res.Target.Table}' does not exist in store '{res.Target.Store}' (replicate first)");
        if (TableSchema.KeysWithTypes(sDesc) != TableSchema.KeysWithTypes(tDesc))
            throw new UserErrorException($"{res.Target.Where}: table '{res.Target.Table}' has other keys than '{res.Source.Table}' ({TableSchema.KeysWithTypes(tDesc)} vs {TableSchema.KeysWithTypes(sDesc)})");
        var keyNames = sDesc.KeySchema.Select(k => k.AttributeName).ToList();
        var exclude = new HashSet<string>(res.ExcludeAttributes, StringComparer.Ordinal);

        var src = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        var dst = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        Task ScanInto(IAmazonDynamoDB client, string table, ConcurrentDictionary<string, byte[]> into) =>
            TableSchema.ParallelScanAsync(client, table, Math.Max(2, res.Concurrency), (_, page, _) =>
            {
                foreach (var raw in page)
                {
                    var item = DdbSdk.FromSdk(raw);
                    if (item.ContainsKey(TableReplicator.CanarySeqAttribute)) continue;
                    into[TableReplicator.KeyString(item, keyNames)] = DdbCanonical.Hash(item, exclude);
                }
                return Task.CompletedTask;
            }, ct);
        await Task.WhenAll(ScanInto(source, res.Source.Table, src), ScanInto(target, res.Target.Table, dst)).ConfigureAwait(false);

        long equal = 0;
        var candidates = new List<string>();
        foreach (var (key, hash) in src)
        {
            if (dst.TryGetValue(key, out var other) && hash.AsSpan().SequenceEqual(other)) equal++;
            else candidates.Add(key);
        }
        candidates.AddRange(dst.Keys.Where(k => !src.ContainsKey(k)));
        var checkedCount = src.Count + dst.Keys.Count(k => !src.ContainsKey(k));
        candidates.Sort(StringComparer.Ordinal);

        var diffs = new List<Difference>();
        var held = new List<string>();
        void Extra(string key)
        {
            if (state.IsHeld(res.Name, key)) held.Add(key);
            else diffs.Add(new Difference(key, DifferenceKind.Extra, res.Deletes.Mode == DeleteMode.Propagate
                ? "on the target but not at the source (deletes: propagate)"
                : "only on the target, and not a delete Lifeboat holds (written to the target directly, e.g. during a failover?)"));
        }

        // Read the candidates again on both sides: what changed during the scan is judged on its current state.
        var recheck = candidates.Take(MaxRechecks).ToList();
        var keys = recheck.Select(k => DdbJson.ParseItem(k)).ToList();
        var sNow = TableSchema.BatchGetAsync(source, res.Source.Table, keys, keyNames, time, ct);
        var tNow = TableSchema.BatchGetAsync(target, res.Target.Table, keys, keyNames, time, ct);
        var (sItems, tItems) = (await sNow.ConfigureAwait(false), await tNow.ConfigureAwait(false));
        foreach (var key in recheck)
        {
            var inS = sItems.TryGetValue(key, out var s);
            var inT = tItems.TryGetValue(key, out var t);
            if (inS && inT)
            {
                var diff = DdbCanonical.Diff(s!, t!, exclude);
                if (diff.Length == 0) equal++;
                else diffs.Add(new Difference(key, DifferenceKind.Different, diff));
            }
            else if (inS) diffs.Add(new Difference(key, DifferenceKind.Missing, "not on the target"));
            else if (inT) Extra(key);
            else equal++; // deleted on both sides meanwhile
        }
        foreach (var key in candidates.Skip(MaxRechecks))
        {
            if (!dst.ContainsKey(key)) diffs.Add(new Difference(key, DifferenceKind.Missing, "not on the target"));
            else if (!src.ContainsKey(key)) Extra(key);
            else diffs.Add(new Difference(key, DifferenceKind.Different, "item differs (not re-read: too many differences)"));
        }
        return new VerifyResult(res.Name, checkedCount, equal, diffs, held);
    }
}
