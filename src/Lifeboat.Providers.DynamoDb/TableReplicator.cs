using System.Globalization;
using Amazon;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Lifeboat.Core.Config;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.DynamoDb;

public sealed record TableSyncResult(long Scanned, long Written, bool Completed, long Swept = 0);

public sealed record TailResult(int Records, int Keys, int ShardsRead, int ShardsFinished, bool CaughtUp);

/// <summary>What <see cref="TableReplicator.RunOnceAsync"/> did: the initial sync (0 when it was done before), the
/// stream records applied and keys written, delayed deletes applied; Completed = synced and caught up.</summary>
public sealed record TableRunResult(long Scanned, long Written, long Swept, int Records, int Keys, int DeletesApplied, bool Completed,
    long CoveredBySync = 0, TimeSpan SyncTime = default, TimeSpan TailTime = default);

/// <summary>
/// Replicates one <c>type: table</c> resource: an initial sync (parallel Scan segments → BatchWriteItem, resumable
/// per segment) and then the source table's stream, shard by shard in lineage order (a child only after its parent is
/// finished), with a checkpoint per shard in the state store.
/// Invariants (shared/design/CORRECTNESS.md, DynamoDB Streams):
/// - the stream is read from where each shard stood when the sync's scan started (the first record after that moment;
///   TRIM_HORIZON when that position is unknown, e.g. after a crash before it was found, or for a first sync into a
///   target that already holds items), so every change made while the scan runs is applied after it; a record that may
///   be older than the scan's end is written only when the target does not already hold its result;
/// - a checkpoint names only records whose effect is durable on the target (BatchWriteItem answered, unprocessed items
///   retried);
/// - within a GetRecords batch only each key's last change is written (the final state), and a key's changes are
///   never reordered: one shard is applied batch after batch, children after parents (the writes of one batch go out
///   in parallel chunks: they are for distinct keys);
/// - a gap (TrimmedDataAccessException, a checkpointed shard gone, a new stream ARN) is never skipped: it triggers a
///   full re-sync, which also sweeps the target for items no longer at the source (deletes lost with the gap).
/// Deletes follow the policy: propagate deletes at once; retain keeps the replica (with its last state) and records the
/// key as held; a delay holds the delete in the state store and applies it when due, only if the key is still absent
/// at the source.
/// Stopping: the <c>stop</c> tokens end the work between pages/batches (what is in flight is finished and
/// checkpointed); the <c>ct</c> tokens abort in-flight calls (also safe: nothing is checkpointed before it is durable).
/// </summary>
public sealed class TableReplicator : IDisposable
{
    public const string ReverseSuffix = ".reverse";
    public const string CanarySeqAttribute = "lifeboat_canary_seq";
    public const string CanaryWrittenAtAttribute = "lifeboat_canary_written_at";
    /// <summary>The time (Unix ms) at which a pass over the stream started that then read every shard to its end: every
    /// change made before it is durable on the target. <c>status</c> reads it.</summary>
    public const string CaughtUpCheckpoint = "table:caught-up-at";
    private const int WriteParallelism = 8;
    /// <summary>BatchWriteItem calls in flight for one stream batch (up to 1,000 records = 40 calls): the tail applies a
    /// shard's batches one after another, so a catch-up's speed is this batch's write time (the sync has a writer per segment).</summary>
    private const int TailWriteParallelism = 16;
    private const string SyncCheckpoint = "table:sync";
    private const string SyncedOnceCheckpoint = "table:synced-once";
    private const string SweepCheckpoint = "table:sweep";
    private const string SyncStartedCheckpoint = "table:sync-started-at";
    /// <summary>When the scan ended, on the stream service's clock: records made before it may already be in the copy.</summary>
    private const string SyncDoneCheckpoint = "table:sync-done-at";
    /// <summary>A shard checkpoint "at:SEQ": the first record made after the scan started (read from it, inclusive).</summary>
    private const string AtPrefix = "at:";
    /// <summary>A shard checkpoint "it:ITERATOR": the iterator of a reader still at the LATEST position an initial sync
    /// started from (no record since), valid 15 minutes; a reader resumed with an expired one reads from TRIM_HORIZON.</summary>
    private const string ItPrefix = "it:";
    /// <summary>How often an "it:" checkpoint is renewed while its shard stays idle.</summary>
    private static readonly TimeSpan PositionKeepInterval = TimeSpan.FromMinutes(1);
    /// <summary>How often the shards' positions are polled while the scan runs (AWS allows 5 reads per second per shard;
    /// an iterator expires after 15 minutes unread).</summary>
    private static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(1);
    /// <summary>Clock difference allowed between the stream's record timestamps and its answers' Date headers.</summary>
    private static readonly long ClockMarginMs = 2_000;
    private const string StreamCheckpoint = "table:stream-arn";
    private const string ScanPrefix = "table:scan:";
    private const string ShardPrefix = "table:shard:";
    private const string Done = "done";
    private static readonly TimeSpan JournalRetention = TimeSpan.FromDays(7);

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
    private Dictionary<string, DdbValue>? _canaryKey;
    private string? _canaryKeyString;
    /// <summary>Shard readers kept between passes, with the checkpoint each was made for.</summary>
    private readonly Dictionary<string, (ShardReader Reader, string Origin)> _readers = new(StringComparer.Ordinal);
    /// <summary>While a fresh scan runs: per open shard, a reader started at LATEST before the scan, polled until it
    /// returns the shard's first record made after the scan started (<see cref="FindStreamPositionsAsync"/>).</summary>
    private readonly Dictionary<string, ShardReader> _watchers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _positionKeptAt = new(StringComparer.Ordinal);
    private long _syncStartedAtMs = long.MinValue;
    private long _syncDoneAtMs = long.MinValue;
    private StreamDescription? _desc;
    private long _descAtMs = long.MinValue;
    private bool _shardFinished;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _lastRead = new(StringComparer.Ordinal);
    /// <summary>GetRecords returns at most this many records (and 1 MB): a batch below both reached the shard's tip.</summary>
    private const int ReadLimit = 1000;
    /// <summary>How long a DescribeTable answer (stream ARN, keys) is trusted between tail passes.</summary>
    private static readonly TimeSpan TableCheckAge = TimeSpan.FromSeconds(30);
    private long? _checkedAt;
    private string? _checkedArn;
    /// <summary>At most 5 GetRecords per second per shard (AWS's limit per shard).</summary>
    private static readonly TimeSpan ReadSpacing = TimeSpan.FromMilliseconds(200);
    /// <summary>How long a DescribeStream answer (the shard list) is used in continuous mode before asking again
    /// (sooner when a shard finished: its children must be found).</summary>
    private static readonly TimeSpan ShardListAge = TimeSpan.FromSeconds(10);

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

    /// <summary>The replicator for <paramref name="res"/> with clients built from its stores' configs;
    /// <paramref name="reverse"/> replicates from the target back to the source (failback, <see cref="Reverse"/>).</summary>
    public static TableReplicator Create(LifeboatConfig cfg, TableResource res, StateStore state, TimeProvider time, ILogger log, bool reverse = false)
    {
        if (reverse) res = Reverse(res);
        var src = cfg.Stores[res.Source.Store];
        var dst = cfg.Stores[res.Target.Store];
        return new TableReplicator(res, CreateClient(src), CreateClient(dst), StreamsClient.ForStore(src, time), state, time, log, ownsClients: true);
    }

    /// <summary>The failback direction of a resource: from its target (the recovery table, written during a failover)
    /// back to its source, reading the recovery table's stream. Its state (checkpoints, journal) is kept under
    /// <c>NAME.reverse</c>, apart from the forward direction's.</summary>
    public static TableResource Reverse(TableResource res) =>
        res with { Name = res.Name + ReverseSuffix, Source = res.Target, Target = res.Source };

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

    private MetricsRegistry? _metrics;
    private string[] _labels = [];

    /// <summary>Where this replicator reports its Prometheus metrics (the same names as bucket resources, labelled by
    /// resource: lifeboat_replication_lag_seconds, lifeboat_backlog, lifeboat_errors_total, ...); null = none.</summary>
    public MetricsRegistry? Metrics
    {
        get => _metrics;
        set
        {
            _metrics = value;
            _labels = [Name];
            value?.Gauge(Instruments.Backlog, () => _state.Backlog(Name), _labels);
            if (_res.Canary is not null)
                value?.Gauge(Instruments.CanaryLag, () => _state.Canary(Name, NowMs).LastLagMs is { } l ? l / 1000.0 : double.NaN, _labels);
        }
    }

    /// <summary>Records applied from the stream and items written by the sync since this instance started.</summary>
    public long RecordsApplied => Interlocked.Read(ref _recordsApplied);
    public long ItemsWritten => Interlocked.Read(ref _itemsWritten);
    private long _recordsApplied;
    private long _itemsWritten;

    private string Name => _res.Name;

    // ---------------------------------------------------------------- source and target tables

    /// <summary>Checks both tables; creates the target (same keys, attribute definitions, indexes and billing mode as
    /// the source, with a stream for failback) when it is absent and create_target is set. Returns the source's
    /// description. Every problem a user must fix is a <see cref="UserErrorException"/> naming the config.</summary>
    public async Task<TableDescription> PrepareAsync(CancellationToken ct)
    {
        var source = await TableSchema.DescribeAsync(_source, _res.Source, ct).ConfigureAwait(false)
                     ?? throw new UserErrorException($"{_res.Source.Where}: source table '{_res.Source.Table}' does not exist in store '{_res.Source.Store}'");
        var view = source.StreamSpecification?.StreamViewType;
        if (source.StreamSpecification?.StreamEnabled != true || source.LatestStreamArn is null)
            throw new UserErrorException($"{_res.Source.Where}: table '{_res.Source.Table}' has no stream: enable DynamoDB Streams with NEW_AND_OLD_IMAGES (or NEW_IMAGE), " +
                                         $"e.g. aws dynamodb update-table --table-name {_res.Source.Table} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES");
        if (view == StreamViewType.KEYS_ONLY || view == StreamViewType.OLD_IMAGE)
            throw new UserErrorException($"{_res.Source.Where}: the stream of '{_res.Source.Table}' is {view}: replication needs NEW_AND_OLD_IMAGES or NEW_IMAGE " +
                                         "(the view type cannot be changed in place: disable the stream, then enable it with StreamViewType=NEW_AND_OLD_IMAGES)");
        var keyNames = source.KeySchema.Select(k => k.AttributeName).ToList();
        foreach (var k in keyNames.Where(_exclude.Contains))
            throw new UserErrorException($"{_res.Where}.exclude_attributes: '{k}' is a key attribute of '{_res.Source.Table}' and cannot be excluded");
        if (_res.Canary is { } canary) (_canaryKey, _canaryKeyString) = CanaryKey(canary, source, keyNames);

        var target = await TableSchema.DescribeAsync(_target, _res.Target, ct).ConfigureAwait(false);
        if (target is null)
        {
            if (!_res.CreateTarget)
                throw new UserErrorException($"{_res.Target.Where}: target table '{_res.Target.Table}' does not exist in store '{_res.Target.Store}' (set create_target: true to create it)");
            await TableSchema.CreateLikeAsync(_target, _res.Target, source, _time, _log, Name, ct).ConfigureAwait(false);
        }
        else if (TableSchema.KeysWithTypes(target) != TableSchema.KeysWithTypes(source))
        {
            throw new UserErrorException($"{_res.Target.Where}: target table '{_res.Target.Table}' has other keys than the source " +
                                         $"({TableSchema.KeysWithTypes(target)} vs {TableSchema.KeysWithTypes(source)})");
        }
        else if (Claim == ClaimMode.Claim) await EnsureKnownTargetAsync(ct).ConfigureAwait(false);
        _keyNames = keyNames;
        return source;
    }

    /// <summary>Whether <see cref="PrepareAsync"/> guards the target against a lost state file (replicate, serve):
    /// a table has no place for a claim marker (DynamoDB Local has no tags; an item would be the application's data),
    /// so a target that already holds items while this state has never replicated into it is refused (ADR 0009).</summary>
    public ClaimMode Claim { get; set; }

    /// <summary><c>--reset-state</c>: such a target is taken over (logged), not refused.</summary>
    public bool TakeOverClaim { get; set; }

    private async Task EnsureKnownTargetAsync(CancellationToken ct)
    {
        if (_state.GetCheckpoint(Name, StreamCheckpoint) is not null || _state.GetCheckpoint(Name, SyncCheckpoint) is not null) return;
        var page = await _target.ScanAsync(new ScanRequest { TableName = _res.Target.Table, Limit = 1, Select = Select.COUNT }, ct).ConfigureAwait(false);
        if (page.Count is not > 0 && page.LastEvaluatedKey is not { Count: > 0 }) return;
        var me = _state.Identity;
        var where = $"{_res.Target.Store}/{_res.Target.Table}";
        if (TakeOverClaim)
        {
            _log.TargetTakenOver(Name, where, _state.Path, me.Short);
            return;
        }
        throw new UserErrorException($"resource '{Name}': target table {where} already holds items, and the state file {_state.Path} " +
                                     (me.CreatedNow ? "is new (created just now)" : $"(state {me.Short}) has no record of replicating into it") +
                                     ": if the state file was lost, restore it; to start over knowingly (or when the table was filled another way), run again with --reset-state");
    }

    private (Dictionary<string, DdbValue>, string) CanaryKey(TableCanary canary, TableDescription source, List<string> keyNames)
    {
        if (canary.Key is { } given && !given.Keys.Order(StringComparer.Ordinal).SequenceEqual(keyNames.Order(StringComparer.Ordinal)))
            throw new UserErrorException($"{canary.Where}.key: name the key attributes of '{_res.Source.Table}' ({string.Join(", ", keyNames)}), not {string.Join(", ", given.Keys)}");
        var key = new Dictionary<string, DdbValue>(StringComparer.Ordinal);
        foreach (var name in keyNames)
        {
            var type = source.AttributeDefinitions.First(a => a.AttributeName == name).AttributeType;
            var text = canary.Key?[name] ?? (type == ScalarAttributeType.N ? "0" : "lifeboat-canary");
            if (type == ScalarAttributeType.N && !decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                throw new UserErrorException($"{canary.Where}.key.{name}: '{text}' is not a number, and {name} is a number attribute");
            key[name] = type == ScalarAttributeType.N ? DdbValue.N(text)
                : type == ScalarAttributeType.B ? DdbValue.B(System.Text.Encoding.UTF8.GetBytes(text))
                : DdbValue.S(text);
        }
        return (key, KeyString(key, keyNames));
    }

    // ---------------------------------------------------------------- initial sync

    /// <summary>Copies every item of the source with <see cref="TableResource.Concurrency"/> parallel Scan segments.
    /// Each segment checkpoints its LastEvaluatedKey after the page's items are durable, so a crash resumes there.
    /// Before the first page, the stream's current ARN is recorded, every shard's checkpoint cleared and, for a target
    /// that is empty (or a re-sync, whose sweep finds deletes), each shard's position taken
    /// (<see cref="FindStreamPositionsAsync"/>): the tail starts there (else at TRIM_HORIZON), so changes made during the
    /// scan are applied after it. A re-sync (after a gap) then sweeps the target for items that are gone from the source.</summary>
    public async Task<TableSyncResult> InitialSyncAsync(CancellationToken ct, CancellationToken stop = default, bool cachedTable = false)
    {
        // Continuous mode calls this before every tail pass: the table is described again (a new stream ARN means a
        // re-sync) at most every TableCheckAge, not 4 times a second (DescribeTable is a rate-limited control-plane call).
        if (cachedTable && _checkedAt is { } at && _time.GetElapsedTime(at) < TableCheckAge && _state.GetCheckpoint(Name, SyncCheckpoint) == Done &&
            _state.GetCheckpoint(Name, StreamCheckpoint) == _checkedArn)
            return new TableSyncResult(0, 0, true);
        var source = await PrepareAsync(ct).ConfigureAwait(false);
        (_checkedAt, _checkedArn) = (_time.GetTimestamp(), source.LatestStreamArn);
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
        var resync = _state.GetCheckpoint(Name, SyncedOnceCheckpoint) is not null;
        // When this scan started, on the stream service's clock (the Date of an answer received before the first page:
        // the clock record timestamps come from, so this machine's clock error does not matter). Kept across resumes: a
        // resumed segment reads later, never earlier. Without a Date header, nothing is skipped ("none").
        var arn = source.LatestStreamArn;
        if (_state.GetCheckpoint(Name, SyncStartedCheckpoint) is null)
        {
            // A fresh scan. Where each shard stands now, so that the tail starts there instead of reading (up to 24 h
            // of) records the scan copies anyway; not for a first sync into a target that already holds items, where
            // the REMOVEs before the scan must still be read (UncopiedDeletesAsync; a re-sync's sweep does that work).
            if (resync || await TargetIsEmptyAsync(ct).ConfigureAwait(false)) await FindStreamPositionsAsync(arn, ct).ConfigureAwait(false);
            else await _streams.DescribeStreamAsync(arn, limit: 1, ct: ct).ConfigureAwait(false);
            var started = _streams.LastServerDate is { } d ? d.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) : "none";
            _state.SetCheckpoint(Name, SyncStartedCheckpoint, started, NowMs);
        }

        _log.SyncStarting(Name, resync ? "re-sync" : "initial sync", _res.Source.Table, _res.Target.Table, segments);
        long scanned = 0, written = 0, swept = 0;
        bool complete = true, finished = false;
        using var scanDone = new CancellationTokenSource();
        var watch = WatchStreamPositionsAsync(scanDone.Token, ct);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, segments), new ParallelOptions { MaxDegreeOfParallelism = segments, CancellationToken = ct }, async (seg, token) =>
            {
                var (s, w, done) = await ScanSegmentAsync(seg, segments, token, stop).ConfigureAwait(false);
                Interlocked.Add(ref scanned, s);
                Interlocked.Add(ref written, w);
                if (!done) complete = false;
            }).ConfigureAwait(false);
            if (!complete) return new TableSyncResult(scanned, written, false);

            if (resync && _state.GetCheckpoint(Name, SweepCheckpoint) != Done)
            {
                var (n, done) = await SweepTargetAsync(ct, stop).ConfigureAwait(false);
                swept = n;
                if (!done) return new TableSyncResult(scanned, written, false, swept);
                _state.SetCheckpoint(Name, SweepCheckpoint, Done, NowMs);
            }
            finished = true;
        }
        finally
        {
            await scanDone.CancelAsync().ConfigureAwait(false);
            await watch.ConfigureAwait(false);
            // A scan that did not finish: positions not found yet are unknown to the next attempt (those shards are
            // read from TRIM_HORIZON; their records older than the scan are skipped by timestamp or found on the target).
            if (!finished) _watchers.Clear();
        }
        // Records made before this moment may be in the copy: the tail compares those with the target before writing.
        await _streams.DescribeStreamAsync(arn, limit: 1, ct: ct).ConfigureAwait(false);
        var doneAt = _streams.LastServerDate is { } e ? e.ToUnixTimeMilliseconds() + 999 : NowMs;
        _state.SetCheckpoint(Name, SyncDoneCheckpoint, doneAt.ToString(CultureInfo.InvariantCulture), NowMs);
        // The shards whose first record after the scan's start has not come yet: the tail reads on from their LATEST
        // position (checkpoint "", so a crash before their first record makes the next run read them from TRIM_HORIZON).
        foreach (var (shardId, reader) in _watchers) _readers[$"{arn}|{shardId}"] = (reader, "");
        _watchers.Clear();
        _state.SetCheckpoint(Name, SyncCheckpoint, Done, NowMs);
        _state.SetCheckpoint(Name, SyncedOnceCheckpoint, NowMs.ToString(CultureInfo.InvariantCulture), NowMs);
        _state.SetCheckpoint(Name, "last-full-pass", NowMs.ToString(CultureInfo.InvariantCulture), NowMs);
        _log.SyncDone(Name, scanned, written,
            resync ? $", {swept} target items no longer at the source handled by the delete policy" : "");
        return new TableSyncResult(scanned, written, true, swept);
    }

    private async Task<(long Scanned, long Written, bool Done)> ScanSegmentAsync(int segment, int total, CancellationToken ct, CancellationToken stop)
    {
        var name = ScanPrefix + segment.ToString(CultureInfo.InvariantCulture);
        var position = _state.GetCheckpoint(Name, name);
        if (position == Done) return (0, 0, true);
        Dictionary<string, AttributeValue>? start = position is null ? null : DdbSdk.ToSdk(DdbJson.ParseItem(position));
        long scanned = 0, written = 0;
        Task<ScanResponse> Page(Dictionary<string, AttributeValue>? from) => _source.ScanAsync(new ScanRequest
        {
            TableName = _res.Source.Table,
            Segment = segment,
            TotalSegments = total,
            ConsistentRead = true,
            ExclusiveStartKey = from,
        }, ct);
        // The next page is read while this one is written (its checkpoint still waits for this page's writes).
        var next = stop.IsCancellationRequested ? null : Page(start);
        while (next is not null)
        {
            var page = await next.ConfigureAwait(false);
            var last = page.LastEvaluatedKey is { Count: > 0 } l ? l : null;
            next = last is not null && !stop.IsCancellationRequested ? Page(last) : null;
            var items = page.Items ?? [];
            scanned += items.Count;
            var writes = items.Select(i => new WriteRequest { PutRequest = new PutRequest { Item = Project(i) } }).ToList();
            try
            {
                await TableSchema.BatchWriteAsync(_target, _res.Target.Table, writes, WriteParallelism, _time, ct).ConfigureAwait(false);
            }
            catch when (next is not null)
            {
                try { await next.ConfigureAwait(false); } catch { /* the write's error is the one reported */ }
                throw;
            }
            written += writes.Count;
            Interlocked.Add(ref _itemsWritten, writes.Count);
            _metrics?.Inc(Instruments.TableSyncItems, writes.Count, _labels);
            if (last is null)
            {
                _state.SetCheckpoint(Name, name, Done, NowMs);
                return (scanned, written, true);
            }
            _state.SetCheckpoint(Name, name, DdbJson.SerializeItem(DdbSdk.FromSdk(last)), NowMs);
        }
        return (scanned, written, false); // stopped: resumes after the last checkpoint
    }

    /// <summary>After a re-sync: target items whose key is absent at the source were deleted there while the stream's
    /// records of it were lost; they get the delete policy now (propagate: deleted; retain: held; a delay: held until
    /// due). A key that comes back later is re-created by its stream record.</summary>
    private async Task<(long Handled, bool Done)> SweepTargetAsync(CancellationToken ct, CancellationToken stop)
    {
        var keyNames = _keyNames!;
        long handled = 0;
        var stopped = false;
        await TableSchema.ParallelScanAsync(_target, _res.Target.Table, _res.Concurrency, async (_, page, token) =>
        {
            if (stop.IsCancellationRequested) { stopped = true; return; }
            var keys = page.Select(i => KeyOf(DdbSdk.FromSdk(i), keyNames)).ToList();
            var atSource = await TableSchema.BatchGetAsync(_source, _res.Source.Table, keys, keyNames, _time, token).ConfigureAwait(false);
            var gone = keys.Where(k => !atSource.ContainsKey(KeyString(k, keyNames))).ToList();
            if (gone.Count == 0) return;
            var now = NowMs;
            if (_res.Deletes.Mode == DeleteMode.Propagate)
            {
                var changes = gone.Select(k => (KeyString(k, keyNames), ChangeOp.Delete, now)).ToList();
                var ids = _state.BeginChanges(Name, changes);
                try
                {
                    await TableSchema.BatchWriteAsync(_target, _res.Target.Table,
                        gone.Select(k => new WriteRequest { DeleteRequest = new DeleteRequest { Key = DdbSdk.ToSdk(k) } }).ToList(), WriteParallelism, _time, token).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    _state.MarkRetryMany(ids, e.Message);
                    throw;
                }
                _state.MarkDurableMany(Name, ids.Zip(changes, (id, c) => (id, c.Item1)).ToList(), NowMs);
            }
            else
            {
                foreach (var k in gone)
                    _state.Hold(Name, KeyString(k, keyNames), now, _res.Deletes.Mode == DeleteMode.Delayed ? now + (long)_res.Deletes.Delay.TotalMilliseconds : null);
            }
            Interlocked.Add(ref handled, gone.Count);
        }, ct).ConfigureAwait(false);
        return (handled, !stopped);
    }

    private void ResetScanCheckpoints()
    {
        _state.SetCheckpoint(Name, SyncCheckpoint, null, NowMs);
        _state.SetCheckpoint(Name, SyncStartedCheckpoint, null, NowMs);
        _state.SetCheckpoint(Name, SyncDoneCheckpoint, null, NowMs);
        _state.SetCheckpoint(Name, SweepCheckpoint, null, NowMs);
        for (var i = 0; i < 64; i++) _state.SetCheckpoint(Name, ScanPrefix + i.ToString(CultureInfo.InvariantCulture), null, NowMs);
    }

    private async Task<bool> TargetIsEmptyAsync(CancellationToken ct)
    {
        var page = await _target.ScanAsync(new ScanRequest { TableName = _res.Target.Table, Limit = 1, Select = Select.COUNT }, ct).ConfigureAwait(false);
        return page.Count is not > 0 && page.LastEvaluatedKey is not { Count: > 0 };
    }

    /// <summary>
    /// Before a fresh scan's first page: where each shard of the stream stands, so that the tail reads only records made
    /// after the scan started (every earlier change is in the scan's copy: each item is read consistently after this).
    /// A shard closed now holds only older records: it is finished (checkpoint "done:"). An open shard gets a reader at
    /// LATEST, read now (the iterator is taken before the scan) and then every <see cref="WatchInterval"/> during the
    /// scan until it returns a record: that record is the shard's first after the scan's start (checkpoint "at:SEQ", the
    /// tail's start, kept across a crash). A shard that got no record during the whole scan is read on by the same
    /// reader (<see cref="InitialSyncAsync"/>). A checkpoint naming applied records is never moved; a shard whose
    /// position cannot be found (an error) keeps "" and is read from TRIM_HORIZON, as before this existed.
    /// </summary>
    private async Task FindStreamPositionsAsync(string arn, CancellationToken ct)
    {
        _watchers.Clear();
        var desc = await _streams.DescribeStreamAllShardsAsync(arn, ct).ConfigureAwait(false);
        foreach (var shard in desc.Shards)
        {
            var name = ShardPrefix + shard.ShardId;
            var cp = _state.GetCheckpoint(Name, name);
            if (!string.IsNullOrEmpty(cp) && !cp.StartsWith(AtPrefix, StringComparison.Ordinal) && !cp.StartsWith(ItPrefix, StringComparison.Ordinal)) continue;
            RememberShard(shard.ShardId);
            _readers.Remove($"{arn}|{shard.ShardId}");
            if (shard.SequenceNumberRange.EndingSequenceNumber is { } end)
            {
                _state.SetCheckpoint(Name, name, $"{Done}:{end}", NowMs);
                continue;
            }
            _state.SetCheckpoint(Name, name, "", NowMs);
            _watchers[shard.ShardId] = new ShardReader(_streams, arn, shard.ShardId, ShardIteratorType.Latest);
        }
        foreach (var (id, reader) in _watchers.ToList()) await WatchOnceAsync(arn, id, reader, ct).ConfigureAwait(false);
        _log.ShardsWatched(Name, desc.Shards.Count, _watchers.Count);
    }

    /// <summary>Polls the shards of <see cref="_watchers"/> until <paramref name="scanDone"/>; never throws.</summary>
    private async Task WatchStreamPositionsAsync(CancellationToken scanDone, CancellationToken ct)
    {
        while (_watchers.Count > 0)
        {
            try
            {
                await Task.Delay(WatchInterval, _time, scanDone).ConfigureAwait(false);
                foreach (var (id, reader) in _watchers.ToList()) await WatchOnceAsync(reader.StreamArn, id, reader, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task WatchOnceAsync(string arn, string shardId, ShardReader reader, CancellationToken ct)
    {
        var name = ShardPrefix + shardId;
        try
        {
            // Not counted in the tail's read spacing: one read a second stays far below AWS's 5 per second per shard.
            var records = await reader.ReadAsync(1, ct).ConfigureAwait(false);
            if (records.Count > 0) _state.SetCheckpoint(Name, name, AtPrefix + records[0].SequenceNumber, NowMs);
            else if (reader.IsFinished) _state.SetCheckpoint(Name, name, $"{Done}:", NowMs); // closed with no record after the scan's start
            else return;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (Exception e)
        {
            // Not a loss: the shard keeps checkpoint "" and the tail reads it from TRIM_HORIZON.
            _log.ShardPositionUnknown(Name, shardId, e.Message);
        }
        _watchers.Remove(shardId);
    }

    private void ResetStreamCheckpoints()
    {
        _readers.Clear();
        _watchers.Clear();
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

    // ---------------------------------------------------------------- stream tail

    /// <summary>One pass over the stream: every ready shard (lineage order) is read until a batch that is not full (it
    /// reached the shard's tip as of that read); children of shards finished in this pass are read in the same pass.
    /// CaughtUp = every shard was read to its tip (not stopped): then every change made before the pass started is
    /// durable on the target, which is recorded (<see cref="CaughtUpCheckpoint"/>) and closes journal rows left open by
    /// a crash or a gap. GetRecords calls on one shard are at least 200 ms apart (AWS allows 5 per second per shard).
    /// <paramref name="cachedShards"/> reuses the shard list for up to 10 s (continuous mode: DescribeStream is
    /// limited to 10 calls per second per account).
    /// A gap (trimmed records, a vanished unfinished shard) clears the sync checkpoint so that the next
    /// <see cref="InitialSyncAsync"/> re-syncs the table, and throws <see cref="TrimmedDataAccessException"/>.</summary>
    public async Task<TailResult> TailOnceAsync(CancellationToken ct, CancellationToken stop = default, bool cachedShards = false)
    {
        var arn = _state.GetCheckpoint(Name, StreamCheckpoint)
                  ?? throw new InvalidOperationException($"{Name}: no initial sync yet (run InitialSyncAsync first)");
        if (_keyNames is null) await PrepareAsync(ct).ConfigureAwait(false);
        var passStart = NowMs;
        var maxId = _state.MaxJournalId();
        _syncStartedAtMs = long.TryParse(_state.GetCheckpoint(Name, SyncStartedCheckpoint), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ss) ? ss : long.MinValue;
        _syncDoneAtMs = long.TryParse(_state.GetCheckpoint(Name, SyncDoneCheckpoint), NumberStyles.Integer, CultureInfo.InvariantCulture, out var sd) ? sd : long.MinValue;
        var desc = _desc;
        if (desc is null || desc.StreamArn != arn || !cachedShards || _shardFinished || passStart - _descAtMs > ShardListAge.TotalMilliseconds)
        {
            desc = await _streams.DescribeStreamAllShardsAsync(arn, ct).ConfigureAwait(false);
            CheckForGaps(desc);
            (_desc, _descAtMs, _shardFinished) = (desc, passStart, false);
        }

        int records = 0, keys = 0, read = 0, finished = 0;
        var stopped = false;
        var done = new HashSet<string>(StringComparer.Ordinal);
        bool IsFinished(string id) => done.Contains(id) || (_state.GetCheckpoint(Name, ShardPrefix + id)?.StartsWith(Done, StringComparison.Ordinal) ?? false);
        while (!stopped)
        {
            var ready = ShardLineage.Ready(desc.Shards, IsFinished).Where(s => !done.Contains(s.ShardId)).ToList();
            var progressed = false;
            foreach (var shard in ready)
            {
                var (r, k, fin, interrupted) = await DrainShardAsync(arn, shard, ct, stop).ConfigureAwait(false);
                records += r;
                keys += k;
                read++;
                if (interrupted)
                {
                    stopped = true;
                    break;
                }
                if (fin)
                {
                    done.Add(shard.ShardId);
                    finished++;
                    progressed = true;
                    _shardFinished = true;
                }
            }
            if (!progressed) break; // children of shards finished now become ready in the next round
        }
        if (!stopped)
        {
            _state.SetCheckpoint(Name, CaughtUpCheckpoint, passStart.ToString(CultureInfo.InvariantCulture), NowMs);
            var settled = _state.SettleOpen(Name, maxId, NowMs);
            if (settled > 0) _log.OpenChangesSettled(Name, settled);
        }
        return new TailResult(records, keys, read, finished, CaughtUp: !stopped);
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
        _checkedAt = null;
        _metrics?.Inc(Instruments.TableGaps, 1, _labels);
        _log.StreamGap(Name, why);
        _readers.Clear();
        _watchers.Clear();
        _desc = null;
        _state.SetCheckpoint(Name, StreamCheckpoint, null, NowMs);
        _state.SetCheckpoint(Name, SyncCheckpoint, null, NowMs);
        throw new TrimmedDataAccessException($"{Name}: {why}");
    }

    private async Task<(int Records, int Keys, bool Finished, bool Stopped)> DrainShardAsync(string arn, Shard shard, CancellationToken ct, CancellationToken stop)
    {
        var cp = _state.GetCheckpoint(Name, ShardPrefix + shard.ShardId);
        // "" or none: from TRIM_HORIZON; "at:SEQ": from SEQ (the first record after an initial sync's start); "it:IT":
        // with that iterator (the LATEST position an initial sync started from); else after cp.
        var at = cp is not null && cp.StartsWith(AtPrefix, StringComparison.Ordinal) ? cp[AtPrefix.Length..] : null;
        var iterator = cp is not null && cp.StartsWith(ItPrefix, StringComparison.Ordinal) ? cp[ItPrefix.Length..] : null;
        var after = string.IsNullOrEmpty(cp) || at is not null || iterator is not null ? null : cp;
        // Keep a shard's reader (and its iterator) from one pass to the next while it agrees with the checkpoint:
        // one GetShardIterator per shard, not one per poll.
        var id = $"{arn}|{shard.ShardId}";
        ShardReader reader;
        if (_readers.TryGetValue(id, out var kept) && (kept.Reader.LastSequenceNumber is { } last ? last == after : kept.Origin == (cp ?? "")))
            reader = kept.Reader;
        else
            _readers[id] = (reader = iterator is not null
                ? new ShardReader(_streams, arn, shard.ShardId, ShardIteratorType.Latest, iterator: iterator)
                : new ShardReader(_streams, arn, shard.ShardId, ShardIteratorType.TrimHorizon, after, at), cp ?? "");
        RememberShard(shard.ShardId);
        // "" = being read from TRIM_HORIZON: if such a shard vanishes unfinished, that is a gap too.
        if (cp is null) _state.SetCheckpoint(Name, ShardPrefix + shard.ShardId, "", NowMs);
        int records = 0, keys = 0;
        // While a full batch is applied, the next one is already being read (a shard's batches are still applied one
        // after another, in order; a checkpoint still follows its own batch's writes).
        Task<IReadOnlyList<StreamRecord>?>? next = null;
        try
        {
            while (true)
            {
                if (next is null)
                {
                    if (stop.IsCancellationRequested) return (records, keys, false, true);
                    next = PacedReadAsync(id, reader, ct, stop);
                }
                IReadOnlyList<StreamRecord>? read;
                try { read = await next.ConfigureAwait(false); }
                catch (TrimmedDataAccessException e)
                {
                    next = null;
                    MarkGap($"shard {shard.ShardId}: {e.Message}");
                    throw; // unreachable: MarkGap throws
                }
                next = null;
                if (read is null) return (records, keys, false, true); // stopped while waiting to read
                var batch = read;
                var finished = reader.IsFinished;            // as of this batch, before the next read
                var lastSequence = reader.LastSequenceNumber;
                var readAt = NowMs;
                // Not full: this read reached the shard's tip (the 1 MB cap is counted too); the next pass reads on.
                var full = batch.Count >= ReadLimit || batch.Sum(r => r.SizeBytes) >= 900_000;
                if (full && !finished && !stop.IsCancellationRequested) next = PacedReadAsync(id, reader, ct, stop);
                if (batch.Count > 0)
                {
                    var applyStart = _time.GetTimestamp();
                    var applied = await ApplyAsync(batch, readAt, ct).ConfigureAwait(false);
                    keys += applied;
                    records += batch.Count;
                    Interlocked.Add(ref _recordsApplied, batch.Count);
                    _log.ShardBatchApplied(Name, shard.ShardId, batch.Count, full ? "full" : "to the tip", applied, (int)_time.GetElapsedTime(applyStart).TotalMilliseconds);
                }
                if (finished)
                {
                    _state.SetCheckpoint(Name, ShardPrefix + shard.ShardId, $"{Done}:{lastSequence}", NowMs);
                    return (records, keys, true, false);
                }
                if (batch.Count > 0) _state.SetCheckpoint(Name, ShardPrefix + shard.ShardId, lastSequence, NowMs);
                else KeepPosition(id, shard.ShardId, reader);
                if (!full) return (records, keys, false, false);
            }
        }
        catch when (next is not null)
        {
            // The read ahead is abandoned (the reader no longer agrees with the checkpoint: the next pass starts over
            // from the checkpoint); observe its outcome.
            _ = next.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
    }

    /// <summary>A reader still at the LATEST position an initial sync started from (no record since): its iterator is
    /// kept as the shard's checkpoint ("it:"), renewed every <see cref="PositionKeepInterval"/>, so that the next run
    /// (within the iterator's 15 minutes) does not read the shard from TRIM_HORIZON again.</summary>
    private void KeepPosition(string id, string shardId, ShardReader reader)
    {
        if (reader.PositionIterator is not { } it) return;
        var name = ShardPrefix + shardId;
        var cp = _state.GetCheckpoint(Name, name) ?? "";
        if (cp.Length > 0 && !cp.StartsWith(ItPrefix, StringComparison.Ordinal)) return;
        if (cp.Length > 0 && _positionKeptAt.TryGetValue(id, out var keptAt) && _time.GetElapsedTime(keptAt) < PositionKeepInterval) return;
        var value = ItPrefix + it;
        _state.SetCheckpoint(Name, name, value, NowMs);
        _readers[id] = (reader, value);
        _positionKeptAt[id] = _time.GetTimestamp();
    }

    /// <summary>The next batch of a shard, at least <see cref="ReadSpacing"/> after the previous read of it; null when
    /// <paramref name="stop"/> came during the wait.</summary>
    private async Task<IReadOnlyList<StreamRecord>?> PacedReadAsync(string id, ShardReader reader, CancellationToken ct, CancellationToken stop)
    {
        if (_lastRead.TryGetValue(id, out var last) && _time.GetElapsedTime(last) is var since && since < ReadSpacing)
        {
            try { await Task.Delay(ReadSpacing - since, _time, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return null; }
        }
        _lastRead[id] = _time.GetTimestamp();
        return await reader.ReadAsync(ReadLimit, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// When a change counts as seen at the source (the journal's seen_at, from which lag and RPO are measured), given
    /// the record's ApproximateCreationDateTime and the time its GetRecords call returned. The timestamp is coarse:
    /// AWS rounds it down to the second and DynamoDB Local truncates it to the minute, so the change happened at most
    /// one unit after it (a minute when the timestamp falls on a whole minute, since it may be DynamoDB Local's). The
    /// seen time is the latest time the timestamp allows, never after the read: a record read while Lifeboat keeps up
    /// counts from its read (exact to the poll interval; the timestamp would add up to a minute of lag that did not
    /// happen), and a record that waited in the stream (Lifeboat stopped or behind) counts from its timestamp, so the
    /// wait is measured. A timestamp out of reason (in the future, or older than the stream's 24 h retention) is ignored.
    /// The result never overstates lag; the canary measures it end to end.
    /// </summary>
    public static long SeenAtMs(DateTimeOffset? approximateCreation, long readAtMs)
    {
        if (approximateCreation is not { } a) return readAtMs;
        var ms = a.ToUnixTimeMilliseconds();
        if (ms > readAtMs + (long)TimeSpan.FromMinutes(5).TotalMilliseconds || ms < readAtMs - (long)TimeSpan.FromHours(25).TotalMilliseconds) return readAtMs;
        var precision = ms % 60_000 == 0 ? 60_000 : 1_000;
        return Math.Min(readAtMs, ms + precision);
    }

    /// <summary>
    /// Whether a stream record is already reflected in the initial sync's copy, so the tail (which starts at
    /// TRIM_HORIZON, up to 24 h back) need not apply it again: the scan started after <paramref name="syncStartedAtMs"/>
    /// (the service's Date header of an answer received before the first page) and read every item with a consistent
    /// read, so a change made strictly before it is in the copy (and a later change of the same key comes later in the
    /// stream and is applied). The record's timestamp is rounded down (to the second on AWS, the minute on DynamoDB
    /// Local), so the change happened before timestamp + precision; a margin covers differences between the service's
    /// clocks. Records without a timestamp are always applied.
    /// </summary>
    public static bool CoveredBySync(DateTimeOffset? approximateCreation, long syncStartedAtMs)
    {
        if (approximateCreation is not { } a || syncStartedAtMs == long.MinValue) return false;
        var ms = a.ToUnixTimeMilliseconds();
        var precision = ms % 60_000 == 0 ? 60_000 : 1_000;
        return ms + precision + ClockMarginMs <= syncStartedAtMs;
    }

    /// <summary>
    /// Whether a stream record may describe a change made before the initial sync's scan ended
    /// (<paramref name="syncDoneAtMs"/>, the service's clock), so that the copy may already hold its result: its
    /// rounded-down timestamp, less the clock margin, is not after the scan's end. Unknown (a sync recorded before this
    /// existed): false. A record without a timestamp: true.
    /// </summary>
    public static bool MayBeInCopy(DateTimeOffset? approximateCreation, long syncDoneAtMs)
    {
        if (syncDoneAtMs == long.MinValue) return false;
        if (approximateCreation is not { } a) return true;
        return a.ToUnixTimeMilliseconds() - ClockMarginMs <= syncDoneAtMs;
    }

    /// <summary>Records read from the stream that the initial sync's copy already reflected (not applied again): older
    /// than the scan, or found on the target in the state they would write.</summary>
    public long RecordsCoveredBySync => Interlocked.Read(ref _recordsCovered);
    private long _recordsCovered;

    /// <summary>Applies one batch of one shard: per key, only the last change matters for the final state; the writes
    /// of different keys go out together (BatchWriteItem, chunks in parallel). Returns the number of keys written or
    /// deleted.</summary>
    private async Task<int> ApplyAsync(IReadOnlyList<StreamRecord> batch, long readAtMs, CancellationToken ct)
    {
        var keyNames = _keyNames!;
        if (batch.Count > 0 && CoveredBySync(batch[0].ApproximateCreationDateTime, _syncStartedAtMs))
        {
            // Timestamps grow along a shard: skip the covered head of the batch, except deletes the copy cannot show.
            var covered = batch.TakeWhile(r => CoveredBySync(r.ApproximateCreationDateTime, _syncStartedAtMs)).Count();
            var deletes = await UncopiedDeletesAsync(batch.Take(covered), keyNames, ct).ConfigureAwait(false);
            Interlocked.Add(ref _recordsCovered, covered - deletes.Count);
            batch = deletes.Concat(batch.Skip(covered)).ToList();
            if (batch.Count == 0) return 0;
        }
        // Per key (in first-seen order): the last record, the last image written before a REMOVE (for retain), the
        // earliest seen time (RPO counts from the oldest change not yet durable), the last record's seen time and the
        // number of records.
        var last = new Dictionary<string, (StreamRecord Record, IReadOnlyDictionary<string, DdbValue>? LastPut, long FirstSeen, long LastSeen, int Count)>(StringComparer.Ordinal);
        foreach (var r in batch)
        {
            var key = KeyString(r.Keys, keyNames);
            var seen = SeenAtMs(r.ApproximateCreationDateTime, readAtMs);
            var had = last.TryGetValue(key, out var prev);
            var put = r.EventName == StreamEventName.Remove ? (had ? prev.LastPut : null) : r.NewImage;
            last[key] = (r, put, had ? Math.Min(prev.FirstSeen, seen) : seen, seen, had ? prev.Count + 1 : 1);
        }
        // Keys whose last change may have been made before the initial sync's scan ended: the copy may hold that
        // version already. Their target items are read (consistently), and a key the target already holds in the
        // state this batch would write is not written again. Skipping a write that changes nothing is always correct.
        var compared = last.Where(kv => MayBeInCopy(kv.Value.Record.ApproximateCreationDateTime, _syncDoneAtMs)).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        var onTarget = compared.Count == 0 ? []
            : await TableSchema.BatchGetAsync(_target, _res.Target.Table, compared.Select(k => KeyOf(last[k].Record.Keys, keyNames)).ToList(), keyNames, _time, ct).ConfigureAwait(false);
        // image null: the key is to be absent.
        bool Holds(string key, IReadOnlyDictionary<string, DdbValue>? image) => compared.Contains(key) && (image is null
            ? !onTarget.ContainsKey(key)
            : onTarget.TryGetValue(key, out var there) && DdbValue.M(Project(image)).Equals(DdbValue.M(there)));

        var changes = new List<(string Key, ChangeOp Op, long SeenAtMs)>();
        var writes = new List<WriteRequest>();
        var holds = new List<(string Key, long Seen)>();
        long canarySeq = 0, alreadyThere = 0;
        foreach (var (key, (r, lastPut, firstSeen, lastSeen, count)) in last)
        {
            if (r.EventName != StreamEventName.Remove)
            {
                if (r.NewImage is null)
                    throw new InvalidOperationException($"{Name}: stream record {r.SequenceNumber} has no NewImage (the stream must be NEW_IMAGE or NEW_AND_OLD_IMAGES)");
                if (key == _canaryKeyString && r.NewImage.TryGetValue(CanarySeqAttribute, out var seq) && seq.Type == DdbType.N &&
                    long.TryParse(seq.Text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s))
                    canarySeq = Math.Max(canarySeq, s);
                if (Holds(key, r.NewImage))
                {
                    alreadyThere += count;
                    continue;
                }
                changes.Add((key, ChangeOp.Put, firstSeen));
                writes.Add(new WriteRequest { PutRequest = new PutRequest { Item = DdbSdk.ToSdk(Project(r.NewImage)) } });
                continue;
            }
            switch (_res.Deletes.Mode)
            {
                case DeleteMode.Propagate:
                    if (Holds(key, null))
                    {
                        alreadyThere += count;
                        break;
                    }
                    changes.Add((key, ChangeOp.Delete, firstSeen));
                    writes.Add(new WriteRequest { DeleteRequest = new DeleteRequest { Key = DdbSdk.ToSdk(KeyOf(r.Keys, keyNames)) } });
                    break;
                default:
                    // retain (or hold for a delay): keep the replica, with the last state written in this batch.
                    if (lastPut is not null && !Holds(key, lastPut))
                    {
                        changes.Add((key, ChangeOp.Put, firstSeen));
                        writes.Add(new WriteRequest { PutRequest = new PutRequest { Item = DdbSdk.ToSdk(Project(lastPut)) } });
                    }
                    holds.Add((key, lastSeen));
                    break;
            }
        }
        if (alreadyThere > 0) Interlocked.Add(ref _recordsCovered, alreadyThere);

        var ids = _state.BeginChanges(Name, changes);
        try
        {
            await TableSchema.BatchWriteAsync(_target, _res.Target.Table, writes, TailWriteParallelism, _time, ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Not durable: the changes are open again (the batch is re-read from the checkpoint and re-applied).
            _state.MarkRetryMany(ids, e.Message);
            throw;
        }
        var now = NowMs;
        _state.MarkDurableMany(Name, ids.Zip(changes, (id, c) => (id, c.Key)).ToList(), now);
        if (_metrics is { } m)
        {
            foreach (var c in changes)
                m.Observe(Instruments.ReplicationLag, Math.Max(0, now - c.SeenAtMs) / 1000.0, _labels);
            m.Inc(Instruments.TableRecords, batch.Count, _labels);
            var deletes = changes.Count(c => c.Op == ChangeOp.Delete);
            if (deletes > 0) m.Inc(Instruments.Deletes, deletes, _labels);
            if (changes.Count > deletes) m.Inc(Instruments.TablePuts, changes.Count - deletes, _labels);
        }
        foreach (var (key, seen) in holds)
            _state.Hold(Name, key, seen, _res.Deletes.Mode == DeleteMode.Delayed ? seen + (long)_res.Deletes.Delay.TotalMilliseconds : null);
        if (canarySeq > 0) _state.CanaryArrived(Name, canarySeq, now);
        return writes.Count;
    }

    /// <summary>
    /// Of covered records (made before the initial sync's scan), the REMOVEs the scan's copy does not reflect: the scan
    /// copies what the source has and deletes nothing, so a key deleted before it stays on a target that had it before
    /// the sync: a failback's target (the old primary: a key deleted in the recovery table during the failover stayed at
    /// the primary when its REMOVE was judged covered, seen in CI on 2026-11-22), or a table replicated again after its
    /// state was lost. A covered key
    /// whose last covered record is a REMOVE is applied when it is absent at the source now (consistent read) and
    /// present on the target; a later change of it comes later in the stream and is applied after.
    /// </summary>
    private async Task<List<StreamRecord>> UncopiedDeletesAsync(IEnumerable<StreamRecord> covered, IReadOnlyList<string> keyNames, CancellationToken ct)
    {
        var last = new Dictionary<string, StreamRecord>(StringComparer.Ordinal);
        foreach (var r in covered) last[KeyString(r.Keys, keyNames)] = r;
        var removes = last.Values.Where(r => r.EventName == StreamEventName.Remove).ToList();
        if (removes.Count == 0) return removes;
        var keys = removes.Select(r => KeyOf(r.Keys, keyNames)).ToList();
        var atSource = await TableSchema.BatchGetAsync(_source, _res.Source.Table, keys, keyNames, _time, ct).ConfigureAwait(false);
        var atTarget = await TableSchema.BatchGetAsync(_target, _res.Target.Table, keys, keyNames, _time, ct).ConfigureAwait(false);
        return removes.Where(r => KeyString(r.Keys, keyNames) is var k && !atSource.ContainsKey(k) && atTarget.ContainsKey(k)).ToList();
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

    /// <summary>Initial sync if needed, then the stream until caught up (every open shard answered no more records),
    /// then due deletes. A gap found while tailing re-syncs once and tails again. <paramref name="stop"/> ends it early
    /// (Completed false) after the work in flight.</summary>
    public async Task<TableRunResult> RunOnceAsync(CancellationToken ct, CancellationToken stop = default)
    {
        _state.ReopenActive(Name);
        long scanned = 0, written = 0, swept = 0;
        var syncTime = TimeSpan.Zero;
        for (var attempt = 0; ; attempt++)
        {
            var t0 = _time.GetTimestamp();
            var sync = await InitialSyncAsync(ct, stop).ConfigureAwait(false);
            if (sync.Scanned > 0 || sync.Written > 0 || sync.Swept > 0) syncTime += _time.GetElapsedTime(t0);
            scanned += sync.Scanned;
            written += sync.Written;
            swept += sync.Swept;
            if (!sync.Completed) return new TableRunResult(scanned, written, swept, 0, 0, 0, false, 0, syncTime);
            try
            {
                var covered = RecordsCoveredBySync;
                var t1 = _time.GetTimestamp();
                var tail = await TailOnceAsync(ct, stop).ConfigureAwait(false);
                var tailTime = _time.GetElapsedTime(t1);
                var deletes = tail.CaughtUp ? await ApplyDueDeletesAsync(ct).ConfigureAwait(false) : 0;
                return new TableRunResult(scanned, written, swept, tail.Records, tail.Keys, deletes, tail.CaughtUp, RecordsCoveredBySync - covered, syncTime, tailTime);
            }
            catch (TrimmedDataAccessException) when (attempt == 0) { }
        }
    }

    /// <summary>Replicates until <paramref name="stop"/>: sync if needed, then reads the stream, polling every
    /// <paramref name="poll"/> (250 ms by default) while idle. After <paramref name="stop"/> the batch in flight is
    /// finished and checkpointed; <paramref name="abort"/> cancels in-flight calls. Errors are logged and retried with
    /// backoff (the journal keeps failed changes open, so status shows them in the backlog and RPO).</summary>
    public async Task RunAsync(CancellationToken stop, CancellationToken abort, TimeSpan? poll = null)
    {
        var interval = poll ?? TimeSpan.FromMilliseconds(250);
        _state.ReopenActive(Name);
        var lastPrune = long.MinValue;
        var failures = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (NowMs - lastPrune > 3_600_000)
                {
                    _state.Prune(NowMs - (long)JournalRetention.TotalMilliseconds);
                    lastPrune = NowMs;
                }
                var sync = await InitialSyncAsync(abort, stop, cachedTable: true).ConfigureAwait(false);
                if (!sync.Completed) break;
                var r = await TailOnceAsync(abort, stop, cachedShards: true).ConfigureAwait(false);
                if (r.CaughtUp) await ApplyDueDeletesAsync(abort).ConfigureAwait(false);
                failures = 0;
                if (r.Records == 0) await Task.Delay(interval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested || abort.IsCancellationRequested) { return; }
            catch (TrimmedDataAccessException) { /* gap recorded: the next round re-syncs */ }
            catch (Exception e)
            {
                failures++;
                _metrics?.Inc(Instruments.Errors, 1, Name, "table");
                var wait = TimeSpan.FromMilliseconds(Math.Min(30_000, interval.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 10))));
                _log.TailRetrying(Name, e.Message, Durations.Format(wait));
                try { await Task.Delay(wait, _time, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>While replicating continuously with a <c>canary:</c>: writes the marker item (the canary key, a sequence
    /// number and the time written) to the source every <see cref="TableCanary.Every"/>; <see cref="ApplyAsync"/>
    /// records its arrival when it is durable on the target, so <c>status</c> shows the end-to-end delay measured
    /// independently of the journal's seen times.</summary>
    public async Task RunCanaryAsync(CancellationToken stop)
    {
        if (_res.Canary is not { } canary) return;
        if (_canaryKey is null) await PrepareAsync(stop).ConfigureAwait(false);
        var seq = _state.NextCanarySeq(Name);
        while (!stop.IsCancellationRequested)
        {
            var at = NowMs;
            try
            {
                _state.CanaryWritten(Name, seq, at);
                var item = new Dictionary<string, DdbValue>(_canaryKey!, StringComparer.Ordinal)
                {
                    [CanarySeqAttribute] = DdbValue.N(seq.ToString(CultureInfo.InvariantCulture)),
                    [CanaryWrittenAtAttribute] = DdbValue.N(at.ToString(CultureInfo.InvariantCulture)),
                };
                try { await _source.PutItemAsync(new PutItemRequest { TableName = _res.Source.Table, Item = DdbSdk.ToSdk(item) }, stop).ConfigureAwait(false); }
                catch
                {
                    _state.CanaryForget(Name, seq);
                    throw;
                }
                seq++;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e) { _log.CanaryFailed(Name, e.Message); }
            try { await Task.Delay(canary.Every, _time, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>A key as canonical DynamoDB JSON (attributes in key-schema order): the journal's and holds' key.</summary>
    public static string KeyString(IReadOnlyDictionary<string, DdbValue> keys, IReadOnlyList<string> keyNames) =>
        DdbJson.SerializeItem(KeyOf(keys, keyNames));

    public static Dictionary<string, DdbValue> KeyOf(IReadOnlyDictionary<string, DdbValue> keys, IReadOnlyList<string> keyNames)
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
