using Microsoft.Data.Sqlite;

namespace Lifeboat.Core.State;

public enum ChangeOp { Put, Delete }

public sealed record ReplicatedRecord(string SourceETag, long SourceSize, string TargetETag, long ReplicatedAtMs);

public sealed record HeldDelete(string Key, long SeenAtMs, long? DueAtMs);

public sealed record FailedChange(string Key, ChangeOp Op, long SeenAtMs, string Error, int Attempts);

public sealed record ResourceStats(
    long Backlog,
    long? OldestPendingSeenAtMs,
    long? LastDurableAtMs,
    string? LastKey,
    long[] LagsLastHourMs,
    long Failed,
    long HeldDeletes,
    long? LastFullPassAtMs);

/// <summary>End-to-end canary probes of a resource: the last written and arrived, the open ones (written, not yet
/// durable on the target) and the arrival lags (milliseconds, sorted) of the last hour.</summary>
public sealed record CanaryStats(long? LastWrittenAtMs, long? LastArrivedAtMs, long? LastLagMs, long Open, long? OldestOpenWrittenAtMs, long[] LagsLastHourMs);

/// <summary>
/// Lifeboat's state in SQLite: the change journal (when each change was seen at the source and when it was
/// durable on the target), what was replicated (source and target ETags, so a copy is not repeated),
/// deletes held back by policy, and checkpoints.
/// Durability: WAL mode with synchronous=NORMAL. A process crash (kill -9) loses no committed transaction;
/// a power loss can lose the last few, which only makes Lifeboat re-check work it had finished, never skip work:
/// every row here is written after the effect it records is durable on the target.
/// One connection per process, guarded by a lock: SQLite serialises writers anyway.
/// </summary>
public sealed class StateStore : IDisposable
{
    private readonly Task<(SqliteDb Db, StateIdentity Identity)> _opening;
    private SqliteDb? _opened;
    private readonly Lock _gate = new();

    public string Path { get; }

    /// <summary>Opens the state file (creating it and its schema, upgrading an older one), or fails with a user error
    /// naming it (<see cref="StateFile.Open"/>).</summary>
    public StateStore(string path, StateOpenOptions? options = null) : this(path, options ?? StateOpenOptions.Default, background: false) { }

    private StateStore(string path, StateOpenOptions options, bool background)
    {
        Path = path;
        _opening = background ? Task.Run(() => StateFile.Open(path, options)) : Task.FromResult(StateFile.Open(path, options));
    }

    /// <summary>A state store whose file is opened on a thread-pool thread while the caller goes on: a command's
    /// start-up overlaps SQLite's (native library, checks) with its first requests. An error opening the file
    /// is thrown by the first use, as the constructor would have thrown it.</summary>
    public static StateStore OpenInBackground(string path, StateOpenOptions? options = null) => new(path, options ?? StateOpenOptions.Default, background: true);

    private SqliteDb Sql => _opened ??= _opening.GetAwaiter().GetResult().Db;

    /// <summary>The file's id and creation time (waits for the open).</summary>
    public StateIdentity Identity => _opening.GetAwaiter().GetResult().Identity;

    /// <summary>Waits until the file is open (throwing its error, if any).</summary>
    public void WaitOpened() => _ = Sql;

    /// <summary>Copies the write-ahead log into the file and syncs both (<c>PRAGMA wal_checkpoint(FULL)</c>), for a write
    /// that must not depend on the -wal file or be lost to a power cut (a replication mode a runbook set). When other
    /// connections keep it from finishing within the busy timeout, the write is still committed (in the log).</summary>
    public void Flush()
    {
        lock (_gate)
        {
            using var c = Cmd("PRAGMA wal_checkpoint(FULL)");
            c.ExecuteNonQuery();
        }
    }

    /// <summary>A full <c>PRAGMA quick_check</c> of the file, whatever its size (<c>lifeboat verify</c>).</summary>
    public void CheckWhole()
    {
        lock (_gate) Sql.CheckWhole();
    }

    private SqliteCommand Cmd(string sql, params (string, object?)[] args) => Sql.Cmd(sql, args);

    private static string OpName(ChangeOp op) => op == ChangeOp.Put ? "put" : "delete";

    /// <summary>Records that a change to <paramref name="key"/> was seen. Coalesces with an open change for the
    /// same key (keeping the earliest seen time, which is what RPO measures). Returns the journal id.</summary>
    public long RecordSeen(string resource, string key, ChangeOp op, long seenAtMs)
    {
        lock (_gate)
        {
            using (var find = Cmd("SELECT id, seen_at FROM journal WHERE resource=$r AND key=$k AND status='pending' LIMIT 1",
                       ("$r", resource), ("$k", key)))
            using (var rd = find.ExecuteReader())
            {
                if (rd.Read())
                {
                    var id = rd.GetInt64(0);
                    var seen = Math.Min(rd.GetInt64(1), seenAtMs);
                    rd.Close();
                    using var upd = Cmd("UPDATE journal SET op=$op, seen_at=$s WHERE id=$id", ("$op", OpName(op)), ("$s", seen), ("$id", id));
                    upd.ExecuteNonQuery();
                    return id;
                }
            }
            using var ins = Cmd("INSERT INTO journal(resource,key,op,seen_at,status) VALUES($r,$k,$op,$s,'pending') RETURNING id",
                ("$r", resource), ("$k", key), ("$op", OpName(op)), ("$s", seenAtMs));
            return (long)ins.ExecuteScalar()!;
        }
    }

    /// <summary>Starts work on a key: coalesces with its pending change (or records a new one) and claims it, so
    /// changes seen while the work runs open a new journal row. Call under the key's lock.</summary>
    public (long Id, long SeenAtMs) BeginChange(string resource, string key, ChangeOp op, long seenAtMs)
    {
        lock (_gate)
        {
            using var tx = Sql.BeginTransaction();
            long id, seen;
            using (var find = Cmd("SELECT id, seen_at FROM journal WHERE resource=$r AND key=$k AND status='pending' LIMIT 1", ("$r", resource), ("$k", key)))
            {
                using var rd = find.ExecuteReader();
                if (rd.Read()) { id = rd.GetInt64(0); seen = Math.Min(rd.GetInt64(1), seenAtMs); }
                else { id = -1; seen = seenAtMs; }
            }
            using (var c = id < 0
                       ? Cmd("INSERT INTO journal(resource,key,op,seen_at,status) VALUES($r,$k,$op,$s,'active') RETURNING id", ("$r", resource), ("$k", key), ("$op", OpName(op)), ("$s", seen))
                       : Cmd("UPDATE journal SET status='active', op=$op, seen_at=$s WHERE id=$id RETURNING id", ("$op", OpName(op)), ("$s", seen), ("$id", id)))
            {
                id = (long)c.ExecuteScalar()!;
            }
            tx.Commit();
            return (id, seen);
        }
    }

    /// <summary>
    /// <see cref="BeginChange"/> for many keys in one transaction (a batch of stream records): each key coalesces with
    /// its pending change or opens a new one, claimed as active. Returns the journal ids in the order given.
    /// </summary>
    public long[] BeginChanges(string resource, IReadOnlyList<(string Key, ChangeOp Op, long SeenAtMs)> changes)
    {
        var ids = new long[changes.Count];
        if (changes.Count == 0) return ids;
        lock (_gate)
        {
            using var tx = Sql.BeginTransaction();
            using var find = Cmd("SELECT id, seen_at FROM journal WHERE resource=$r AND key=$k AND status='pending' LIMIT 1", ("$r", resource), ("$k", ""));
            using var ins = Cmd("INSERT INTO journal(resource,key,op,seen_at,status) VALUES($r,$k,$op,$s,'active') RETURNING id", ("$r", resource), ("$k", ""), ("$op", ""), ("$s", 0L));
            using var upd = Cmd("UPDATE journal SET status='active', op=$op, seen_at=$s WHERE id=$id", ("$op", ""), ("$s", 0L), ("$id", 0L));
            for (var i = 0; i < changes.Count; i++)
            {
                var (key, op, seenAt) = changes[i];
                find.Parameters["$k"].Value = key;
                long id = -1, seen = seenAt;
                using (var rd = find.ExecuteReader())
                    if (rd.Read()) { id = rd.GetInt64(0); seen = Math.Min(rd.GetInt64(1), seenAt); }
                if (id < 0)
                {
                    ins.Parameters["$k"].Value = key;
                    ins.Parameters["$op"].Value = OpName(op);
                    ins.Parameters["$s"].Value = seen;
                    id = (long)ins.ExecuteScalar()!;
                }
                else
                {
                    upd.Parameters["$op"].Value = OpName(op);
                    upd.Parameters["$s"].Value = seen;
                    upd.Parameters["$id"].Value = id;
                    upd.ExecuteNonQuery();
                }
                ids[i] = id;
            }
            tx.Commit();
            return ids;
        }
    }

    /// <summary><see cref="MarkDurable"/> (without a replicated record) for many changes in one transaction; call only
    /// after the target confirmed all of them.</summary>
    public void MarkDurableMany(string resource, IReadOnlyList<(long Id, string Key)> changes, long durableAtMs)
    {
        if (changes.Count == 0) return;
        lock (_gate)
        {
            using var tx = Sql.BeginTransaction();
            using var done = Cmd("UPDATE journal SET status='done', durable_at=$d, error=NULL, attempts=attempts+1 WHERE id=$id", ("$d", durableAtMs), ("$id", 0L));
            using var rep = Cmd("DELETE FROM replicated WHERE resource=$r AND key=$k", ("$r", resource), ("$k", ""));
            using var unhold = Cmd("DELETE FROM held_deletes WHERE resource=$r AND key=$k", ("$r", resource), ("$k", ""));
            foreach (var (id, key) in changes)
            {
                done.Parameters["$id"].Value = id;
                done.ExecuteNonQuery();
                rep.Parameters["$k"].Value = key;
                rep.ExecuteNonQuery();
                unhold.Parameters["$k"].Value = key;
                unhold.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    /// <summary>Re-opens many claimed changes (not durable: the work is retried), in one transaction.</summary>
    public void MarkRetryMany(IReadOnlyList<long> ids, string error)
    {
        if (ids.Count == 0) return;
        lock (_gate)
        {
            using var tx = Sql.BeginTransaction();
            using var c = Cmd("UPDATE journal SET status='pending', error=$e, attempts=attempts+1 WHERE id=$id", ("$e", error), ("$id", 0L));
            foreach (var id in ids)
            {
                c.Parameters["$id"].Value = id;
                c.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    /// <summary>The largest journal id so far (0 when empty).</summary>
    public long MaxJournalId()
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT coalesce(max(id), 0) FROM journal");
            return (long)c.ExecuteScalar()!;
        }
    }

    /// <summary>Closes (as 'same') the open changes of a resource with an id up to <paramref name="maxId"/>: for a
    /// caller that has just made the whole target equal to the source as of a moment after those changes were seen
    /// (e.g. a DynamoDB stream read to its end, or a full re-sync), so no open change is left behind by a crash or a
    /// gap. Returns how many were closed.</summary>
    public int SettleOpen(string resource, long maxId, long atMs)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE journal SET status='same', durable_at=$d WHERE resource=$r AND status IN ('pending','active') AND id<=$m",
                ("$d", atMs), ("$r", resource), ("$m", maxId));
            return c.ExecuteNonQuery();
        }
    }

    // ---------------------------------------------------------------- canary (end-to-end probes)

    /// <summary>The next canary sequence number of a resource (1 for the first).</summary>
    public long NextCanarySeq(string resource)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT coalesce(max(seq), 0) + 1 FROM canary WHERE resource=$r", ("$r", resource));
            return (long)c.ExecuteScalar()!;
        }
    }

    public void CanaryWritten(string resource, long seq, long writtenAtMs)
    {
        lock (_gate)
        {
            using var c = Cmd("INSERT INTO canary(resource,seq,written_at) VALUES($r,$s,$w) ON CONFLICT(resource,seq) DO NOTHING",
                ("$r", resource), ("$s", seq), ("$w", writtenAtMs));
            c.ExecuteNonQuery();
        }
    }

    public void CanaryForget(string resource, long seq)
    {
        lock (_gate)
        {
            using var c = Cmd("DELETE FROM canary WHERE resource=$r AND seq=$s AND arrived_at IS NULL", ("$r", resource), ("$s", seq));
            c.ExecuteNonQuery();
        }
    }

    /// <summary>Canary <paramref name="seq"/> is durable on the target: so is every earlier one (a later canary
    /// overwrites the same item, so an earlier one may never be seen on its own).</summary>
    public void CanaryArrived(string resource, long seq, long arrivedAtMs)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE canary SET arrived_at=$a WHERE resource=$r AND seq<=$s AND arrived_at IS NULL",
                ("$a", arrivedAtMs), ("$r", resource), ("$s", seq));
            c.ExecuteNonQuery();
        }
    }

    public CanaryStats Canary(string resource, long nowMs)
    {
        lock (_gate)
        {
            long? lastWritten = null, lastArrived = null, lastLag = null, oldestOpen = null;
            long open;
            using (var c = Cmd("SELECT max(written_at) FROM canary WHERE resource=$r", ("$r", resource)))
                if (c.ExecuteScalar() is long w) lastWritten = w;
            using (var c = Cmd("SELECT arrived_at, arrived_at - written_at FROM canary WHERE resource=$r AND arrived_at IS NOT NULL ORDER BY seq DESC LIMIT 1", ("$r", resource)))
            using (var rd = c.ExecuteReader())
                if (rd.Read()) { lastArrived = rd.GetInt64(0); lastLag = rd.GetInt64(1); }
            using (var c = Cmd("SELECT count(*), min(written_at) FROM canary WHERE resource=$r AND arrived_at IS NULL", ("$r", resource)))
            using (var rd = c.ExecuteReader())
            {
                rd.Read();
                open = rd.GetInt64(0);
                oldestOpen = rd.IsDBNull(1) ? null : rd.GetInt64(1);
            }
            List<long> lags;
            using (var c = Cmd("SELECT arrived_at - written_at FROM canary WHERE resource=$r AND arrived_at IS NOT NULL AND arrived_at >= $since",
                       ("$r", resource), ("$since", nowMs - 3_600_000)))
                lags = Sql.ReadAll(c, rd => Math.Max(0, rd.GetInt64(0)));
            var arr = lags.ToArray();
            Array.Sort(arr);
            return new CanaryStats(lastWritten, lastArrived, lastLag, open, oldestOpen, arr);
        }
    }

    /// <summary>After a crash, changes that were being worked on are pending again.</summary>
    public int ReopenActive(string resource)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE journal SET status='pending' WHERE resource=$r AND status='active'", ("$r", resource));
            return c.ExecuteNonQuery();
        }
    }

    public long Backlog(string resource)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT count(*) FROM journal WHERE resource=$r AND status IN ('pending','active')", ("$r", resource));
            return (long)c.ExecuteScalar()!;
        }
    }

    /// <summary>Marks a change durable on the target; call only after the target confirmed it.</summary>
    public void MarkDurable(long id, long durableAtMs, ReplicatedRecord? replicated, string resource, string key)
    {
        lock (_gate)
        {
            using var tx = Sql.BeginTransaction();
            using (var c = Cmd("UPDATE journal SET status='done', durable_at=$d, error=NULL, attempts=attempts+1 WHERE id=$id",
                       ("$d", durableAtMs), ("$id", id)))
            {
                c.ExecuteNonQuery();
            }
            if (replicated is not null) UpsertReplicated(resource, key, replicated);
            else
            {
                using var del = Cmd("DELETE FROM replicated WHERE resource=$r AND key=$k", ("$r", resource), ("$k", key));
                del.ExecuteNonQuery();
            }
            // The target now matches the source, so no delete of this key is held any more.
            using (var unhold = Cmd("DELETE FROM held_deletes WHERE resource=$r AND key=$k", ("$r", resource), ("$k", key)))
            {
                unhold.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    /// <summary>Moves a change's seen time earlier (never later): when the source's own time says it happened before
    /// Lifeboat heard of it.</summary>
    public void LowerSeen(long id, long seenAtMs)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE journal SET seen_at=min(seen_at,$s) WHERE id=$id", ("$s", seenAtMs), ("$id", id));
            c.ExecuteNonQuery();
        }
    }

    /// <summary>Closes a change that needed no work (target already equal, or the delete is held by policy).</summary>
    public void MarkSettled(long id, string status, long atMs)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE journal SET status=$st, durable_at=$d WHERE id=$id", ("$st", status), ("$d", atMs), ("$id", id));
            c.ExecuteNonQuery();
        }
    }

    public void MarkFailed(long id, string error, bool permanent)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE journal SET status=$st, error=$e, attempts=attempts+1 WHERE id=$id",
                ("$st", permanent ? "failed" : "pending"), ("$e", error), ("$id", id));
            c.ExecuteNonQuery();
        }
    }

    /// <summary>Re-opens failed changes of a resource so a new run retries them.</summary>
    public int ReopenFailed(string resource)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE journal SET status='pending' WHERE resource=$r AND status='failed'", ("$r", resource));
            return c.ExecuteNonQuery();
        }
    }

    public IReadOnlyList<(long Id, string Key, ChangeOp Op, long SeenAtMs)> OpenChanges(string resource)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT id,key,op,seen_at FROM journal WHERE resource=$r AND status IN ('pending','active') ORDER BY id", ("$r", resource));
            return Sql.ReadAll(c, rd => (rd.GetInt64(0), rd.GetString(1), rd.GetString(2) == "put" ? ChangeOp.Put : ChangeOp.Delete, rd.GetInt64(3)));
        }
    }

    public IReadOnlyList<FailedChange> Failed(string resource)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT key,op,seen_at,error,attempts FROM journal WHERE resource=$r AND status='failed' ORDER BY id", ("$r", resource));
            return Sql.ReadAll(c, rd => new FailedChange(rd.GetString(0), rd.GetString(1) == "put" ? ChangeOp.Put : ChangeOp.Delete,
                rd.GetInt64(2), rd.IsDBNull(3) ? "" : rd.GetString(3), rd.GetInt32(4)));
        }
    }

    private void UpsertReplicated(string resource, string key, ReplicatedRecord r)
    {
        using var c = Cmd("""
            INSERT INTO replicated(resource,key,source_etag,source_size,target_etag,replicated_at) VALUES($r,$k,$se,$ss,$te,$at)
            ON CONFLICT(resource,key) DO UPDATE SET source_etag=$se, source_size=$ss, target_etag=$te, replicated_at=$at
            """, ("$r", resource), ("$k", key), ("$se", r.SourceETag), ("$ss", r.SourceSize), ("$te", r.TargetETag), ("$at", r.ReplicatedAtMs));
        c.ExecuteNonQuery();
    }

    public ReplicatedRecord? GetReplicated(string resource, string key)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT source_etag,source_size,target_etag,replicated_at FROM replicated WHERE resource=$r AND key=$k",
                ("$r", resource), ("$k", key));
            using var rd = c.ExecuteReader();
            return rd.Read() ? new ReplicatedRecord(rd.GetString(0), rd.GetInt64(1), rd.GetString(2), rd.GetInt64(3)) : null;
        }
    }

    public void Hold(string resource, string key, long seenAtMs, long? dueAtMs)
    {
        lock (_gate)
        {
            using var c = Cmd("INSERT INTO held_deletes(resource,key,seen_at,due_at) VALUES($r,$k,$s,$d) ON CONFLICT(resource,key) DO NOTHING",
                ("$r", resource), ("$k", key), ("$s", seenAtMs), ("$d", dueAtMs));
            c.ExecuteNonQuery();
        }
    }

    public void Unhold(string resource, string key)
    {
        lock (_gate)
        {
            using var c = Cmd("DELETE FROM held_deletes WHERE resource=$r AND key=$k", ("$r", resource), ("$k", key));
            c.ExecuteNonQuery();
        }
    }

    public bool IsHeld(string resource, string key)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT 1 FROM held_deletes WHERE resource=$r AND key=$k", ("$r", resource), ("$k", key));
            return c.ExecuteScalar() is not null;
        }
    }

    public IReadOnlyList<HeldDelete> HeldDeletes(string resource, long? dueBeforeMs = null)
    {
        lock (_gate)
        {
            using var c = dueBeforeMs is { } due
                ? Cmd("SELECT key,seen_at,due_at FROM held_deletes WHERE resource=$r AND due_at IS NOT NULL AND due_at<=$d ORDER BY key", ("$r", resource), ("$d", due))
                : Cmd("SELECT key,seen_at,due_at FROM held_deletes WHERE resource=$r ORDER BY key", ("$r", resource));
            return Sql.ReadAll(c, rd => new HeldDelete(rd.GetString(0), rd.GetInt64(1), rd.IsDBNull(2) ? null : rd.GetInt64(2)));
        }
    }

    public string? GetCheckpoint(string resource, string name)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT value FROM checkpoints WHERE resource=$r AND name=$n", ("$r", resource), ("$n", name));
            return c.ExecuteScalar() as string;
        }
    }

    public void SetCheckpoint(string resource, string name, string? value, long atMs)
    {
        lock (_gate)
        {
            using var c = value is null
                ? Cmd("DELETE FROM checkpoints WHERE resource=$r AND name=$n", ("$r", resource), ("$n", name))
                : Cmd("INSERT INTO checkpoints(resource,name,value,updated_at) VALUES($r,$n,$v,$t) ON CONFLICT(resource,name) DO UPDATE SET value=$v, updated_at=$t",
                    ("$r", resource), ("$n", name), ("$v", value), ("$t", atMs));
            c.ExecuteNonQuery();
        }
    }

    public ResourceStats Stats(string resource, long nowMs)
    {
        lock (_gate)
        {
            long backlog; long? oldest;
            using (var c = Cmd("SELECT count(*), min(seen_at) FROM journal WHERE resource=$r AND status IN ('pending','active')", ("$r", resource)))
            using (var rd = c.ExecuteReader())
            {
                rd.Read();
                backlog = rd.GetInt64(0);
                oldest = rd.IsDBNull(1) ? null : rd.GetInt64(1);
            }
            long? lastDurable = null; string? lastKey = null;
            using (var c = Cmd("SELECT durable_at, key FROM journal WHERE resource=$r AND status='done' ORDER BY durable_at DESC LIMIT 1", ("$r", resource)))
            using (var rd = c.ExecuteReader())
                if (rd.Read()) { lastDurable = rd.GetInt64(0); lastKey = rd.GetString(1); }
            List<long> lags;
            using (var c = Cmd("SELECT durable_at - seen_at FROM journal WHERE resource=$r AND status='done' AND durable_at >= $since",
                       ("$r", resource), ("$since", nowMs - 3_600_000)))
                lags = Sql.ReadAll(c, rd => Math.Max(0, rd.GetInt64(0)));
            long failed, held;
            using (var c = Cmd("SELECT count(*) FROM journal WHERE resource=$r AND status='failed'", ("$r", resource)))
                failed = (long)c.ExecuteScalar()!;
            using (var c = Cmd("SELECT count(*) FROM held_deletes WHERE resource=$r", ("$r", resource)))
                held = (long)c.ExecuteScalar()!;
            long? lastPass = null;
            using (var c = Cmd("SELECT value FROM checkpoints WHERE resource=$r AND name='last-full-pass'", ("$r", resource)))
                if (c.ExecuteScalar() is string s && long.TryParse(s, out var v)) lastPass = v;
            var arr = lags.ToArray();
            Array.Sort(arr);
            return new ResourceStats(backlog, oldest, lastDurable, lastKey, arr, failed, held, lastPass);
        }
    }

    /// <summary>Drops settled journal rows older than <paramref name="beforeMs"/> (open and failed rows are kept).</summary>
    public int Prune(long beforeMs)
    {
        lock (_gate)
        {
            using var c = Cmd("DELETE FROM journal WHERE status IN ('done','same','held') AND durable_at < $b", ("$b", beforeMs));
            var n = c.ExecuteNonQuery();
            using var k = Cmd("DELETE FROM canary WHERE written_at < $b AND arrived_at IS NOT NULL", ("$b", beforeMs));
            k.ExecuteNonQuery();
            return n;
        }
    }

    public void Dispose()
    {
        // Opened in the background: closed once the open has finished; a failed open left nothing to close.
        try { _opening.Wait(); }
        catch (AggregateException) { return; }
        _opening.Result.Db.Dispose();
    }
}
