using Microsoft.Data.Sqlite;

namespace Lifeboat.Core.State;

/// <summary>
/// One SQLite connection to Lifeboat's state file, shared by the replication state (<see cref="StateStore"/>) and
/// the runbook executions (ExecutionStore): opened with the project's pragmas (WAL, synchronous=NORMAL, busy
/// timeout), its schema created, and every statement kept prepared after first use, keyed by its SQL text (the
/// journal runs the same dozen statements for every object; re-parsing them was ~10% of a backfill's CPU). Not
/// thread-safe: the owner serialises all use under its lock, as SQLite serialises writers anyway.
/// </summary>
public sealed class SqliteDb : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly Dictionary<string, KeptCommand> _statements = new(StringComparer.Ordinal);
    private SqliteTransaction? _tx;

    public SqliteDb(string path, string schema)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            _db.Open();
            Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;");
            Exec(schema);
        }
        catch (SqliteException e)
        {
            _db.Dispose();
            throw new Config.UserErrorException($"state store {path}: {e.Message}", e);
        }
    }

    /// <summary>Runs SQL once (schema, pragmas); not kept prepared.</summary>
    public void Exec(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>The prepared statement for <paramref name="sql"/>, bound to these parameters and to the transaction in
    /// progress. Disposing it (<c>using</c>) keeps it prepared for the next call.</summary>
    public SqliteCommand Cmd(string sql, params (string, object?)[] args)
    {
        if (!_statements.TryGetValue(sql, out var cmd))
        {
            cmd = new KeptCommand { Connection = _db, CommandText = sql };
            _statements[sql] = cmd;
        }
        cmd.Transaction = _tx;
        cmd.Parameters.Clear();
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        return cmd;
    }

    public Transaction BeginTransaction()
    {
        _tx = _db.BeginTransaction();
        return new Transaction(this, _tx);
    }

    /// <summary>A transaction that the statements of <see cref="Cmd"/> join while it is open.</summary>
    public sealed class Transaction(SqliteDb owner, SqliteTransaction tx) : IDisposable
    {
        public void Commit()
        {
            tx.Commit();
            owner._tx = null;
        }

        public void Rollback()
        {
            tx.Rollback();
            owner._tx = null;
        }

        public void Dispose()
        {
            if (owner._tx == tx) owner._tx = null;
            tx.Dispose(); // rolls back when not committed
        }
    }

    /// <summary>A command whose prepared statements survive <c>Dispose</c>; released with the connection.</summary>
    private sealed class KeptCommand : SqliteCommand
    {
        public bool Release;

        protected override void Dispose(bool disposing)
        {
            Parameters.Clear();
            if (Release) base.Dispose(disposing);
        }
    }

    public void Dispose()
    {
        foreach (var c in _statements.Values)
        {
            c.Release = true;
            c.Dispose();
        }
        _statements.Clear();
        _db.Dispose();
    }
}
