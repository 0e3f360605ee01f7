using System.Diagnostics;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Lifeboat.Providers.DynamoDb;
using Microsoft.Data.Sqlite;

// DynamoDB benchmark driver. Endpoint LIFEBOAT_DDB_ENDPOINT (default http://127.0.0.1:18000); any credentials.
// Tables have one key, pk (S); items are pk, data (~SIZE bytes), written_at (Unix ms when the writer sent it).
//   create   TABLE [nostream]                  create the table (on demand, stream NEW_AND_OLD_IMAGES unless nostream)
//   load     TABLE COUNT SIZE PARALLEL [PFX]   the plain loader: COUNT items with BatchWriteItem (25 per call, PARALLEL
//                                              calls at once, unprocessed items retried); prints seconds and items/s
//   steady   TABLE RATE SECONDS PFX [ACKS]     PutItem at a steady RATE per second for SECONDS (keys PFX000000...);
//                                              ACKS: a file to which each item's key and acknowledgement time are written
//   lag      STATE TABLE PFX [ACKS]            per item with the prefix: journal durable_at - written_at (end to end,
//                                              from when the writer sent it), durable_at - acknowledged (from when the
//                                              source write returned, with ACKS), and durable_at - seen_at (as status)
//   catchup  STATE TABLE PFX SINCE_MS          waits until every item with the prefix written before SINCE_MS is
//                                              durable (journal); prints how many, how long after SINCE_MS, and the rate
//   scan     TABLE SEGMENTS                    a parallel Scan alone (what share of a sync is reading)
//   count    TABLE                             item count (DescribeTable)
//   delete   TABLE...                          delete tables
var endpoint = Environment.GetEnvironmentVariable("LIFEBOAT_DDB_ENDPOINT") ?? "http://127.0.0.1:18000";
using var ddb = new AmazonDynamoDBClient(new BasicAWSCredentials("bench", "bench"),
    new AmazonDynamoDBConfig { ServiceURL = endpoint, AuthenticationRegion = "us-east-1", MaxErrorRetry = 10 });
var inv = CultureInfo.InvariantCulture;
static long NowMs() => TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
Dictionary<string, AttributeValue> Item(string key, int size) => new()
{
    ["pk"] = new AttributeValue { S = key },
    ["data"] = new AttributeValue { S = new string('d', size) },
    ["written_at"] = new AttributeValue { N = NowMs().ToString(inv) },
};
static double P(List<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];

async Task<List<(string Key, long WrittenAt)>> ScanPrefixAsync(string table, string prefix)
{
    var list = new List<(string, long)>();
    Dictionary<string, AttributeValue>? start = null;
    do
    {
        var page = await ddb.ScanAsync(new ScanRequest
        {
            TableName = table, ExclusiveStartKey = start, ConsistentRead = true,
            FilterExpression = "begins_with(pk, :p)", ExpressionAttributeValues = new() { [":p"] = new AttributeValue { S = prefix } },
            ProjectionExpression = "pk, written_at",
        });
        foreach (var i in page.Items ?? []) list.Add((i["pk"].S, long.Parse(i["written_at"].N, inv)));
        start = page.LastEvaluatedKey is { Count: > 0 } l ? l : null;
    } while (start is not null);
    return list;
}

// Journal rows of resource 'bench' by key string: (seen_at, durable_at) of the first durable change.
Dictionary<string, (long Seen, long Durable)> Journal(string state)
{
    var d = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
    using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = state, Mode = SqliteOpenMode.ReadOnly }.ToString());
    db.Open();
    using var c = db.CreateCommand();
    c.CommandText = "SELECT key, seen_at, durable_at FROM journal WHERE resource='bench' AND status='done' ORDER BY id";
    using var r = c.ExecuteReader();
    while (r.Read()) d.TryAdd(r.GetString(0), (r.GetInt64(1), r.GetInt64(2)));
    return d;
}
static string KeyString(string pk) => TableReplicator.KeyString(new Dictionary<string, DdbValue> { ["pk"] = DdbValue.S(pk) }, ["pk"]);

switch (args[0])
{
    case "create":
        await ddb.CreateTableAsync(new CreateTableRequest
        {
            TableName = args[1], BillingMode = BillingMode.PAY_PER_REQUEST,
            KeySchema = [new("pk", KeyType.HASH)], AttributeDefinitions = [new("pk", ScalarAttributeType.S)],
            StreamSpecification = args.Length > 2 && args[2] == "nostream" ? null
                : new StreamSpecification { StreamEnabled = true, StreamViewType = StreamViewType.NEW_AND_OLD_IMAGES },
        });
        Console.WriteLine($"created {args[1]}");
        break;
    case "load":
    {
        var (table, count, size, parallel, prefix) = (args[1], int.Parse(args[2], inv), int.Parse(args[3], inv), int.Parse(args[4], inv), args.Length > 5 ? args[5] : "item-");
        var sw = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, (count + 24) / 25), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (b, ct) =>
        {
            var pending = Enumerable.Range(b * 25, Math.Min(25, count - b * 25))
                .Select(i => new WriteRequest { PutRequest = new PutRequest { Item = Item($"{prefix}{i:000000}", size) } }).ToList();
            for (var attempt = 0; pending.Count > 0; attempt++)
            {
                var resp = await ddb.BatchWriteItemAsync(new BatchWriteItemRequest { RequestItems = new() { [table] = pending } }, ct);
                pending = resp.UnprocessedItems is { } u && u.TryGetValue(table, out var left) ? left ?? [] : [];
                if (pending.Count > 0) await Task.Delay(50 * (attempt + 1), ct);
            }
        });
        Console.WriteLine($"loaded {count} items of {size} B into {table} in {sw.Elapsed.TotalSeconds.ToString("0.00", inv)} s ({(count / sw.Elapsed.TotalSeconds).ToString("0", inv)} items/s)");
        break;
    }
    case "steady":
    {
        var (table, rate, seconds, prefix) = (args[1], int.Parse(args[2], inv), int.Parse(args[3], inv), args[4]);
        var acks = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var total = rate * seconds;
        var sw = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(64);
        var tasks = new List<Task>();
        long late = 0;
        for (var i = 0; i < total; i++)
        {
            var wait = TimeSpan.FromSeconds((double)i / rate) - sw.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            else if (wait < TimeSpan.FromMilliseconds(-100)) late++;
            await gate.WaitAsync();
            var key = $"{prefix}{i:000000}";
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await ddb.PutItemAsync(new PutItemRequest { TableName = table, Item = Item(key, 1000) });
                    acks.Enqueue($"{key}\t{NowMs().ToString(inv)}");
                }
                finally { gate.Release(); }
            }));
        }
        await Task.WhenAll(tasks);
        if (args.Length > 5) await File.WriteAllLinesAsync(args[5], acks);
        Console.WriteLine($"put {total} items in {sw.Elapsed.TotalSeconds.ToString("0.0", inv)} s ({(total / sw.Elapsed.TotalSeconds).ToString("0.0", inv)}/s; {late} sent >100 ms late)");
        break;
    }
    case "lag":
    {
        var (state, table, prefix) = (args[1], args[2], args[3]);
        var items = await ScanPrefixAsync(table, prefix);
        var journal = Journal(state);
        var acked = args.Length > 4 ? File.ReadLines(args[4]).Select(l => l.Split('\t')).ToDictionary(p => p[0], p => long.Parse(p[1], inv)) : [];
        var fromAck = new List<double>();
        var e2e = new List<double>();
        var seen = new List<double>();
        var missing = 0;
        foreach (var (key, at) in items)
        {
            if (!journal.TryGetValue(KeyString(key), out var j)) { missing++; continue; }
            e2e.Add((j.Durable - at) / 1000.0);
            seen.Add((j.Durable - j.Seen) / 1000.0);
            if (acked.TryGetValue(key, out var ack)) fromAck.Add(Math.Max(0, j.Durable - ack) / 1000.0);
        }
        e2e.Sort();
        seen.Sort();
        fromAck.Sort();
        Console.WriteLine($"items {items.Count}, durable {e2e.Count}, missing {missing}; end-to-end lag (target durable - written) p50 {P(e2e, .5).ToString("0.000", inv)} s, " +
                          $"p99 {P(e2e, .99).ToString("0.000", inv)} s, max {P(e2e, 1).ToString("0.000", inv)} s; " +
                          (fromAck.Count > 0 ? $"from the source write's acknowledgement p50 {P(fromAck, .5).ToString("0.000", inv)} s, p99 {P(fromAck, .99).ToString("0.000", inv)} s, max {P(fromAck, 1).ToString("0.000", inv)} s; " : "") +
                          $"journal lag (durable - seen, as status) p50 {P(seen, .5).ToString("0.000", inv)} s, p99 {P(seen, .99).ToString("0.000", inv)} s");
        break;
    }
    case "catchup":
    {
        var (state, table, prefix, since) = (args[1], args[2], args[3], long.Parse(args[4], inv));
        var before = (await ScanPrefixAsync(table, prefix)).Where(i => i.WrittenAt < since).Select(i => KeyString(i.Key)).ToList();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var journal = Journal(state);
            var done = before.Where(journal.ContainsKey).ToList();
            if (done.Count == before.Count)
            {
                var last = done.Max(k => journal[k].Durable);
                var secs = (last - since) / 1000.0;
                Console.WriteLine($"backlog {before.Count} items written while stopped: all durable {secs.ToString("0.0", inv)} s after the restart ({(before.Count / secs).ToString("0", inv)} items/s)");
                break;
            }
            if (sw.Elapsed > TimeSpan.FromMinutes(30)) { Console.WriteLine($"gave up: {done.Count} of {before.Count} durable"); return 1; }
            await Task.Delay(500);
        }
        break;
    }
    case "scan":
    {
        // Reading alone: a parallel Scan of the whole table (consistent reads), to see what share of a sync is reading.
        var (table, segments) = (args[1], int.Parse(args[2], inv));
        var sw = Stopwatch.StartNew();
        long n = 0;
        await TableSchema.ParallelScanAsync(ddb, table, segments, (_, page, _) => { Interlocked.Add(ref n, page.Count); return Task.CompletedTask; }, CancellationToken.None);
        Console.WriteLine($"scanned {n} items with {segments} segments in {sw.Elapsed.TotalSeconds.ToString("0.00", inv)} s ({(n / sw.Elapsed.TotalSeconds).ToString("0", inv)} items/s)");
        break;
    }
    case "count":
        Console.WriteLine((await ddb.DescribeTableAsync(args[1])).Table.ItemCount);
        break;
    case "delete":
        foreach (var t in args.Skip(1))
            try { await ddb.DeleteTableAsync(t); } catch (ResourceNotFoundException) { }
        break;
    default:
        Console.Error.WriteLine("usage: create|load|steady|lag|catchup|count|delete ...");
        return 2;
}
return 0;
