using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Microsoft.Data.Sqlite;

namespace Lifeboat.Recovery;

public sealed record ExecutionRow(long Id, string Runbook, string Kind, string Status, string Trigger, string Approval,
    long CreatedAt, long? FaultAt, long? DetectedAt, long? DecidedAt, long? EndedAt, string? Error)
{
    public bool Active => Status is ExecutionStore.AwaitingApproval or ExecutionStore.Running;
}

public sealed record StepRow(long ExecutionId, string Step, string Status, int Attempts, long? StartedAt, long? EndedAt, string? Output, string? Error);

public sealed record TimelineEvent(long At, string Kind, string? Step, string Message);

public sealed record InboundEvent(long Id, long At, string Body, string Matched);

/// <summary>An execution of this runbook is already active: there is never more than one at a time.</summary>
public sealed class ActiveExecutionException(long id, string runbook)
    : Exception($"runbook '{runbook}' already has an active execution ({id})")
{
    public long Id { get; } = id;
}

/// <summary>
/// The durable side of runbook executions, in the same SQLite file as the replication state (tables rb_*):
/// executions, each step's status/attempts/times/captured output, the timeline, approvals, received events and
/// traffic changes. A partial unique index allows one active (awaiting approval or running) execution per runbook, so
/// two processes can never start the same runbook twice; which process drives an active execution is decided by an
/// OS file lock (see <see cref="RunbookEngine"/>), released by the kernel even on kill -9.
/// Every state change is committed before the effect it announces is started or after it is confirmed, in this order:
/// a step is marked running (durably) before it starts and succeeded only after its effect is confirmed.
/// </summary>
public sealed class ExecutionStore : IDisposable
{
    public const string AwaitingApproval = "awaiting-approval";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";

    private readonly SqliteDb _sql;
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Opens the state file on its own (approve, executions, report), checked and upgraded as
    /// <see cref="StateFile.Open"/> does.</summary>
    public ExecutionStore(string path, StateOpenOptions? options = null) => _sql = StateFile.Open(path, options ?? StateOpenOptions.Default).Db;

    /// <summary>A second connection to the file <paramref name="state"/> has opened (and checked, upgraded or reset):
    /// waits for that open, then opens the same file without repeating its full check.</summary>
    public ExecutionStore(StateStore state)
    {
        state.WaitOpened();
        _sql = StateFile.Open(state.Path, StateOpenOptions.Reopen).Db;
    }

    private SqliteCommand Cmd(string sql, params (string, object?)[] args) => _sql.Cmd(sql, args);

    private void Pulse()
    {
        TaskCompletionSource old;
        lock (_gate)
        {
            old = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        old.TrySetResult();
    }

    /// <summary>Waits until this process changes an execution (e.g. an approval through the API) or
    /// <paramref name="poll"/> passes (changes made by another process, e.g. <c>lifeboat approve</c>).
    /// <paramref name="changed"/> is <see cref="Changed"/> taken BEFORE the caller looked at the state, so that a change
    /// made between that look and this wait is not missed.</summary>
    public async Task WaitForChangeAsync(Task changed, TimeSpan poll, TimeProvider time, CancellationToken ct)
    {
        await Task.WhenAny(changed, Task.Delay(poll, time, ct)).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Completes at the next change this process makes.</summary>
    public Task Changed { get { lock (_gate) return _changed.Task; } }

    private static long? L(SqliteDataReader rd, int i) => rd.IsDBNull(i) ? null : rd.GetInt64(i);
    private static string? S(SqliteDataReader rd, int i) => rd.IsDBNull(i) ? null : rd.GetString(i);

    private const string ExecCols = "id,runbook,kind,status,trigger,approval,created_at,fault_at,detected_at,decided_at,ended_at,error";

    private static ExecutionRow ReadExec(SqliteDataReader rd) => new(rd.GetInt64(0), rd.GetString(1), rd.GetString(2), rd.GetString(3),
        rd.GetString(4), rd.GetString(5), rd.GetInt64(6), L(rd, 7), L(rd, 8), L(rd, 9), L(rd, 10), S(rd, 11));

    /// <summary>Creates an execution with all its steps pending (one transaction). Throws
    /// <see cref="ActiveExecutionException"/> when the runbook already has an active one.</summary>
    public long Create(string runbook, string kind, string trigger, ApprovalMode approval, long? faultAt, long? detectedAt,
        IReadOnlyList<string> steps, long nowMs)
    {
        lock (_gate)
        {
            using var tx = _sql.BeginTransaction();
            long id;
            try
            {
                using var c = Cmd($"INSERT INTO rb_executions(runbook,kind,status,trigger,approval,created_at,fault_at,detected_at,decided_at) " +
                                  "VALUES($r,$k,$s,$t,$a,$n,$f,$d,$dec) RETURNING id",
                    ("$r", runbook), ("$k", kind), ("$s", approval == ApprovalMode.Manual ? AwaitingApproval : Running), ("$t", trigger),
                    ("$a", approval == ApprovalMode.Manual ? "manual" : "auto"), ("$n", nowMs), ("$f", faultAt), ("$d", detectedAt),
                    ("$dec", approval == ApprovalMode.Manual ? null : nowMs));
                id = (long)c.ExecuteScalar()!;
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19) // constraint: one active execution per runbook
            {
                tx.Rollback();
                using var q = Cmd("SELECT id FROM rb_executions WHERE runbook=$r AND status IN ('awaiting-approval','running')", ("$r", runbook));
                throw new ActiveExecutionException((long)q.ExecuteScalar()!, runbook);
            }
            using var s = Cmd("INSERT INTO rb_steps(execution_id,step,status) VALUES($e,$s,'pending')", ("$e", id), ("$s", ""));
            foreach (var step in steps)
            {
                s.Parameters["$s"].Value = step;
                s.ExecuteNonQuery();
            }
            tx.Commit();
            return id;
        }
    }

    public ExecutionRow? Get(long id)
    {
        lock (_gate)
        {
            using var c = Cmd($"SELECT {ExecCols} FROM rb_executions WHERE id=$i", ("$i", id));
            using var rd = c.ExecuteReader();
            return rd.Read() ? ReadExec(rd) : null;
        }
    }

    public ExecutionRow? ActiveFor(string runbook)
    {
        lock (_gate)
        {
            using var c = Cmd($"SELECT {ExecCols} FROM rb_executions WHERE runbook=$r AND status IN ('awaiting-approval','running')", ("$r", runbook));
            using var rd = c.ExecuteReader();
            return rd.Read() ? ReadExec(rd) : null;
        }
    }

    public IReadOnlyList<ExecutionRow> List(int limit = 50, bool activeOnly = false)
    {
        lock (_gate)
        {
            using var c = Cmd($"SELECT {ExecCols} FROM rb_executions {(activeOnly ? "WHERE status IN ('awaiting-approval','running')" : "")} ORDER BY id DESC LIMIT $l", ("$l", limit));
            return _sql.ReadAll(c, ReadExec);
        }
    }

    public IReadOnlyList<StepRow> Steps(long id)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT execution_id,step,status,attempts,started_at,ended_at,output,error FROM rb_steps WHERE execution_id=$e", ("$e", id));
            return _sql.ReadAll(c, rd => new StepRow(rd.GetInt64(0), rd.GetString(1), rd.GetString(2), rd.GetInt32(3), L(rd, 4), L(rd, 5), S(rd, 6), S(rd, 7)));
        }
    }

    public void AddSteps(long id, IEnumerable<string> steps)
    {
        lock (_gate)
        {
            using var c = Cmd("INSERT INTO rb_steps(execution_id,step,status) VALUES($e,$s,'pending') ON CONFLICT DO NOTHING", ("$e", id), ("$s", ""));
            foreach (var s in steps)
            {
                c.Parameters["$s"].Value = s;
                c.ExecuteNonQuery();
            }
        }
    }

    /// <summary>A step attempt starts: durably, before any effect. Keeps the first start time.</summary>
    public int StepStarted(long id, string step, long nowMs)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE rb_steps SET status='running', attempts=attempts+1, started_at=coalesce(started_at,$n), error=NULL WHERE execution_id=$e AND step=$s RETURNING attempts",
                ("$n", nowMs), ("$e", id), ("$s", step));
            return Convert.ToInt32(c.ExecuteScalar()!, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public void StepStatus(long id, string step, string status)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE rb_steps SET status=$st WHERE execution_id=$e AND step=$s", ("$st", status), ("$e", id), ("$s", step));
            c.ExecuteNonQuery();
        }
    }

    public void StepFinished(long id, string step, string status, long nowMs, string? output, string? error)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE rb_steps SET status=$st, ended_at=$n, output=coalesce($o,output), error=$err WHERE execution_id=$e AND step=$s",
                ("$st", status), ("$n", nowMs), ("$o", output), ("$err", error), ("$e", id), ("$s", step));
            c.ExecuteNonQuery();
        }
        Pulse();
    }

    public void AddEvent(long id, long atMs, string kind, string? step, string message)
    {
        lock (_gate)
        {
            using var c = Cmd("INSERT INTO rb_events(execution_id,at,kind,step,message) VALUES($e,$a,$k,$s,$m)",
                ("$e", id), ("$a", atMs), ("$k", kind), ("$s", step), ("$m", message));
            c.ExecuteNonQuery();
        }
    }

    public IReadOnlyList<TimelineEvent> Events(long id)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT at,kind,step,message FROM rb_events WHERE execution_id=$e ORDER BY id", ("$e", id));
            return _sql.ReadAll(c, rd => new TimelineEvent(rd.GetInt64(0), rd.GetString(1), S(rd, 2), rd.GetString(3)));
        }
    }

    /// <summary>The decision to run was taken (automatically or by an approval).</summary>
    public void Decide(long id, long nowMs)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE rb_executions SET status='running', decided_at=coalesce(decided_at,$n) WHERE id=$i AND status IN ('awaiting-approval','running')", ("$n", nowMs), ("$i", id));
            c.ExecuteNonQuery();
        }
    }

    public void Finish(long id, string status, long nowMs, string? error)
    {
        lock (_gate)
        {
            using var c = Cmd("UPDATE rb_executions SET status=$s, ended_at=$n, error=$e WHERE id=$i", ("$s", status), ("$n", nowMs), ("$e", error), ("$i", id));
            c.ExecuteNonQuery();
        }
        Pulse();
    }

    /// <summary>Records an approval of <paramref name="step"/> ("" = the decision to run the execution). Idempotent.</summary>
    public void Approve(long id, string step, long nowMs, string by)
    {
        lock (_gate)
        {
            using var c = Cmd("INSERT INTO rb_approvals(execution_id,step,at,by) VALUES($e,$s,$a,$b) ON CONFLICT DO NOTHING",
                ("$e", id), ("$s", step), ("$a", nowMs), ("$b", by));
            c.ExecuteNonQuery();
        }
        Pulse();
    }

    public (long At, string? By)? Approval(long id, string step)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT at, by FROM rb_approvals WHERE execution_id=$e AND step=$s", ("$e", id), ("$s", step));
            using var rd = c.ExecuteReader();
            return rd.Read() ? (rd.GetInt64(0), S(rd, 1)) : null;
        }
    }

    public long RecordInbound(long atMs, string body, string matched)
    {
        lock (_gate)
        {
            using var c = Cmd("INSERT INTO rb_inbox(at,body,matched) VALUES($a,$b,$m) RETURNING id", ("$a", atMs), ("$b", body), ("$m", matched));
            return (long)c.ExecuteScalar()!;
        }
    }

    public IReadOnlyList<InboundEvent> Inbound(int limit = 100)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT id,at,body,matched FROM rb_inbox ORDER BY id DESC LIMIT $l", ("$l", limit));
            return _sql.ReadAll(c, rd => new InboundEvent(rd.GetInt64(0), rd.GetInt64(1), rd.GetString(2), rd.GetString(3)));
        }
    }

    /// <summary>The last change Lifeboat made to a record set (value, time), for the hold-down.</summary>
    public (string Value, long At)? LastTrafficChange(string store, string record, string type)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT value, at FROM rb_traffic WHERE store=$s AND record=$r AND type=$t", ("$s", store), ("$r", record), ("$t", type));
            using var rd = c.ExecuteReader();
            return rd.Read() ? (rd.GetString(0), rd.GetInt64(1)) : null;
        }
    }

    public void RecordTrafficChange(string store, string record, string type, string value, long atMs, long executionId)
    {
        lock (_gate)
        {
            using var c = Cmd("INSERT INTO rb_traffic(store,record,type,value,at,execution_id) VALUES($s,$r,$t,$v,$a,$e) " +
                              "ON CONFLICT(store,record,type) DO UPDATE SET value=$v, at=$a, execution_id=$e",
                ("$s", store), ("$r", record), ("$t", type), ("$v", value), ("$a", atMs), ("$e", executionId));
            c.ExecuteNonQuery();
        }
    }

    /// <summary>When a check or rule last started a runbook (for its hold-down), kept in the events of executions.</summary>
    public long? LastTriggered(string trigger)
    {
        lock (_gate)
        {
            using var c = Cmd("SELECT max(created_at) FROM rb_executions WHERE trigger=$t", ("$t", trigger));
            return c.ExecuteScalar() is long v ? v : null;
        }
    }

    public void Dispose() => _sql.Dispose();
}
