using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.DynamoDb;

public sealed record TableRestoreResult(long Scanned, long Restored, long Overwritten, long Equal, long Differing, bool Created);

/// <summary>
/// Copies items from a table resource's replica (its target) back to its source, or to another table. Never deletes.
/// By default only items missing at the destination are written, so an item changed after the incident is never
/// replaced by the older replica; with <c>overwrite</c>, differing items are replaced too, keeping the destination's
/// values of <c>exclude_attributes</c> (the replica never had them). A destination table that does not exist is
/// created with the source's keys, indexes and billing mode (the replica's when the source is gone) and a stream.
/// </summary>
public sealed class TableRestorer(TableResource res, IAmazonDynamoDB replica, IAmazonDynamoDB source, IAmazonDynamoDB destination,
    TableLocation to, TimeProvider time, ILogger log)
{
    public async Task<TableRestoreResult> RunAsync(bool overwrite, CancellationToken ct)
    {
        var rDesc = await TableSchema.DescribeAsync(replica, res.Target, ct).ConfigureAwait(false)
                    ?? throw new UserErrorException($"{res.Target.Where}: replica table '{res.Target.Table}' does not exist in store '{res.Target.Store}': nothing to restore from");
        var dDesc = await TableSchema.DescribeAsync(destination, to, ct).ConfigureAwait(false);
        var created = false;
        if (dDesc is null)
        {
            var template = await TableSchema.DescribeAsync(source, res.Source, ct).ConfigureAwait(false) ?? rDesc;
            await TableSchema.CreateLikeAsync(destination, to, template, time, log, res.Name + " restore", ct).ConfigureAwait(false);
            created = true;
        }
        else if (TableSchema.KeysWithTypes(dDesc) != TableSchema.KeysWithTypes(rDesc))
        {
            throw new UserErrorException($"{to.Where}: table '{to.Table}' has other keys than the replica '{res.Target.Table}' ({TableSchema.KeysWithTypes(dDesc)} vs {TableSchema.KeysWithTypes(rDesc)})");
        }
        var keyNames = rDesc.KeySchema.Select(k => k.AttributeName).ToList();
        var exclude = new HashSet<string>(res.ExcludeAttributes, StringComparer.Ordinal);

        long scanned = 0, restored = 0, overwritten = 0, equal = 0, differing = 0;
        await TableSchema.ParallelScanAsync(replica, res.Target.Table, res.Concurrency, async (_, page, token) =>
        {
            var items = page.Select(DdbSdk.FromSdk).Where(i => !i.ContainsKey(TableReplicator.CanarySeqAttribute)).ToList();
            Interlocked.Add(ref scanned, items.Count);
            var present = await TableSchema.BatchGetAsync(destination, to.Table, items.Select(i => TableReplicator.KeyOf(i, keyNames)).ToList(), keyNames, time, token).ConfigureAwait(false);
            var writes = new List<WriteRequest>();
            foreach (var item in items)
            {
                if (!present.TryGetValue(TableReplicator.KeyString(item, keyNames), out var now))
                {
                    writes.Add(new WriteRequest { PutRequest = new PutRequest { Item = DdbSdk.ToSdk(item) } });
                    Interlocked.Increment(ref restored);
                    continue;
                }
                if (DdbCanonical.Hash(item, exclude).AsSpan().SequenceEqual(DdbCanonical.Hash(now, exclude)))
                {
                    Interlocked.Increment(ref equal);
                    continue;
                }
                if (!overwrite)
                {
                    Interlocked.Increment(ref differing);
                    continue;
                }
                var merged = new Dictionary<string, DdbValue>(item, StringComparer.Ordinal);
                foreach (var a in exclude)
                    if (now.TryGetValue(a, out var kept)) merged[a] = kept;
                writes.Add(new WriteRequest { PutRequest = new PutRequest { Item = DdbSdk.ToSdk(merged) } });
                Interlocked.Increment(ref overwritten);
            }
            await TableSchema.BatchWriteAsync(destination, to.Table, writes, 8, time, token).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        return new TableRestoreResult(scanned, restored, overwritten, equal, differing, created);
    }
}
