using System.Globalization;
using Amazon;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.DynamoDb;

public sealed record TableSyncResult(long Scanned, long Written, bool Completed);

public sealed record TailResult(int Records, int Keys, int ShardsRead, int ShardsFinished, bool CaughtUp);

/// <summary>
/// Replicates one <c>type: table</c> resource: an initial sync (parallel Scan segments → BatchWriteItem, resumable
/// per segment) and then the source table's stream, shard by shard in lineage order (a child only after its parent is
/// finished), with a checkpoint per shard in the state store.
/// Invariants (shared/design/CORRECTNESS.md, DynamoDB Streams):
/// - the stream is read from TRIM_HORIZON of the shards that exist when the sync starts, so every change made while the
///   scan runs is applied after it (re-applying older records is harmless: per key the last record wins);
/// - a checkpoint names only records whose effect is durable on the target (BatchWriteItem answered, unprocessed items
///   retried);
/// - within a GetRecords batch only each key's last change is written (the final state), and a key's changes are
///   never reordered: one shard is applied batch after batch, children after parents;
/// - a gap (TrimmedDataAccessException, a checkpointed shard gone, a new stream ARN) is never skipped: it triggers a
///   full re-sync.
/// Deletes follow the policy: propagate deletes at once; retain keeps the replica (with its last state); a delay holds
/// the delete in the state store and applies it when due, only if the key is still absent at the source.
/// </summary>
public sealed class TableReplicator : IDisposable
{
    private const int BatchWriteMax = 25;
    private const string SyncCheckpoint = "table:sync";
    private const string StreamCheckpoint = "table:stream-arn";
    private const string ScanPrefix = "table:scan:";
    private const string ShardPrefix = "table:shard:";
    private const string Done = "done";

    private readonly TableResource _res;
    private readonly IAmazonDynamoDB _source;
    private readonly IAmazonDynamoDB _target;
    private readonly StreamsClient _streams;
    private readonly StateStore _state;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly bool _ownsClients;
    private readonly HashSet<string> _exclude;
    private List<string>? _keyNames;
    private readonly Dictionary<string, ShardReader> _readers = new(StringComparer.Ordinal);

    public TableReplicator(TableResource res, IAmazonDynamoDB source, IAmazonDynamoDB target, StreamsClient streams,
        StateStore state, TimeProvider time, ILogger log, bool ownsClients = false)
    {
        _res = res;
        _source = source;
        _target = target;
        _streams = streams;
        _state = state;
        _time = time;
        _log = log;
        _ownsClients = ownsClients;
        _exclude = new HashSet<string>(res.ExcludeAttributes, StringComparer.Ordinal);
    }

    /// <summary>The replicator for <paramref name="res"/> with clients built from its stores' configs.</summary>
    public static TableReplicator Create(LifeboatConfig cfg, TableResource res, StateStore state, TimeProvider time, ILogger log)
    {
        var src = cfg.Stores[res.Source.Store];
        var dst = cfg.Stores[res.Target.Store];
        return new TableReplicator(res, CreateClient(src), CreateClient(dst), StreamsClient.ForStore(src, time), state, time, log, ownsClients: true);
    }

    public static AmazonDynamoDBClient CreateClient(StoreConfig cfg)
    {
        var config = new AmazonDynamoDBConfig { MaxErrorRetry = 8, Timeout = TimeSpan.FromSeconds(30) };
        if (cfg.Endpoint is not null)
        {
            config.ServiceURL = cfg.Endpoint;
            config.AuthenticationRegion = cfg.Region ?? "us-east-1";
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(cfg.Region ?? "us-east-1");
        }
        var creds = Providers.S3.S3Store.ResolveCredentials(cfg);
        return creds is null ? new AmazonDynamoDBClient(config) : new AmazonDynamoDBClient(creds, config);
    }

    public TableResource Resource => _res;

    /// <summary>Records applied from the stream and items written by the sync since this instance started.</summary>
    public long RecordsApplied => Interlocked.Read(ref _recordsApplied);
    public long ItemsWritten => Interlocked.Read(ref _itemsWritten);
    private long _recordsApplied;
    private long _itemsWritten;

    private string Name => _res.Name;

    // ---------------------------------------------------------------- target table

    /// <summary>Checks both tables; creates the target (same keys, attribute definitions, indexes and billing mode as
    /// the source) when it is absent and create_target is set. Returns the source's description.</summary>
    public async Task<TableDescription> PrepareAsync(CancellationToken ct)
    {
        TableDescription source;
        try { source = (await _source.DescribeTableAsync(_res.Source.Table, ct).ConfigureAwait(false)).Table; }
        catch (ResourceNotFoundException)
        {
            throw new UserErrorException($"{_res.Source.Where}: source table '{_res.Source.Table}' does not exist in store '{_res.Source.Store}'");
        }
        if (source.StreamSpecification?.StreamEnabled != true || source.LatestStreamArn is null)
            throw new UserErrorException($"{_res.Source.Where}: table '{_res.Source.Table}' has no stream: enable DynamoDB Streams with NEW_IMAGE or NEW_AND_OLD_IMAGES");
        if (source.StreamSpecification.StreamViewType == StreamViewType.KEYS_ONLY || source.StreamSpecification.StreamViewType == StreamViewType.OLD_IMAGE)
            throw new UserErrorException($"{_res.Source.Where}: the stream of '{_res.Source.Table}' is {source.StreamSpecification.StreamViewType}: replication needs NEW_IMAGE or NEW_AND_OLD_IMAGES");
        _keyNames = source.KeySchema.Select(k => k.AttributeName).ToList();
        foreach (var k in _keyNames.Where(_exclude.Contains))
            throw new UserErrorException($"{_res.Where}.exclude_attributes: '{k}' is a key attribute of '{_res.Source.Table}' and cannot be excluded");

        try
        {
            var target = (await _target.DescribeTableAsync(_res.Target.Table, ct).ConfigureAwait(false)).Table;
            var targetKeys = target.KeySchema.Select(k => (k.AttributeName, k.KeyType.Value));
            if (!targetKeys.SequenceEqual(source.KeySchema.Select(k => (k.AttributeName, k.KeyType.Value))))
                throw new UserErrorException($"{_res.Target.Where}: target table '{_res.Target.Table}' has other keys than the source ({Keys(target)} vs {Keys(source)})");
        }
        catch (ResourceNotFoundException)
        {
            if (!_res.CreateTarget)
                throw new UserErrorException($"{_res.Target.Where}: target table '{_res.Target.Table}' does not exist in store '{_res.Target.Store}' (set create_target: true to create it)");
            await CreateTargetAsync(source, ct).ConfigureAwait(false);
        }
        return source;
    }

    private static string Keys(TableDescription t) => string.Join(", ", t.KeySchema.Select(k => $"{k.AttributeName} {k.KeyType}"));

    private async Task CreateTargetAsync(TableDescription source, CancellationToken ct)
    {
        var provisioned = source.BillingModeSummary?.BillingMode != BillingMode.PAY_PER_REQUEST;
        ProvisionedThroughput? Throughput(ProvisionedThroughputDescription? d) => provisioned
            ? new ProvisionedThroughput(Math.Max(1, d?.ReadCapacityUnits ?? 1), Math.Max(1, d?.WriteCapacityUnits ?? 1))
            : null;
        var req = new CreateTableRequest
        {
            TableName = _res.Target.Table,
            KeySchema = source.KeySchema.Select(k => new KeySchemaElement(k.AttributeName, k.KeyType)).ToList(),
            AttributeDefinitions = source.AttributeDefinitions.Select(a => new AttributeDefinition(a.AttributeName, a.AttributeType)).ToList(),
            BillingMode = provisioned ? BillingMode.PROVISIONED : BillingMode.PAY_PER_REQUEST,
            ProvisionedThroughput = Throughput(source.ProvisionedThroughput),
        };
        if (source.GlobalSecondaryIndexes is { Count: > 0 } gsis)
            req.GlobalSecondaryIndexes = gsis.Select(g => new GlobalSecondaryIndex
            {
                IndexName = g.IndexName,
                KeySchema = g.KeySchema.Select(k => new KeySchemaElement(k.AttributeName, k.KeyType)).ToList(),
                Projection = CopyProjection(g.Projection),
                ProvisionedThroughput = Throughput(g.ProvisionedThroughput),
            }).ToList();
        if (source.LocalSecondaryIndexes is { Count: > 0 } lsis)
            req.LocalSecondaryIndexes = lsis.Select(l => new LocalSecondaryIndex
            {
                IndexName = l.IndexName,
                KeySchema = l.KeySchema.Select(k => new KeySchemaElement(k.AttributeName, k.KeyType)).ToList(),
                Projection = CopyProjection(l.Projection),
            }).ToList();
        _log.LogInformation("{Resource}: creating target table {Table} ({Keys}; {Billing}; {Gsi} global and {Lsi} local indexes)",
            Name, _res.Target.Table, Keys(source), req.BillingMode.Value, req.GlobalSecondaryIndexes?.Count ?? 0, req.LocalSecondaryIndexes?.Count ?? 0);
        try { await _target.CreateTableAsync(req, ct).ConfigureAwait(false); }
        catch (ResourceInUseException) { /* created meanwhile (another run): wait for it below */ }

        var deadline = _time.GetUtcNow() + TimeSpan.FromMinutes(10);
        while (true)
        {
            var t = (await _target.DescribeTableAsync(_res.Target.Table, ct).ConfigureAwait(false)).Table;
            if (t.TableStatus == TableStatus.ACTIVE && (t.GlobalSecondaryIndexes ?? []).All(g => g.IndexStatus == IndexStatus.ACTIVE)) return;
            if (_time.GetUtcNow() > deadline)
                throw new UserErrorException($"{_res.Target.Where}: target table '{_res.Target.Table}' not ACTIVE 10 minutes after creation (status {t.TableStatus})");
            await Task.Delay(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
        }
    }

    private static Projection CopyProjection(Projection p) => new()
    {
        ProjectionType = p.ProjectionType,
        NonKeyAttributes = p.NonKeyAttributes is { Count: > 0 } n ? [.. n] : null,
    };

    // ---------------------------------------------------------------- initial sync

    /// <summary>Copies every item of the source with <see cref="TableResource.Concurrency"/> parallel Scan segments.
    /// Each segment checkpoints its LastEvaluatedKey after the page's items are durable, so a crash resumes there.
    /// Before the first page, the stream's current ARN is recorded and every shard's checkpoint cleared, so the tail
    /// starts at TRIM_HORIZON of all shards: changes made during the scan are applied after it.</summary>
    public async Task<TableSyncResult> InitialSyncAsync(CancellationToken ct)
    {
        var source = await PrepareAsync(ct).ConfigureAwait(false);
        if (_state.GetCheckpoint(Name, SyncCheckpoint) == Done && _state.GetCheckpoint(Name, StreamCheckpoint) == source.LatestStreamArn)
            return new TableSyncResult(0, 0, true);

        if (_state.GetCheckpoint(Name, StreamCheckpoint) != source.LatestStreamArn)
        {
            // A first run or a new stream: every earlier position is void; start the stream over, then scan.
            ResetStreamCheckpoints();
            ResetScanCheckpoints();
            _state.SetCheckpoint(Name, StreamCheckpoint, source.LatestStreamArn, NowMs);
        }

        var segments = _res.Concurrency;
        if (_state.GetCheckpoint(Name, "table:scan-segments") is { } stored && stored != segments.ToString(CultureInfo.InvariantCulture))
            ResetScanCheckpoints(); // a resumed scan must keep the segment count it started with
        _state.SetCheckpoint(Name, "table:scan-segments", segments.ToString(CultureInfo.InvariantCulture), NowMs);

        _log.LogInformation("{Resource}: initial sync of {Source} -> {Target} with {Segments} scan segments", Name, _res.Source.Table, _res.Target.Table, segments);
        long scanned = 0, written = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, segments), new ParallelOptions { MaxDegreeOfParallelism = segments, CancellationToken = ct }, async (seg, token) =>
        {
            var (s, w) = await ScanSegmentAsync(seg, segments, token).ConfigureAwait(false);
            Interlocked.Add(ref scanned, s);
            Interlocked.Add(ref written, w);
        }).ConfigureAwait(false);
        _state.SetCheckpoint(Name, SyncCheckpoint, Done, NowMs);
        _state.SetCheckpoint(Name, "last-full-pass", NowMs.ToString(CultureInfo.InvariantCulture), NowMs);
        _log.LogInformation("{Resource}: initial sync done: {Scanned} items scanned, {Written} written", Name, scanned, written);
        return new TableSyncResult(scanned, written, true);
    }

    private async Task<(long Scanned, long Written)> ScanSegmentAsync(int segment, int total, CancellationToken ct)
    {
        var name = ScanPrefix + segment.ToString(CultureInfo.InvariantCulture);
        var position = _state.GetCheckpoint(Name, name);
        if (position == Done) return (0, 0);
        Dictionary<string, AttributeValue>? start = position is null ? null : DdbSdk.ToSdk(DdbJson.ParseItem(position));
        long scanned = 0, written = 0;
        while (true)
        {
            var page = await _source.ScanAsync(new ScanRequest
            {
                TableName = _res.Source.Table,
                Segment = segment,
                TotalSegments = total,
                ConsistentRead = true,
                ExclusiveStartKey = start,
            }, ct).ConfigureAwait(false);
            var items = page.Items ?? [];
            scanned += items.Count;
            var writes = items.Select(i => new WriteRequest { PutRequest = new PutRequest { Item = Project(i) } }).ToList();
            await BatchWriteAsync(writes, ct).ConfigureAwait(false);
            written += writes.Count;
            Interlocked.Add(ref _itemsWritten, writes.Count);
            if (page.LastEvaluatedKey is not { Count: > 0 } last)
            {
                _state.SetCheckpoint(Name, name, Done, NowMs);
                return (scanned, written);
            }
            _state.SetCheckpoint(Name, name, DdbJson.SerializeItem(DdbSdk.FromSdk(last)), NowMs);
            start = last;
        }
    }

    private void ResetScanCheckpoints()
    {
        _state.SetCheckpoint(Name, SyncCheckpoint, null, NowMs);
        for (var i = 0; i < 64; i++) _state.SetCheckpoint(Name, ScanPrefix + i.ToString(CultureInfo.InvariantCulture), null, NowMs);
    }

    private void ResetStreamCheckpoints()
    {
        _readers.Clear();
        foreach (var shard in KnownShards()) _state.SetCheckpoint(Name, ShardPrefix + shard, null, NowMs);
        _state.SetCheckpoint(Name, "table:shards", null, NowMs);
    }

    // The shard ids with a checkpoint, kept in one checkpoint row (the state store has no prefix query).
    private List<string> KnownShards() =>
        (_state.GetCheckpoint(Name, "table:shards") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToList();

    private void RememberShard(string shardId)
    {
        var known = KnownShards();
        if (known.Contains(shardId)) return;
        known.Add(shardId);
        _state.SetCheckpoint(Name, "table:shards", string.Join(',', known), NowMs);
    }

    private Dictionary<string, AttributeValue> Project(Dictionary<string, AttributeValue> item)
    {
        if (_exclude.Count == 0) return item;
        foreach (var a in _exclude) item.Remove(a);
        return item;
    }

    private IReadOnlyDictionary<string, DdbValue> Project(IReadOnlyDictionary<string, DdbValue> item) =>
        _exclude.Count == 0 ? item : item.Where(kv => !_exclude.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    /// <summary>BatchWriteItem in chunks of 25, retrying unprocessed items with capped exponential backoff until all
    /// are written (throttling is transient; the SDK itself retries failed calls).</summary>
    private async Task BatchWriteAsync(List<WriteRequest> writes, CancellationToken ct)
    {
        for (var i = 0; i < writes.Count; i += BatchWriteMax)
        {
            var pending = writes.GetRange(i, Math.Min(BatchWriteMax, writes.Count - i));
            for (var attempt = 0; pending.Count > 0; attempt++)
            {
                var resp = await _target.BatchWriteItemAsync(new BatchWriteItemRequest
                {
                    RequestItems = new Dictionary<string, List<WriteRequest>> { [_res.Target.Table] = pending },
                }, ct).ConfigureAwait(false);
                pending = resp.UnprocessedItems is { } u && u.TryGetValue(_res.Target.Table, out var left) ? left ?? [] : [];
                if (pending.Count == 0) break;
                if (attempt >= 30) throw new InvalidOperationException($"{Name}: {pending.Count} items still unprocessed after {attempt} BatchWriteItem attempts");
                var delay = Math.Min(5000, 50 * Math.Pow(2, Math.Min(attempt, 10))) * (0.5 + Random.Shared.NextDouble() / 2);
                await Task.Delay(TimeSpan.FromMilliseconds(delay), _time, ct).ConfigureAwait(false);
            }
        }
    }

    // ---------------------------------------------------------------- stream tail

    /// <summary>One pass over the stream: every ready shard (lineage order) is read until it has nothing more now;
    /// children of shards finished in this pass are read in the same pass. Returns whether everything was caught up.
    /// A gap (trimmed records, a vanished unfinished shard) clears the sync checkpoint so that the next
    /// <see cref="InitialSyncAsync"/> re-syncs the table, and throws <see cref="TrimmedDataAccessException"/>.</summary>
    public async Task<TailResult> TailOnceAsync(CancellationToken ct)
    {
        var arn = _state.GetCheckpoint(Name, StreamCheckpoint)
                  ?? throw new InvalidOperationException($"{Name}: no initial sync yet (run InitialSyncAsync first)");
        if (_keyNames is null) await PrepareAsync(ct).ConfigureAwait(false);
        var desc = await _streams.DescribeStreamAllShardsAsync(arn, ct).ConfigureAwait(false);
        CheckForGaps(desc);

        int records = 0, keys = 0, read = 0, finished = 0;
        var done = new HashSet<string>(StringComparer.Ordinal);
        bool IsFinished(string id) => done.Contains(id) || (_state.GetCheckpoint(Name, ShardPrefix + id)?.StartsWith(Done, StringComparison.Ordinal) ?? false);
        while (true)
        {
            var ready = ShardLineage.Ready(desc.Shards, IsFinished).Where(s => !done.Contains(s.ShardId)).ToList();
            var progressed = false;
            foreach (var shard in ready)
            {
                var (r, k, fin) = await DrainShardAsync(arn, shard, ct).ConfigureAwait(false);
                records += r;
                keys += k;
                read++;
                if (fin)
                {
                    done.Add(shard.ShardId);
                    finished++;
                    progressed = true;
                }
            }
            if (!progressed) break; // children of shards finished now become ready in the next round
        }
        return new TailResult(records, keys, read, finished, CaughtUp: true);
    }

    private void CheckForGaps(StreamDescription desc)
    {
        var listed = desc.Shards.Select(s => s.ShardId).ToHashSet(StringComparer.Ordinal);
        foreach (var id in KnownShards())
        {
            var cp = _state.GetCheckpoint(Name, ShardPrefix + id);
            if (cp is null || cp.StartsWith(Done, StringComparison.Ordinal) || listed.Contains(id)) continue;
            MarkGap($"shard {id} was not finished (checkpoint {(cp.Length == 0 ? "TRIM_HORIZON" : cp)}) and is no longer in the stream (past its 24 h retention)");
        }
    }

    private void MarkGap(string why)
    {
        _log.LogError("{Resource}: changes were lost to this replica ({Why}); a full re-sync follows", Name, why);
        _readers.Clear();
        _state.SetCheckpoint(Name, StreamCheckpoint, null, NowMs);
        _state.SetCheckpoint(Name, SyncCheckpoint, null, NowMs);
        throw new TrimmedDataAccessException($"{Name}: {why}");
    }

    private async Task<(int Records, int Keys, bool Finished)> DrainShardAsync(string arn, Shard shard, CancellationToken ct)
    {
        var cp = _state.GetCheckpoint(Name, ShardPrefix + shard.ShardId);
        var after = string.IsNullOrEmpty(cp) ? null : cp;
        // Keep a shard's reader (and its iterator) from one pass to the next while it agrees with the checkpoint:
        // one GetShardIterator per shard, not one per poll.
        var id = $"{arn}|{shard.ShardId}";
        if (!_readers.TryGetValue(id, out var reader) || reader.LastSequenceNumber != after)
            _readers[id] = reader = new ShardReader(_streams, arn, shard.ShardId, ShardIteratorType.TrimHorizon, after);
        RememberShard(shard.ShardId);
        // "" = being read from TRIM_HORIZON: if such a shard vanishes unfinished, that is a gap too.
        if (cp is null) _state.SetCheckpoint(Name, ShardPrefix + shard.ShardId, "", NowMs);
        int records = 0, keys = 0;
        while (true)
        {
            IReadOnlyList<StreamRecord> batch;
            try { batch = await reader.ReadAsync(1000, ct).ConfigureAwait(false); }
            catch (TrimmedDataAccessException e)
            {
                MarkGap($"shard {shard.ShardId}: {e.Message}");
                throw; // unreachable: MarkGap throws
            }
            if (batch.Count > 0)
            {
                keys += await ApplyAsync(batch, ct).ConfigureAwait(false);
                records += batch.Count;
                Interlocked.Add(ref _recordsApplied, batch.Count);
            }
            if (reader.IsFinished)
            {
                _state.SetCheckpoint(Name, ShardPrefix + shard.ShardId, $"{Done}:{reader.LastSequenceNumber}", NowMs);
                return (records, keys, true);
            }
            if (batch.Count == 0) return (records, keys, false);
            _state.SetCheckpoint(Name, ShardPrefix + shard.ShardId, reader.LastSequenceNumber, NowMs);
        }
    }

    /// <summary>Applies one batch of one shard: per key, only the last change matters for the final state; the writes
    /// of different keys go out together (BatchWriteItem). Returns the number of keys written or deleted.</summary>
    private async Task<int> ApplyAsync(IReadOnlyList<StreamRecord> batch, CancellationToken ct)
    {
        var keyNames = _keyNames!;
        // Per key (in first-seen order): the last record, and the last image written before a REMOVE (for retain).
        var last = new Dictionary<string, (StreamRecord Record, IReadOnlyDictionary<string, DdbValue>? LastPut, long SeenMs)>(StringComparer.Ordinal);
        foreach (var r in batch)
        {
            var key = KeyString(r.Keys, keyNames);
            var seen = r.ApproximateCreationDateTime?.ToUnixTimeMilliseconds() ?? NowMs;
            var put = r.EventName == StreamEventName.Remove ? (last.TryGetValue(key, out var prev) ? prev.LastPut : null) : r.NewImage;
            last[key] = (r, put, last.TryGetValue(key, out var p) ? Math.Min(p.SeenMs, seen) : seen);
        }

        var writes = new List<WriteRequest>();
        var journal = new List<(long Id, string Key)>();
        var holds = new List<(string Key, long Seen)>();
        foreach (var (key, (r, lastPut, seenMs)) in last)
        {
            if (r.EventName != StreamEventName.Remove)
            {
                if (r.NewImage is null)
                    throw new InvalidOperationException($"{Name}: stream record {r.SequenceNumber} has no NewImage (the stream must be NEW_IMAGE or NEW_AND_OLD_IMAGES)");
                _state.Unhold(Name, key);
                journal.Add((_state.BeginChange(Name, key, ChangeOp.Put, Math.Min(seenMs, NowMs)).Id, key));
                writes.Add(new WriteRequest { PutRequest = new PutRequest { Item = DdbSdk.ToSdk(Project(r.NewImage)) } });
                continue;
            }
            switch (_res.Deletes.Mode)
            {
                case DeleteMode.Propagate:
                    _state.Unhold(Name, key);
                    journal.Add((_state.BeginChange(Name, key, ChangeOp.Delete, Math.Min(seenMs, NowMs)).Id, key));
                    writes.Add(new WriteRequest { DeleteRequest = new DeleteRequest { Key = DdbSdk.ToSdk(KeyOf(r.Keys, keyNames)) } });
                    break;
                default:
                    // retain (or hold for a delay): keep the replica, with the last state written in this batch.
                    if (lastPut is not null)
                    {
                        journal.Add((_state.BeginChange(Name, key, ChangeOp.Put, Math.Min(seenMs, NowMs)).Id, key));
                        writes.Add(new WriteRequest { PutRequest = new PutRequest { Item = DdbSdk.ToSdk(Project(lastPut)) } });
                    }
                    if (_res.Deletes.Mode == DeleteMode.Delayed) holds.Add((key, seenMs));
                    break;
            }
        }

        try { await BatchWriteAsync(writes, ct).ConfigureAwait(false); }
        catch (Exception e)
        {
            // Not durable: the changes are open again (the batch is re-read from the checkpoint and re-applied).
            foreach (var (id, _) in journal) _state.MarkFailed(id, e.Message, permanent: false);
            throw;
        }
        var now = NowMs;
        foreach (var (id, key) in journal) _state.MarkDurable(id, now, null, Name, key);
        foreach (var (key, seen) in holds) _state.Hold(Name, key, seen, seen + (long)_res.Deletes.Delay.TotalMilliseconds);
        return writes.Count;
    }

    /// <summary>Applies held deletes that are due, each only if the key is still absent at the source.</summary>
    public async Task<int> ApplyDueDeletesAsync(CancellationToken ct)
    {
        if (_res.Deletes.Mode != DeleteMode.Delayed) return 0;
        var applied = 0;
        foreach (var h in _state.HeldDeletes(Name, NowMs))
        {
            var key = DdbSdk.ToSdk(DdbJson.ParseItem(h.Key));
            var at = await _source.GetItemAsync(new GetItemRequest { TableName = _res.Source.Table, Key = key, ConsistentRead = true }, ct).ConfigureAwait(false);
            if (at.Item is { Count: > 0 })
            {
                _state.Unhold(Name, h.Key); // it exists again: the delete is void
                continue;
            }
            var (id, _) = _state.BeginChange(Name, h.Key, ChangeOp.Delete, h.SeenAtMs);
            await _target.DeleteItemAsync(new DeleteItemRequest { TableName = _res.Target.Table, Key = key }, ct).ConfigureAwait(false);
            _state.MarkDurable(id, NowMs, null, Name, h.Key);
            _state.Unhold(Name, h.Key);
            applied++;
        }
        return applied;
    }

    /// <summary>Initial sync if needed, then the stream until caught up (every open shard answered no more records).
    /// A gap found while tailing re-syncs once and tails again.</summary>
    public async Task<TailResult> RunOnceAsync(CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            await InitialSyncAsync(ct).ConfigureAwait(false);
            try
            {
                var res = await TailOnceAsync(ct).ConfigureAwait(false);
                await ApplyDueDeletesAsync(ct).ConfigureAwait(false);
                return res;
            }
            catch (TrimmedDataAccessException) when (attempt == 0) { }
        }
    }

    /// <summary>Replicates until <paramref name="stop"/>: sync if needed, then polls the stream every
    /// <paramref name="poll"/> (1 s by default) while idle.</summary>
    public async Task RunAsync(CancellationToken stop, TimeSpan? poll = null)
    {
        var interval = poll ?? TimeSpan.FromSeconds(1);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await InitialSyncAsync(stop).ConfigureAwait(false);
                var r = await TailOnceAsync(stop).ConfigureAwait(false);
                await ApplyDueDeletesAsync(stop).ConfigureAwait(false);
                if (r.Records == 0) await Task.Delay(interval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (TrimmedDataAccessException) { /* gap recorded: the next round re-syncs */ }
            catch (Exception e) when (e is AmazonDynamoDBException or DynamoDbStreamsException { IsTransient: true } or HttpRequestException)
            {
                _log.LogWarning("{Resource}: {Error}; retrying", Name, e.Message);
                try { await Task.Delay(interval * 5, _time, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>A key as canonical DynamoDB JSON (attributes in key-schema order): the journal's and holds' key.</summary>
    public static string KeyString(IReadOnlyDictionary<string, DdbValue> keys, IReadOnlyList<string> keyNames) =>
        DdbJson.SerializeItem(KeyOf(keys, keyNames));

    private static Dictionary<string, DdbValue> KeyOf(IReadOnlyDictionary<string, DdbValue> keys, IReadOnlyList<string> keyNames)
    {
        var d = new Dictionary<string, DdbValue>(StringComparer.Ordinal);
        foreach (var n in keyNames) d[n] = keys[n];
        return d;
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    public void Dispose()
    {
        _streams.Dispose();
        if (_ownsClients)
        {
            _source.Dispose();
            _target.Dispose();
        }
    }
}
