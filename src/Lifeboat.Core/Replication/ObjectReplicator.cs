using System.Threading.Channels;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.State;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Core.Replication;

/// <summary>A hint that a source key changed (an S3 event, a delete found undone at the source).
/// Hints are never trusted for content: the replicator always reads the source's current state. Nor for time: a hint
/// counts as seen when Lifeboat receives it (<see cref="ObjectReplicator.Enqueue"/>), whatever its sender claims.</summary>
public sealed record ChangeHint(string SourceKey);

public sealed record PassProgress(long Listed, long InSync, long Copied, long Bytes, long Deleted, long Held, long Failed);

public sealed record PassResult(long Listed, long InSync, long Copied, long Bytes, long Deleted, long Held, long Failed, bool Completed);

public enum SyncOutcome { Copied, AlreadyEqual, Deleted, Held, Absent, Failed }

/// <summary>What a deep pass did: objects compared by HEAD and tags on both sides, those whose metadata or tags were
/// repaired, and those whose repair failed (recorded in the journal, reported and retried like any failed change).</summary>
public sealed record DeepPassResult(long Checked, long Repaired, long Failed, bool Completed);

/// <summary>
/// Replicates one bucket resource. Invariants (docs/design.md):
/// a journal row is marked durable only after the target confirmed the bytes and their checksum;
/// applying a change twice is harmless; every copy reads the source's current state under a per-key lock;
/// every failure is retried with backoff (transient) or recorded as failed and reported (permanent), never dropped;
/// a delete is applied only per policy and never when the key exists again at the source.
/// </summary>
public sealed class ObjectReplicator
{
    private const string PassCheckpoint = "pass-position";
    /// <summary>When the current (or interrupted) pass started, and when the last completed one did (see <see cref="SeenFromSource"/>).</summary>
    private const string PassStartCheckpoint = "pass-started";
    private const string LastPassStartCheckpoint = "last-full-pass-start";
    /// <summary>When the last deep pass ended (or, before the first, when continuous mode first started): the deep
    /// pass schedule counts from it, across restarts.</summary>
    internal const string LastDeepPassCheckpoint = "last-deep-pass";
    /// <summary>Settled journal rows are kept this long (status reads the last hour); open and failed rows are kept.</summary>
    private static readonly TimeSpan JournalRetention = TimeSpan.FromDays(7);
    private const long MaxServerSideCopy = 5L << 30;
    /// <summary>Parts are buffered in memory (within the process's MemoryBudget): larger source parts are not reproduced.</summary>
    private const long MaxBufferedPart = 128L << 20;
    private static readonly long[] PartSizeGuesses = [8L << 20, 5L << 20, 16L << 20, 10L << 20, 15L << 20, 32L << 20, 64L << 20, 100L << 20, 128L << 20];

    private readonly BucketResource _res;
    private readonly IObjectStore _source;
    private readonly IObjectStore _target;
    private readonly StateStore _state;
    private readonly TimeProvider _time;
    private readonly MetricsRegistry _metrics;
    private readonly ILogger _log;
    private readonly KeyLocks _locks = new();
    private readonly RetryPolicy _retry;
    private readonly bool _serverSide;
    private readonly string[] _labels;
    private readonly bool _onlyMissing;

    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>();
    private readonly HashSet<string> _queued = new(StringComparer.Ordinal);
    private (string? Resume, IAsyncEnumerator<PassItem> Items, Task<bool> First)? _prefetched;
    private const long NotLoaded = long.MinValue, NoPass = -1;
    private long _lastPassStartMs = NotLoaded;

    public ObjectReplicator(BucketResource res, IObjectStore source, IObjectStore target, StateStore state,
        TimeProvider time, MetricsRegistry metrics, ILogger log, RetryPolicy? retry = null, bool onlyMissing = false)
    {
        _onlyMissing = onlyMissing;
        _res = res;
        _source = source;
        _target = target;
        _state = state;
        _time = time;
        _metrics = metrics;
        _log = log;
        _labels = [res.Name];
        _serverSide = source.Capabilities.ServerSideCopy && target.Capabilities.ServerSideCopy &&
                      source.EndpointIdentity == target.EndpointIdentity;
        _retry = retry ?? RetryPolicy.Default;
        _metrics.Gauge(Instruments.Backlog, () => _state.Backlog(_res.Name), _labels);
    }

    public BucketResource Resource => _res;

    /// <summary>Runs a store operation under the retry policy; each retry is counted and logged.</summary>
    private Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> action, CancellationToken ct) => _retry.ExecuteAsync(action, _time, OnRetry, ct);

    private Task RetryAsync(Func<CancellationToken, Task> action, CancellationToken ct) => _retry.ExecuteAsync(action, _time, OnRetry, ct);

    private void OnRetry(int retry, StoreException e)
    {
        _metrics.Inc(Instruments.Retries, 1, _labels);
        _log.TransientRetry(_res.Name, retry, _retry.MaxRetries, e.Message);
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private string TargetKey(string sourceKey) => _res.Target.Prefix + sourceKey[_res.Source.Prefix.Length..];
    private string SourceKeyOf(string targetKey) => _res.Source.Prefix + targetKey[_res.Target.Prefix.Length..];
    public bool Covers(string bucket, string key) => bucket == _res.Source.Bucket && key.StartsWith(_res.Source.Prefix, StringComparison.Ordinal) &&
                                                     !TargetClaim.IsReserved(key, _res.Source.Prefix.Length);

    /// <summary>Whether <see cref="PrepareAsync"/> checks (verify) or claims (replicate, serve) the target's marker
    /// (<see cref="TargetClaim"/>); <see cref="ClaimMode.None"/> for restores and the reverse direction.</summary>
    public ClaimMode Claim { get; init; }

    /// <summary><c>--reset-state</c>: a target protected by another state is taken over (logged), not refused.</summary>
    public bool TakeOverClaim { get; init; }

    private Task<(TargetClaim.Found? Found, string? Error)>? _claimRead;

    /// <summary>Checks both buckets are reachable, with errors that name the store, endpoint and bucket (or awaits
    /// <paramref name="bucketsChecked"/>, a <see cref="CheckBucketsAsync"/> started earlier); then reopens the changes a
    /// crashed run left active.</summary>
    public async Task PrepareAsync(CancellationToken ct, Task? bucketsChecked = null)
    {
        await (bucketsChecked ?? CheckBucketsAsync(ct)).ConfigureAwait(false);
        if (Claim != ClaimMode.None) await EnsureClaimAsync(ct).ConfigureAwait(false);
        _state.ReopenActive(_res.Name);
    }

    private async Task<(TargetClaim.Found? Found, string? Error)> ReadClaimAsync(CancellationToken ct)
    {
        try { return (await RetryAsync(t => TargetClaim.ReadAsync(_target, _res.Target, t), ct).ConfigureAwait(false), null); }
        catch (StoreException e) { return (null, e.Message); }
    }

    /// <summary>The target's marker must name this state and resource; when there is none, <see cref="ClaimMode.Claim"/>
    /// writes it. Another state's (or resource's) marker is refused with one line, unless <see cref="TakeOverClaim"/>.</summary>
    private async Task EnsureClaimAsync(CancellationToken ct)
    {
        var (found, error) = await (_claimRead ??= ReadClaimAsync(ct)).ConfigureAwait(false);
        var where = $"{_res.Target.Store}/{_res.Target.Bucket}/{_res.Target.Prefix}";
        if (error is not null) throw new UserErrorException($"resource '{_res.Name}' target ({_res.Target.Where}): cannot read its claim marker: {error}");
        var me = _state.Identity;
        if (found!.Claim is { } c && c.StateId == me.Id && c.Resource == _res.Name) return;
        if (found.Claim is null && found.Unreadable is null)
        {
            if (Claim != ClaimMode.Claim) return;
            await WriteClaimAsync(me, ct).ConfigureAwait(false);
            _log.TargetClaimed(_res.Name, where, _state.Path, me.Short);
            return;
        }
        var problem = found.Unreadable is { } u ? $"has an unreadable claim marker {TargetClaim.Where(_target, _res.Target)} ({u})"
            : found.Claim!.StateId == me.Id ? $"is protected by resource '{found.Claim.Resource}' of this same state file: two resources cannot replicate into one target"
            : $"is protected by another Lifeboat state ({found.Claim.Describe})";
        if (TakeOverClaim)
        {
            if (Claim != ClaimMode.Claim) return;
            await WriteClaimAsync(me, ct).ConfigureAwait(false);
            _log.TargetClaimTakenOver(_res.Name, where, problem, _state.Path, me.Short);
            return;
        }
        var self = found.Claim is { } other && other.StateId == me.Id
            ? $"(if '{found.Claim.Resource}' was renamed '{_res.Name}', run again with --reset-state)"
            : me.CreatedNow
                ? $"and the state file {_state.Path} is new (created just now): if the state file was lost, restore it; to start over knowingly, run again with --reset-state"
                : $"and the state file {_state.Path} (state {me.Short}, created {me.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)} UTC) " +
                  "is not the one that protected it: if the state file was lost or replaced, restore it; to start over knowingly, run again with --reset-state";
        throw new UserErrorException($"resource '{_res.Name}': target {where} {problem} {self}");
    }

    private async Task WriteClaimAsync(StateIdentity me, CancellationToken ct)
    {
        var claim = new TargetClaimRecord(me.Id, _res.Name, System.IO.Path.GetFullPath(_state.Path), Environment.MachineName, _time.GetUtcNow());
        try { await RetryAsync(t => TargetClaim.WriteAsync(_target, _res.Target, claim, t), ct).ConfigureAwait(false); }
        catch (StoreException e)
        {
            throw new UserErrorException($"resource '{_res.Name}' target ({_res.Target.Where}): cannot write its claim marker: {e.Message}", e);
        }
    }

    /// <summary>The reachability part of <see cref="PrepareAsync"/>: no state is read or written, so it can run while the
    /// state store is still opening.</summary>
    public async Task CheckBucketsAsync(CancellationToken ct)
    {
        async Task CheckAsync(IObjectStore store, Location loc, string side)
        {
            try
            {
                await RetryAsync(t => store.CheckBucketAsync(loc.Bucket, t), ct).ConfigureAwait(false);
            }
            catch (StoreException e)
            {
                throw new UserErrorException($"resource '{_res.Name}' {side} ({loc.Where}): {e.Message}", e);
            }
        }
        // Both sides at once; when both fail, the source's error is the one reported. The target's claim marker is
        // read meanwhile (PrepareAsync compares it with the state's id once the state is open).
        var source = CheckAsync(_source, _res.Source, "source");
        var target = CheckAsync(_target, _res.Target, "target");
        if (Claim != ClaimMode.None) _claimRead ??= ReadClaimAsync(ct);
        try { await Task.WhenAll(source, target).ConfigureAwait(false); }
        catch
        {
            await source.ConfigureAwait(false);
            throw;
        }
    }

    // ---------------------------------------------------------------- one key

    /// <summary>Brings the target copy of <paramref name="sourceKey"/> to the source's current state.</summary>
    /// <param name="checkFirst">Compare both sides before copying (used when re-running changes a crash left open:
    /// the copy may have completed before the journal recorded it, and must not be repeated).</param>
    public async Task<SyncOutcome> SyncKeyAsync(string sourceKey, DateTimeOffset seenAt, ObjectInfo? listed, CancellationToken ct, bool checkFirst = false)
    {
        using var _ = await _locks.AcquireAsync(sourceKey, ct).ConfigureAwait(false);
        var (id, seenMs) = _state.BeginChange(_res.Name, sourceKey, ChangeOp.Put, seenAt.ToUnixTimeMilliseconds());
        try
        {
            var outcome = await RetryAsync(async t =>
            {
                if (checkFirst && await AlreadyEqualAsync(sourceKey, t).ConfigureAwait(false))
                {
                    _state.MarkSettled(id, "same", NowMs);
                    return SyncOutcome.AlreadyEqual;
                }
                return await SyncOnceAsync(sourceKey, id, seenMs, listed, t).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
            return outcome;
        }
        catch (StoreException e)
        {
            _state.MarkFailed(id, e.Message, permanent: true);
            _metrics.Inc(Instruments.Errors, 1, _res.Name, e.Kind.ToString().ToLowerInvariant());
            _log.KeyFailed(_res.Name, sourceKey, e.Message);
            return SyncOutcome.Failed;
        }
    }

    private async Task<bool> AlreadyEqualAsync(string sourceKey, CancellationToken ct)
    {
        var s = await _source.HeadAsync(_res.Source.Bucket, sourceKey, ct).ConfigureAwait(false);
        var t = await _target.HeadAsync(_res.Target.Bucket, TargetKey(sourceKey), ct).ConfigureAwait(false);
        if (s is null || t is null) return s is null && t is null;
        return InSync(sourceKey, s.Info, t.Info) && s.Metadata.DifferencesFrom(t.Metadata).Count == 0;
    }

    private async Task<SyncOutcome> SyncOnceAsync(string sourceKey, long id, long seenMs, ObjectInfo? listed, CancellationToken ct)
    {
        var targetKey = TargetKey(sourceKey);
        if (_serverSide && (listed is null || listed.Size <= MaxServerSideCopy))
        {
            string etag;
            try
            {
                etag = await _target.CopyAsync(_res.Source.Bucket, sourceKey, _res.Target.Bucket, targetKey, ObjectMetadata.Empty, ct).ConfigureAwait(false);
            }
            catch (StoreException e) when (e.Kind == StoreErrorKind.NotFound)
            {
                return await HandleMissingSourceAsync(sourceKey, id, seenMs, ct).ConfigureAwait(false);
            }
            // Verified when the copy's ETag is the content MD5 the source reports for its current version.
            var src = listed is not null && listed.ETag == etag ? listed : await _source.StatAsync(_res.Source.Bucket, sourceKey, ct).ConfigureAwait(false);
            if (src is not null && src.ETag == etag && (ETags.IsMd5(etag) || ETags.IsMultipart(etag, out _)))
            {
                seenMs = SeenFromSource(id, seenMs, sourceKey, src);
                Durable(id, seenMs, sourceKey, new ReplicatedRecord(src.ETag, src.Size, etag, NowMs), src.Size);
                return SyncOutcome.Copied;
            }
            // The server gave the copy a new ETag (e.g. a multipart source): fall back to a streamed copy,
            // which recomputes and checks both sides' checksums.
        }

        await using var reader = await _source.GetAsync(_res.Source.Bucket, sourceKey, ct).ConfigureAwait(false);
        if (reader is null) return await HandleMissingSourceAsync(sourceKey, id, seenMs, ct).ConfigureAwait(false);
        var info = reader.Head.Info;
        var (layout, sourcePartSize, partSizeCertain) = await ChooseLayoutAsync(sourceKey, info, ct).ConfigureAwait(false);
        var targetMultipart = _target.Capabilities.Multipart && layout.IsMultipart(info.Size);
        // One part size serves both checks: the target's multipart ETag (our layout) and the source's (its layout);
        // when both are multipart the layout was chosen equal to the source's.
        using var hashing = new HashingStream(reader.Content, targetMultipart ? layout.PartSize : sourcePartSize);
        var targetETag = await _target.PutAsync(_res.Target.Bucket, targetKey, hashing, info.Size, reader.Head.Metadata, layout, ct).ConfigureAwait(false);

        if (hashing.BytesRead != info.Size)
            throw new StoreException(StoreErrorKind.Transient, $"{sourceKey}: read {hashing.BytesRead} bytes, the source said {info.Size}");
        var md5 = hashing.Md5Hex();
        var expected = targetMultipart ? hashing.MultipartETag() : md5;
        if (targetETag != expected)
            throw new StoreException(StoreErrorKind.Transient, $"{_target.Describe}: {targetKey}: target checksum {targetETag} does not match the {expected} computed from the bytes sent");
        if (ETags.IsMd5(info.ETag) && info.ETag != md5)
            throw new StoreException(StoreErrorKind.Transient, $"{_source.Describe}: {sourceKey}: content read has MD5 {md5}, the source reports {info.ETag} (changed during the copy, or corrupted in transit)");
        if (sourcePartSize is not null && (!targetMultipart || layout.PartSize == sourcePartSize) && hashing.MultipartETag() != info.ETag)
        {
            // With a guessed part size a mismatch may only mean the source used another layout with the same part
            // count: the target's checksum was verified above, the source's read cannot be. With a known one it is an error.
            if (!partSizeCertain)
                _log.GuessedPartSizeMissed(_res.Name, sourceKey, sourcePartSize);
            else throw new StoreException(StoreErrorKind.Transient, $"{_source.Describe}: {sourceKey}: recomputed multipart ETag {hashing.MultipartETag()} does not match the source's {info.ETag}");
        }
        if (info.ETag.StartsWith("W/", StringComparison.Ordinal))
        {
            // A file with no recorded checksum: make sure it did not change while it was read.
            var after = await _source.StatAsync(_res.Source.Bucket, sourceKey, ct).ConfigureAwait(false);
            if (after is null || after.ETag != info.ETag)
                throw new StoreException(StoreErrorKind.Transient, $"{_source.Describe}: {sourceKey}: changed while being copied");
        }
        seenMs = SeenFromSource(id, seenMs, sourceKey, info);
        Durable(id, seenMs, sourceKey, new ReplicatedRecord(info.ETag, info.Size, targetETag, NowMs), info.Size);
        return SyncOutcome.Copied;
    }

    /// <summary>
    /// When a copied change counts as seen, for lag and RPO. Only times Lifeboat can trust: the time it received the
    /// hint or found the difference (<paramref name="seenMs"/>), or, earlier, the source's own Last-Modified of the
    /// version just copied, as read from the source under the key's lock. That time is used only when it is in the past
    /// (not after <paramref name="seenMs"/>), not before the start of the last completed full pass (a version older
    /// than that was listed by that pass, so it is not a change Lifeboat missed until now; and with no completed pass,
    /// as during a backfill, nothing says when a change happened), and when this version is not the one already
    /// replicated (a replayed event for an unchanged object is no change). So an event's own time never moves a figure,
    /// and a source clock or file time in the future or the distant past cannot either.
    /// </summary>
    private long SeenFromSource(long id, long seenMs, string sourceKey, ObjectInfo source)
    {
        var modified = source.LastModified.ToUnixTimeMilliseconds();
        if (modified >= seenMs || LastPassStartMs() is not { } since || modified < since) return seenMs;
        if (_state.GetReplicated(_res.Name, sourceKey) is { } rec && rec.SourceETag == source.ETag && rec.SourceSize == source.Size) return seenMs;
        _state.LowerSeen(id, modified);
        return modified;
    }

    private long? LastPassStartMs()
    {
        var v = Volatile.Read(ref _lastPassStartMs);
        if (v == NotLoaded)
        {
            v = long.TryParse(_state.GetCheckpoint(_res.Name, LastPassStartCheckpoint), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var ms) ? ms : NoPass;
            Volatile.Write(ref _lastPassStartMs, v);
        }
        return v >= 0 ? v : null;
    }

    /// <param name="copied">False for a metadata-only repair (a deep pass's): not counted as a copy.</param>
    private void Durable(long id, long seenMs, string sourceKey, ReplicatedRecord? rec, long bytes, bool copied = true)
    {
        var now = NowMs;
        _state.MarkDurable(id, now, rec, _res.Name, sourceKey);
        _metrics.Observe(Instruments.ReplicationLag, Math.Max(0, now - seenMs) / 1000.0, _labels);
        if (rec is not null && copied)
        {
            _metrics.Inc(Instruments.Copies, 1, _labels);
            _metrics.Inc(Instruments.Bytes, bytes, _labels);
        }
    }

    /// <summary>The target's upload layout, and the source's part size when its ETag is multipart and the part size
    /// is known or uniquely guessed (then the copy reproduces it, so both multipart ETags can be checked).</summary>
    private async Task<(PartLayout Layout, long? SourcePartSize, bool Certain)> ChooseLayoutAsync(string sourceKey, ObjectInfo info, CancellationToken ct)
    {
        var caps = _target.Capabilities;
        var threshold = _res.MultipartThreshold ?? caps.DefaultMultipartThreshold;
        var partSize = _res.PartSize ?? caps.DefaultPartSize;
        long? sourcePart = null;
        var certain = false;
        if (ETags.IsMultipart(info.ETag, out var parts) && info.Size > 0)
        {
            if (_source is IPartSizeProbe probe &&
                await probe.FirstPartSizeAsync(_res.Source.Bucket, sourceKey, ct).ConfigureAwait(false) is { } p &&
                p > 0 && p <= MaxBufferedPart && (info.Size + p - 1) / p == parts)
                (sourcePart, certain) = (p, true);
            else
                foreach (var guess in PartSizeGuesses.Prepend(partSize))
                    if ((info.Size + guess - 1) / guess == parts) { sourcePart = guess; break; }
        }
        if (!caps.Multipart) return (new PartLayout(long.MaxValue, partSize), sourcePart, certain);
        // Reproduce the source's layout so the target's ETag equals the source's: end-to-end verification.
        if (sourcePart is { } sp && parts <= caps.MaxParts) return (new PartLayout(0, sp), sourcePart, certain);
        if (info.Size > threshold)
        {
            // Keep within the store's part count limit, rounding up to whole MiB.
            var min = (info.Size + caps.MaxParts - 1) / caps.MaxParts;
            if (min > partSize) partSize = (min + (1 << 20) - 1) / (1 << 20) * (1 << 20);
        }
        return (new PartLayout(threshold, partSize), sourcePart, certain);
    }

    private async Task<SyncOutcome> HandleMissingSourceAsync(string sourceKey, long id, long seenMs, CancellationToken ct)
    {
        var targetKey = TargetKey(sourceKey);
        var th = await _target.StatAsync(_res.Target.Bucket, targetKey, ct).ConfigureAwait(false);
        if (th is null)
        {
            Durable(id, seenMs, sourceKey, null, 0);
            return SyncOutcome.Absent;
        }
        switch (_res.Deletes.Mode)
        {
            case DeleteMode.Propagate:
                await _target.DeleteAsync(_res.Target.Bucket, targetKey, ct).ConfigureAwait(false);
                Durable(id, seenMs, sourceKey, null, 0);
                _metrics.Inc(Instruments.Deletes, 1, _labels);
                _log.DeletePropagated(_res.Name, targetKey);
                return SyncOutcome.Deleted;
            case DeleteMode.Delayed:
                _state.Hold(_res.Name, sourceKey, seenMs, seenMs + (long)_res.Deletes.Delay.TotalMilliseconds);
                _state.MarkSettled(id, "held", NowMs);
                return SyncOutcome.Held;
            default:
                _state.Hold(_res.Name, sourceKey, seenMs, null);
                _state.MarkSettled(id, "held", NowMs);
                return SyncOutcome.Held;
        }
    }

    /// <summary>Applies delayed deletes whose time has come, re-checking that the source still lacks the key.</summary>
    public async Task<int> ApplyDueDeletesAsync(CancellationToken ct)
    {
        if (_res.Deletes.Mode == DeleteMode.Retain) return 0;
        var applied = 0;
        foreach (var h in _state.HeldDeletes(_res.Name, dueBeforeMs: NowMs))
        {
            using var _ = await _locks.AcquireAsync(h.Key, ct).ConfigureAwait(false);
            try
            {
                await RetryAsync(async t =>
                {
                    if (await _source.StatAsync(_res.Source.Bucket, h.Key, t).ConfigureAwait(false) is not null)
                    {
                        _state.Unhold(_res.Name, h.Key); // back at the source: never delete; the next sync copies it
                        Enqueue(new ChangeHint(h.Key));
                        return;
                    }
                    await _target.DeleteAsync(_res.Target.Bucket, TargetKey(h.Key), t).ConfigureAwait(false);
                    var (id, _) = _state.BeginChange(_res.Name, h.Key, ChangeOp.Delete, h.SeenAtMs);
                    Durable(id, h.SeenAtMs, h.Key, null, 0);
                    _metrics.Inc(Instruments.Deletes, 1, _labels);
                    applied++;
                }, ct).ConfigureAwait(false);
            }
            catch (StoreException e)
            {
                _metrics.Inc(Instruments.Errors, 1, _res.Name, e.Kind.ToString().ToLowerInvariant());
                _log.DelayedDeleteFailed(_res.Name, h.Key, e.Message);
            }
        }
        return applied;
    }

    // ---------------------------------------------------------------- full pass (backfill and reconciliation)

    /// <summary>Whether the target copy equals the source, judged from listings plus what Lifeboat recorded when it
    /// copied (a multipart target ETag differs from a single-part source's MD5 and is matched through the record).</summary>
    public bool InSync(string sourceKey, ObjectInfo src, ObjectInfo tgt)
    {
        if (src.Size != tgt.Size) return false;
        if (src.ETag == tgt.ETag && !src.ETag.StartsWith("W/", StringComparison.Ordinal)) return true;
        var rec = _state.GetReplicated(_res.Name, sourceKey);
        return rec is not null && rec.SourceETag == src.ETag && rec.SourceSize == src.Size && rec.TargetETag == tgt.ETag;
    }

    /// <summary>Sends the next pass's first listing requests (both sides) now, so that they travel while the bucket
    /// checks do (`replicate --once`); the next <see cref="ReconcileAsync"/> starts from them. Read-only requests; not
    /// done when changes are left open (retrying them first could make the listing stale: not wrong, but copies twice).
    /// Returns the first pages' task (completed at once when nothing is prefetched); the pass reports its errors.</summary>
    public Task PrefetchPass(CancellationToken stop)
    {
        if (_prefetched is not null || _state.Backlog(_res.Name) > 0 || _state.Failed(_res.Name).Count > 0) return Task.CompletedTask;
        var resume = _state.GetCheckpoint(_res.Name, PassCheckpoint);
        var items = PairedListing.MergeAsync(_source, _res.Source, _target, _res.Target, resume, stop).GetAsyncEnumerator(stop);
        _prefetched = (resume, items, items.MoveNextAsync().AsTask());
        return _prefetched.Value.First;
    }

    /// <summary>One pass over both sides: copies what is missing or different, applies the delete policy to what the
    /// source no longer has, and checkpoints the key position below which everything is durable.</summary>
    public async Task<PassResult> ReconcileAsync(IProgress<PassProgress>? progress, CancellationToken stop, CancellationToken abort = default)
    {
        var resume = _state.GetCheckpoint(_res.Name, PassCheckpoint);
        // A resumed pass keeps the start of the run that began it (the keys before the resume point were listed then).
        if (resume is null) _state.SetCheckpoint(_res.Name, PassStartCheckpoint, NowMs.ToString(System.Globalization.CultureInfo.InvariantCulture), NowMs);
        var passStarted = _state.GetCheckpoint(_res.Name, PassStartCheckpoint);
        IAsyncEnumerator<PassItem> items;
        Task<bool> first;
        if (_prefetched is { } p && p.Resume == resume) (items, first) = (p.Items, p.First);
        else
        {
            if (_prefetched is { } stale) await DiscardAsync(stale.Items, stale.First).ConfigureAwait(false);
            items = PairedListing.MergeAsync(_source, _res.Source, _target, _res.Target, resume, stop).GetAsyncEnumerator(stop);
            first = items.MoveNextAsync().AsTask();
        }
        _prefetched = null;
        if (resume is not null) _log.PassResuming(_res.Name, resume);
        long listed = 0, inSync = 0, copied = 0, bytes = 0, deleted = 0, held = 0, failed = 0;
        var tracker = new CompletionTracker();
        using var gate = new SemaphoreSlim(_res.Concurrency);
        var running = new List<Task>();
        var lastCheckpoint = _time.GetTimestamp();
        var completed = false;
        var anyHeld = _state.HeldDeletes(_res.Name).Count > 0;

        void Report() => progress?.Report(new PassProgress(listed, Interlocked.Read(ref inSync), Interlocked.Read(ref copied),
            Interlocked.Read(ref bytes), Interlocked.Read(ref deleted), Interlocked.Read(ref held), Interlocked.Read(ref failed)));

        void MaybeCheckpoint(bool force)
        {
            if (!force && _time.GetElapsedTime(lastCheckpoint) < TimeSpan.FromSeconds(1)) return;
            lastCheckpoint = _time.GetTimestamp();
            if (tracker.LowWater is { } key) _state.SetCheckpoint(_res.Name, PassCheckpoint, key, NowMs);
        }

        try
        {
            await using var _ = items.ConfigureAwait(false);
            for (var more = await first.ConfigureAwait(false); more; more = await items.MoveNextAsync().ConfigureAwait(false))
            {
                var item = items.Current;
                listed++;
                var seq = tracker.Add(item.Rel);
                var sourceKey = _res.Source.Prefix + item.Rel;
                if (item.Side == Side.Both && (_onlyMissing || InSync(sourceKey, item.Source!, item.Target!)))
                {
                    Interlocked.Increment(ref inSync);
                    tracker.Complete(seq);
                    if (anyHeld) _state.Unhold(_res.Name, sourceKey); // back at the source and equal: no longer a held delete
                    MaybeCheckpoint(false);
                    if (listed % 256 == 0) Report();
                    continue;
                }
                if (item.Side == Side.TargetOnly && (_onlyMissing || IsHeld(sourceKey)))
                {
                    Interlocked.Increment(ref held);
                    tracker.Complete(seq);
                    continue;
                }
                await gate.WaitAsync(stop).ConfigureAwait(false);
                running.Add(Task.Run(async () =>
                {
                    try
                    {
                        var outcome = await SyncKeyAsync(sourceKey, _time.GetUtcNow(), item.Source, abort).ConfigureAwait(false);
                        switch (outcome)
                        {
                            case SyncOutcome.Copied: Interlocked.Increment(ref copied); Interlocked.Add(ref bytes, item.Source?.Size ?? 0); break;
                            case SyncOutcome.Deleted: Interlocked.Increment(ref deleted); break;
                            case SyncOutcome.Held: Interlocked.Increment(ref held); break;
                            case SyncOutcome.Failed: Interlocked.Increment(ref failed); break;
                        }
                    }
                    finally
                    {
                        gate.Release();
                        tracker.Complete(seq);
                    }
                }, CancellationToken.None));
                if (running.Count > 4 * _res.Concurrency) running.RemoveAll(t => t.IsCompleted);
                MaybeCheckpoint(false);
                Report();
            }
            completed = true;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            _log.PassStopping(_res.Name, running.Count(t => !t.IsCompleted));
        }
        finally
        {
            // In-flight copies finish (or are aborted by the hard-stop token) before the checkpoint is written.
            try { await Task.WhenAll(running).ConfigureAwait(false); }
            finally
            {
                if (completed)
                {
                    _state.SetCheckpoint(_res.Name, PassCheckpoint, null, NowMs);
                    _state.SetCheckpoint(_res.Name, "last-full-pass", NowMs.ToString(System.Globalization.CultureInfo.InvariantCulture), NowMs);
                    if (long.TryParse(passStarted, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var startedMs))
                    {
                        _state.SetCheckpoint(_res.Name, LastPassStartCheckpoint, passStarted, NowMs);
                        Volatile.Write(ref _lastPassStartMs, startedMs);
                    }
                }
                else MaybeCheckpoint(true);
                Report();
            }
        }
        _metrics.Inc(Instruments.Passes, completed ? 1 : 0, _labels);
        return new PassResult(listed, inSync, copied, bytes, deleted, held, failed, completed);
    }

    private static async Task DiscardAsync(IAsyncEnumerator<PassItem> items, Task<bool> first)
    {
        try { await first.ConfigureAwait(false); } catch { /* a listing nobody reads: its outcome does not matter */ }
        await items.DisposeAsync().ConfigureAwait(false);
    }

    private bool IsHeld(string sourceKey)
    {
        if (_res.Deletes.Mode == DeleteMode.Propagate) return false;
        return _state.IsHeld(_res.Name, sourceKey);
    }

    /// <summary>What retrying the changes an earlier run left open did.</summary>
    public sealed record RetryResult(int Retried, int Copied, int Failed);

    /// <summary>Retries changes recorded but not finished (a crash, an earlier permanent failure).</summary>
    public async Task<RetryResult> RetryOpenChangesAsync(CancellationToken ct)
    {
        _state.ReopenFailed(_res.Name);
        _state.ReopenActive(_res.Name);
        var open = _state.OpenChanges(_res.Name);
        if (open.Count == 0) return new RetryResult(0, 0, 0);
        int failed = 0, copied = 0;
        await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = _res.Concurrency, CancellationToken = ct }, async (c, t) =>
        {
            var outcome = await SyncKeyAsync(c.Key, DateTimeOffset.FromUnixTimeMilliseconds(c.SeenAtMs), null, t, checkFirst: true).ConfigureAwait(false);
            if (outcome == SyncOutcome.Failed) Interlocked.Increment(ref failed);
            else if (outcome == SyncOutcome.Copied) Interlocked.Increment(ref copied);
        }).ConfigureAwait(false);
        return new RetryResult(open.Count, copied, failed);
    }

    // ---------------------------------------------------------------- deep pass (metadata and tags)

    /// <summary>
    /// The deep pass: every key both sides hold with equal content (as the normal pass judges it from listings) is
    /// HEADed with its tags on both sides, under its key lock, and when the content headers, user metadata or tags
    /// differ (a PutObjectTagging, or a copy onto itself with REPLACE, keeps the ETag, so no listing shows it) the target
    /// is repaired: in place when the target store can (<see cref="IMetadataUpdate"/>: tags, a copy with REPLACE, a
    /// sidecar), otherwise by copying the object again. Each repair is a journal change (durable or failed, reported and
    /// retried like a copy). Separate work from <see cref="ReconcileAsync"/>, whose requests it does not add to; keys
    /// whose content differs are the normal pass's. Records its end (<see cref="LastDeepPassCheckpoint"/>) when it
    /// completes.
    /// </summary>
    public async Task<DeepPassResult> DeepReconcileAsync(CancellationToken stop, CancellationToken abort = default)
    {
        long checkedCount = 0, repaired = 0, failed = 0;
        var completed = false;
        using var gate = new SemaphoreSlim(_res.Concurrency);
        var running = new List<Task>();
        try
        {
            await foreach (var item in PairedListing.MergeAsync(_source, _res.Source, _target, _res.Target, null, stop).ConfigureAwait(false))
            {
                var sourceKey = _res.Source.Prefix + item.Rel;
                if (item.Side != Side.Both || !InSync(sourceKey, item.Source!, item.Target!)) continue;
                await gate.WaitAsync(stop).ConfigureAwait(false);
                running.Add(Task.Run(async () =>
                {
                    try
                    {
                        switch (await DeepKeyAsync(sourceKey, abort).ConfigureAwait(false))
                        {
                            case DeepOutcome.Repaired: Interlocked.Increment(ref repaired); break;
                            case DeepOutcome.Failed: Interlocked.Increment(ref failed); break;
                        }
                        Interlocked.Increment(ref checkedCount);
                    }
                    finally { gate.Release(); }
                }, CancellationToken.None));
                if (running.Count > 4 * _res.Concurrency) running.RemoveAll(t => t.IsCompleted);
            }
            completed = true;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            _log.DeepPassStopping(_res.Name, running.Count(t => !t.IsCompleted));
        }
        finally
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        if (completed)
        {
            _state.SetCheckpoint(_res.Name, LastDeepPassCheckpoint, NowMs.ToString(System.Globalization.CultureInfo.InvariantCulture), NowMs);
            _metrics.Inc(Instruments.DeepPasses, 1, _labels);
        }
        return new DeepPassResult(checkedCount, repaired, failed, completed);
    }

    private enum DeepOutcome { Equal, Repaired, Changed, Failed }

    private async Task<DeepOutcome> DeepKeyAsync(string sourceKey, CancellationToken ct)
    {
        using var keyLock = await _locks.AcquireAsync(sourceKey, ct).ConfigureAwait(false);
        var targetKey = TargetKey(sourceKey);
        long id = -1, seenMs = 0;
        try
        {
            return await RetryAsync(async t =>
            {
                var sh = _source.HeadAsync(_res.Source.Bucket, sourceKey, t);
                var th = _target.HeadAsync(_res.Target.Bucket, targetKey, t);
                try { await Task.WhenAll(sh, th).ConfigureAwait(false); }
                catch
                {
                    await sh.ConfigureAwait(false); // the source's error is the one reported
                    throw;
                }
                var (s, g) = (sh.Result, th.Result);
                // Changed since the listing: the change's event or the next normal pass copies it, metadata included.
                if (s is null || g is null || !InSync(sourceKey, s.Info, g.Info)) return DeepOutcome.Changed;
                var diffs = s.Metadata.DifferencesFrom(g.Metadata);
                if (diffs.Count == 0) return DeepOutcome.Equal;
                if (id < 0) (id, seenMs) = _state.BeginChange(_res.Name, sourceKey, ChangeOp.Put, NowMs);
                if (_target is IMetadataUpdate update && await update.UpdateMetadataAsync(_res.Target.Bucket, targetKey, g, s.Metadata, t).ConfigureAwait(false))
                    Durable(id, seenMs, sourceKey, new ReplicatedRecord(s.Info.ETag, s.Info.Size, g.Info.ETag, NowMs), 0, copied: false);
                else if (await SyncOnceAsync(sourceKey, id, seenMs, s.Info, t).ConfigureAwait(false) != SyncOutcome.Copied)
                    return DeepOutcome.Changed; // gone from the source meanwhile: handled by the delete policy
                _metrics.Inc(Instruments.MetadataRepairs, 1, _labels);
                _log.MetadataRepaired(_res.Name, sourceKey, string.Join("; ", diffs));
                return DeepOutcome.Repaired;
            }, ct).ConfigureAwait(false);
        }
        catch (StoreException e)
        {
            if (id < 0) (id, _) = _state.BeginChange(_res.Name, sourceKey, ChangeOp.Put, NowMs);
            _state.MarkFailed(id, e.Message, permanent: true);
            _metrics.Inc(Instruments.Errors, 1, _res.Name, e.Kind.ToString().ToLowerInvariant());
            _log.DeepKeyFailed(_res.Name, sourceKey, e.Message);
            return DeepOutcome.Failed;
        }
    }

    /// <summary>When the next deep pass is due: <c>deep_reconcile_every</c> after the last one ended (kept in the state
    /// store, so a restart keeps the schedule). Before any, the schedule starts now: the first deep pass comes one period
    /// after continuous replication first started (the backfill copies metadata and tags with the bytes).</summary>
    public DateTimeOffset? NextDeepPass()
    {
        if (_res.DeepReconcileEvery is not { } every) return null;
        var last = _state.GetCheckpoint(_res.Name, LastDeepPassCheckpoint);
        if (!long.TryParse(last, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var lastMs))
        {
            lastMs = NowMs;
            _state.SetCheckpoint(_res.Name, LastDeepPassCheckpoint, lastMs.ToString(System.Globalization.CultureInfo.InvariantCulture), lastMs);
        }
        return DateTimeOffset.FromUnixTimeMilliseconds(lastMs) + every;
    }

    /// <summary>Continuous mode's deep passes, each when <see cref="NextDeepPass"/> says; a pass that fails (a listing
    /// error after retries) is logged and tried again after <c>reconcile_every</c>.</summary>
    private async Task DeepLoopAsync(CancellationToken stop, CancellationToken abort)
    {
        while (!stop.IsCancellationRequested && NextDeepPass() is { } due)
        {
            try
            {
                var wait = due - _time.GetUtcNow();
                if (wait > TimeSpan.Zero) await Task.Delay(wait, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            try
            {
                var r = await DeepReconcileAsync(stop, abort).ConfigureAwait(false);
                if (r.Completed)
                    _log.DeepPassDone(_res.Name, r.Checked, r.Repaired, r.Failed);
                continue;
            }
            catch (StoreException e)
            {
                _metrics.Inc(Instruments.Errors, 1, _res.Name, e.Kind.ToString().ToLowerInvariant());
                _log.DeepPassFailed(_res.Name, Durations.Format(_res.ReconcileEvery), e.Message);
            }
            try { await Task.Delay(_res.ReconcileEvery, _time, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    // ---------------------------------------------------------------- continuous mode

    /// <summary>Records a change hint durably, seen now (it counts toward RPO from the time Lifeboat received it, never
    /// from a time the sender claims), and queues the key. A key that cannot exist at the source (<see cref="KeyProblem"/>)
    /// is refused: counted, logged, never journaled. Returns whether the hint was taken.</summary>
    public bool Enqueue(ChangeHint hint)
    {
        if (!Covers(_res.Source.Bucket, hint.SourceKey)) return false;
        if (KeyProblem(hint.SourceKey) is { } problem)
        {
            _metrics.Inc(Instruments.EventsRefused, 1, _res.Name, "invalid-key");
            _log.EventKeyRefused(_res.Name, problem, S3Events.Shown(hint.SourceKey));
            return false;
        }
        _state.RecordSeen(_res.Name, hint.SourceKey, ChangeOp.Put, NowMs);
        _metrics.Inc(Instruments.Events, 1, _labels);
        lock (_queued)
            if (!_queued.Add(hint.SourceKey)) return true;
        _queue.Writer.TryWrite(hint.SourceKey);
        return true;
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Why <paramref name="sourceKey"/> cannot name an object at the source, or null. S3's rules for every store
    /// (1 to 1024 bytes of UTF-8; no NUL, which no S3 request or listing can carry), then the source store's own
    /// (<see cref="IKeyRules"/>: a folder store's keys stay inside its folder).</summary>
    public string? KeyProblem(string sourceKey)
    {
        if (sourceKey.Length == 0) return "empty key";
        if (sourceKey.Contains('\0')) return "key contains NUL";
        int bytes;
        try { bytes = StrictUtf8.GetByteCount(sourceKey); }
        catch (System.Text.EncoderFallbackException) { return "key is not valid Unicode"; }
        if (bytes > 1024) return $"key is {bytes} bytes of UTF-8; S3 allows 1024";
        return _source is IKeyRules rules ? rules.KeyProblem(_res.Source.Bucket, sourceKey) : null;
    }

    /// <summary>Runs until <paramref name="stop"/>: event workers plus a reconciliation pass every reconcile_every.
    /// On stop, finishes in-flight copies (unless <paramref name="abort"/> fires), checkpoints and returns.</summary>
    public async Task RunAsync(IProgress<PassProgress>? progress, CancellationToken stop, CancellationToken abort)
    {
        var workers = Enumerable.Range(0, _res.Concurrency).Select(_ => Task.Run(() => WorkerAsync(stop, abort), CancellationToken.None)).ToList();
        var sweeper = Task.Run(() => SweepAsync(stop, abort), CancellationToken.None);
        // Separate work on its own schedule: the normal passes neither wait for it nor send its requests.
        var deep = Task.Run(() => DeepLoopAsync(stop, abort), CancellationToken.None);
        try
        {
            await RetryOpenChangesAsync(abort).ConfigureAwait(false);
            while (!stop.IsCancellationRequested)
            {
                var r = await ReconcileAsync(progress, stop, abort).ConfigureAwait(false);
                _state.Prune(NowMs - (long)JournalRetention.TotalMilliseconds);
                if (r.Completed)
                    _log.PassDone(_res.Name, r.Listed, r.Copied, r.Deleted, r.Held, r.Failed);
                try { await Task.Delay(_res.ReconcileEvery, _time, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                _state.ReopenFailed(_res.Name);
            }
        }
        finally
        {
            _queue.Writer.TryComplete();
            await Task.WhenAll(workers.Append(sweeper).Append(deep)).ConfigureAwait(false);
        }
    }

    private async Task WorkerAsync(CancellationToken stop, CancellationToken abort)
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stop).ConfigureAwait(false))
            {
                while (!stop.IsCancellationRequested && _queue.Reader.TryRead(out var key))
                {
                    lock (_queued) _queued.Remove(key);
                    await SyncKeyAsync(key, _time.GetUtcNow(), null, abort).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    private async Task SweepAsync(CancellationToken stop, CancellationToken abort)
    {
        var every = TimeSpan.FromSeconds(Math.Clamp(_res.ReconcileEvery.TotalSeconds / 4, 1, 30));
        while (!stop.IsCancellationRequested)
        {
            try { await Task.Delay(every, _time, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            await ApplyDueDeletesAsync(abort).ConfigureAwait(false);
        }
    }
}

/// <summary>Tracks items listed in key order and completed in any order; <see cref="LowWater"/> is the largest key
/// at or below which every item is complete: the only position a checkpoint may name.</summary>
internal sealed class CompletionTracker
{
    private readonly Lock _gate = new();
    private readonly Queue<(long Seq, string Key)> _order = new();
    private readonly HashSet<long> _done = [];
    private long _next;

    public string? LowWater { get { lock (_gate) return _low; } }
    private string? _low;

    public long Add(string key)
    {
        lock (_gate)
        {
            _order.Enqueue((_next, key));
            return _next++;
        }
    }

    public void Complete(long seq)
    {
        lock (_gate)
        {
            _done.Add(seq);
            while (_order.Count > 0 && _done.Remove(_order.Peek().Seq)) _low = _order.Dequeue().Key;
        }
    }
}
