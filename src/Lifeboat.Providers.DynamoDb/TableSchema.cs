using System.Net;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>Describing and creating tables, with one-line user errors for what a user must fix (a missing table,
/// credentials refused, an endpoint that does not answer).</summary>
public static class TableSchema
{
    /// <summary>The table's description, or null when it does not exist.</summary>
    public static async Task<TableDescription?> DescribeAsync(IAmazonDynamoDB client, TableLocation loc, CancellationToken ct)
    {
        try
        {
            return (await client.DescribeTableAsync(loc.Table, ct).ConfigureAwait(false)).Table;
        }
        catch (ResourceNotFoundException)
        {
            return null;
        }
        catch (AmazonServiceException e) when (e.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized
                                                   && e.ErrorCode is not ("ThrottlingException" or "ProvisionedThroughputExceededException" or "RequestLimitExceeded"))
        {
            throw new UserErrorException($"{loc.Where}: store '{loc.Store}' refused DescribeTable on '{loc.Table}': {e.ErrorCode}: {e.Message}", e);
        }
        catch (Exception e) when (e is HttpRequestException || e.InnerException is HttpRequestException || (e is AmazonServiceException { StatusCode: 0 }))
        {
            throw new UserErrorException($"{loc.Where}: cannot reach store '{loc.Store}' to describe table '{loc.Table}': {e.Message}", e);
        }
    }

    public static string Keys(TableDescription t) => string.Join(", ", t.KeySchema.Select(k => $"{k.AttributeName} {k.KeyType}"));

    /// <summary>Key attributes with their types, e.g. <c>pk S HASH, sk N RANGE</c>: two tables hold the same items only
    /// when these agree.</summary>
    public static string KeysWithTypes(TableDescription t) => string.Join(", ", t.KeySchema.Select(k =>
        $"{k.AttributeName} {t.AttributeDefinitions.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType?.Value ?? "?"} {k.KeyType}"));

    /// <summary>Creates <paramref name="table"/> with <paramref name="template"/>'s keys, attribute definitions, GSIs,
    /// LSIs (projections) and billing mode (provisioned capacity copied), with a NEW_AND_OLD_IMAGES stream (so the copy
    /// can be replicated back after a failover), and waits until it and its indexes are ACTIVE.</summary>
    public static async Task CreateLikeAsync(IAmazonDynamoDB client, TableLocation loc, TableDescription template, TimeProvider time, ILogger log, string why, CancellationToken ct)
    {
        var provisioned = template.BillingModeSummary?.BillingMode != BillingMode.PAY_PER_REQUEST;
        ProvisionedThroughput? Throughput(ProvisionedThroughputDescription? d) => provisioned
            ? new ProvisionedThroughput(Math.Max(1, d?.ReadCapacityUnits ?? 1), Math.Max(1, d?.WriteCapacityUnits ?? 1))
            : null;
        var req = new CreateTableRequest
        {
            TableName = loc.Table,
            KeySchema = template.KeySchema.Select(k => new KeySchemaElement(k.AttributeName, k.KeyType)).ToList(),
            AttributeDefinitions = template.AttributeDefinitions.Select(a => new AttributeDefinition(a.AttributeName, a.AttributeType)).ToList(),
            BillingMode = provisioned ? BillingMode.PROVISIONED : BillingMode.PAY_PER_REQUEST,
            ProvisionedThroughput = Throughput(template.ProvisionedThroughput),
            StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = StreamViewType.NEW_AND_OLD_IMAGES },
        };
        if (template.GlobalSecondaryIndexes is { Count: > 0 } gsis)
            req.GlobalSecondaryIndexes = gsis.Select(g => new GlobalSecondaryIndex
            {
                IndexName = g.IndexName,
                KeySchema = g.KeySchema.Select(k => new KeySchemaElement(k.AttributeName, k.KeyType)).ToList(),
                Projection = CopyProjection(g.Projection),
                ProvisionedThroughput = Throughput(g.ProvisionedThroughput),
            }).ToList();
        if (template.LocalSecondaryIndexes is { Count: > 0 } lsis)
            req.LocalSecondaryIndexes = lsis.Select(l => new LocalSecondaryIndex
            {
                IndexName = l.IndexName,
                KeySchema = l.KeySchema.Select(k => new KeySchemaElement(k.AttributeName, k.KeyType)).ToList(),
                Projection = CopyProjection(l.Projection),
            }).ToList();
        log.CreatingTable(why, loc.Table, loc.Store, Keys(template), req.BillingMode.Value, req.GlobalSecondaryIndexes?.Count ?? 0, req.LocalSecondaryIndexes?.Count ?? 0);
        try { await client.CreateTableAsync(req, ct).ConfigureAwait(false); }
        catch (ResourceInUseException) { /* created meanwhile (another run): wait for it below */ }

        var deadline = time.GetUtcNow() + TimeSpan.FromMinutes(10);
        while (true)
        {
            var t = (await client.DescribeTableAsync(loc.Table, ct).ConfigureAwait(false)).Table;
            if (t.TableStatus == TableStatus.ACTIVE && (t.GlobalSecondaryIndexes ?? []).All(g => g.IndexStatus == IndexStatus.ACTIVE)) return;
            if (time.GetUtcNow() > deadline)
                throw new UserErrorException($"{loc.Where}: table '{loc.Table}' not ACTIVE 10 minutes after creation (status {t.TableStatus})");
            await Task.Delay(TimeSpan.FromSeconds(1), time, ct).ConfigureAwait(false);
        }
    }

    private static Projection CopyProjection(Projection p) => new()
    {
        ProjectionType = p.ProjectionType,
        NonKeyAttributes = p.NonKeyAttributes is { Count: > 0 } n ? [.. n] : null,
    };

    /// <summary>Reads every item of a table with <paramref name="segments"/> parallel Scan segments (consistent reads),
    /// handing each page to <paramref name="onPage"/> (called concurrently for different segments).</summary>
    public static Task ParallelScanAsync(IAmazonDynamoDB client, string table, int segments,
        Func<int, List<Dictionary<string, AttributeValue>>, CancellationToken, Task> onPage, CancellationToken ct) =>
        Parallel.ForEachAsync(Enumerable.Range(0, segments), new ParallelOptions { MaxDegreeOfParallelism = segments, CancellationToken = ct }, async (seg, token) =>
        {
            Dictionary<string, AttributeValue>? start = null;
            do
            {
                var page = await client.ScanAsync(new ScanRequest
                {
                    TableName = table, Segment = seg, TotalSegments = segments, ConsistentRead = true, ExclusiveStartKey = start,
                }, token).ConfigureAwait(false);
                await onPage(seg, page.Items ?? [], token).ConfigureAwait(false);
                start = page.LastEvaluatedKey is { Count: > 0 } l ? l : null;
            } while (start is not null);
        });

    /// <summary>BatchGetItem (consistent reads) for up to any number of keys, 100 per call, unprocessed keys retried
    /// with backoff. Returns the items found, by key string (<see cref="TableReplicator.KeyString"/>).</summary>
    public static async Task<Dictionary<string, Dictionary<string, DdbValue>>> BatchGetAsync(IAmazonDynamoDB client, string table,
        IReadOnlyList<Dictionary<string, DdbValue>> keys, IReadOnlyList<string> keyNames, TimeProvider time, CancellationToken ct)
    {
        var found = new Dictionary<string, Dictionary<string, DdbValue>>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i += 100)
        {
            var pending = keys.Skip(i).Take(100).Select(DdbSdk.ToSdk).ToList();
            for (var attempt = 0; pending.Count > 0; attempt++)
            {
                var resp = await client.BatchGetItemAsync(new BatchGetItemRequest
                {
                    RequestItems = new Dictionary<string, KeysAndAttributes> { [table] = new KeysAndAttributes { Keys = pending, ConsistentRead = true } },
                }, ct).ConfigureAwait(false);
                if (resp.Responses is { } r && r.TryGetValue(table, out var items))
                    foreach (var it in items ?? [])
                    {
                        var item = DdbSdk.FromSdk(it);
                        found[TableReplicator.KeyString(item, keyNames)] = item;
                    }
                pending = resp.UnprocessedKeys is { } u && u.TryGetValue(table, out var left) ? left?.Keys ?? [] : [];
                if (pending.Count == 0) break;
                if (attempt >= 30) throw new InvalidOperationException($"{table}: {pending.Count} keys still unprocessed after {attempt} BatchGetItem attempts");
                await Task.Delay(Backoff(attempt), time, ct).ConfigureAwait(false);
            }
        }
        return found;
    }

    /// <summary>BatchWriteItem in chunks of 25 (up to <paramref name="parallelism"/> chunks at once), retrying unprocessed
    /// items with capped exponential backoff until all are written (the SDK itself retries failed calls). Keys must be
    /// distinct: the caller keeps one write per key.</summary>
    public static async Task BatchWriteAsync(IAmazonDynamoDB client, string table, List<WriteRequest> writes, int parallelism, TimeProvider time, CancellationToken ct)
    {
        if (writes.Count == 0) return;
        var chunks = writes.Chunk(25).ToList();
        if (chunks.Count == 1 || parallelism <= 1)
        {
            foreach (var c in chunks) await WriteChunkAsync(client, table, [.. c], time, ct).ConfigureAwait(false);
            return;
        }
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct },
            async (c, t) => await WriteChunkAsync(client, table, [.. c], time, t).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private static async Task WriteChunkAsync(IAmazonDynamoDB client, string table, List<WriteRequest> pending, TimeProvider time, CancellationToken ct)
    {
        for (var attempt = 0; pending.Count > 0; attempt++)
        {
            var resp = await client.BatchWriteItemAsync(new BatchWriteItemRequest
            {
                RequestItems = new Dictionary<string, List<WriteRequest>> { [table] = pending },
            }, ct).ConfigureAwait(false);
            pending = resp.UnprocessedItems is { } u && u.TryGetValue(table, out var left) ? left ?? [] : [];
            if (pending.Count == 0) break;
            if (attempt >= 30) throw new InvalidOperationException($"{table}: {pending.Count} items still unprocessed after {attempt} BatchWriteItem attempts");
            await Task.Delay(Backoff(attempt), time, ct).ConfigureAwait(false);
        }
    }

    private static TimeSpan Backoff(int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(5000, 50 * Math.Pow(2, Math.Min(attempt, 10))) * (0.5 + Random.Shared.NextDouble() / 2));
}
