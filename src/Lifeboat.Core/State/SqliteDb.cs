using System.Data;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Lifeboat.Core.State;

/// <summary>
/// One SQLite connection to Lifeboat's state file, shared by the replication state (<see cref="StateStore"/>) and
/// the runbook executions (ExecutionStore): opened, checked and upgraded by <see cref="StateFile.Open"/> with the
/// project's pragmas (WAL, synchronous=NORMAL, busy timeout), and every statement kept prepared after first use,
/// keyed by its SQL text (the journal runs the same dozen statements for every object; re-parsing them was ~10% of a
/// backfill's CPU). Every SQLite error a statement raises (damage found while reading, a read-only or full disk, a
/// lock held too long) becomes a one-line <see cref="Config.UserErrorException"/> naming the file; constraint
/// violations stay <see cref="SqliteException"/>s for the caller that expects them. Not thread-safe: the owner
/// serialises all use under its lock, as SQLite serialises writers anyway.
/// </summary>
public sealed class SqliteDb : IDisposable
{
    private const int Constraint = 19;
    private readonly SqliteConnection _db;
    private readonly Dictionary<string, KeptCommand> _statements = new(StringComparer.Ordinal);
    private SqliteTransaction? _tx;

    public string Path { get; }

    private SqliteDb(SqliteConnection db, string path)
    {
        _db = db;
        Path = path;
    }

    /// <summary>Opens a connection (without creating the file unless <paramref name="create"/>); the checks and the
    /// schema are <see cref="StateFile.Open"/>'s.</summary>
    internal static SqliteDb Connect(string path, TimeSpan busyTimeout, bool create = false, string? shownAs = null)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Pooling = false,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
        }.ToString());
        try
        {
            db.Open();
            var sql = new SqliteDb(db, shownAs ?? path);
            sql.Exec($"PRAGMA busy_timeout={(long)busyTimeout.TotalMilliseconds};");
            return sql;
        }
        catch (SqliteException e)
        {
            db.Dispose();
            throw StateFile.Translate(e, shownAs ?? path);
        }
    }

    /// <summary>Runs SQL once (schema, pragmas); not kept prepared. SQLite errors are the caller's to translate.</summary>
    internal void Exec(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = _tx;
        cmd.ExecuteNonQuery();
    }

    internal object? Scalar(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = _tx;
        return cmd.ExecuteScalar();
    }

    /// <summary>The names of the file's tables.</summary>
    internal HashSet<string> Tables()
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT name FROM sqlite_master WHERE type='table'";
        cmd.Transaction = _tx;
        using var rd = cmd.ExecuteReader();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (rd.Read()) names.Add(rd.GetString(0));
        return names;
    }

    /// <summary>The prepared statement for <paramref name="sql"/>, bound to these parameters and to the transaction in
    /// progress. Disposing it (<c>using</c>) keeps it prepared for the next call.</summary>
    public SqliteCommand Cmd(string sql, params (string, object?)[] args)
    {
        if (!_statements.TryGetValue(sql, out var cmd))
        {
            cmd = new KeptCommand(this) { Connection = _db, CommandText = sql };
            _statements[sql] = cmd;
        }
        cmd.Transaction = _tx;
        cmd.Parameters.Clear();
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        return cmd;
    }

    /// <summary>Every row of <paramref name="cmd"/>, read with <paramref name="row"/>; a SQLite error met while
    /// stepping through them is translated like the statement's own.</summary>
    public List<T> ReadAll<T>(SqliteCommand cmd, Func<SqliteDataReader, T> row)
    {
        using var rd = cmd.ExecuteReader();
        var list = new List<T>();
        try
        {
            while (rd.Read()) list.Add(row(rd));
        }
        catch (SqliteException e) when (e.SqliteErrorCode != Constraint)
        {
            throw StateFile.Translate(e, Path);
        }
        return list;
    }

    /// <summary>A full <c>PRAGMA quick_check</c> (see <see cref="StateFile.CheckWhole"/>).</summary>
    public void CheckWhole() => StateFile.CheckWhole(this, Path);

    public Transaction BeginTransaction(bool immediate = false)
    {
        try
        {
            _tx = _db.BeginTransaction(deferred: !immediate);
        }
        catch (SqliteException e)
        {
            throw StateFile.Translate(e, Path);
        }
        return new Transaction(this, _tx);
    }

    /// <summary>A transaction that the statements of <see cref="Cmd"/> join while it is open.</summary>
    public sealed class Transaction(SqliteDb owner, SqliteTransaction tx) : IDisposable
    {
        public void Commit()
        {
            try { tx.Commit(); }
            catch (SqliteException e) { throw StateFile.Translate(e, owner.Path); }
            owner._tx = null;
        }

        public void Rollback()
        {
            try { tx.Rollback(); }
            catch (SqliteException e) { throw StateFile.Translate(e, owner.Path); }
            owner._tx = null;
        }

        public void Dispose()
        {
            if (owner._tx == tx) owner._tx = null;
            tx.Dispose(); // rolls back when not committed
        }
    }

    /// <summary>A command whose prepared statements survive <c>Dispose</c>; released with the connection. Its SQLite
    /// errors (but constraint violations) are one-line user errors naming the state file.</summary>
    private sealed class KeptCommand(SqliteDb owner) : SqliteCommand
    {
        public bool Release;

        public override int ExecuteNonQuery()
        {
            try { return base.ExecuteNonQuery(); }
            catch (SqliteException e) when (e.SqliteErrorCode != Constraint) { throw StateFile.Translate(e, owner.Path); }
        }

        public override object? ExecuteScalar()
        {
            try { return base.ExecuteScalar(); }
            catch (SqliteException e) when (e.SqliteErrorCode != Constraint) { throw StateFile.Translate(e, owner.Path); }
        }

        public override SqliteDataReader ExecuteReader(CommandBehavior behavior)
        {
            try { return base.ExecuteReader(behavior); }
            catch (SqliteException e) when (e.SqliteErrorCode != Constraint) { throw StateFile.Translate(e, owner.Path); }
        }

        protected override void Dispose(bool disposing)
        {
            Parameters.Clear();
            if (Release) base.Dispose(disposing);
        }
    }

    /// <summary>Makes a rename in <paramref name="dir"/> durable (fsync of the folder; a no-op where folders cannot be
    /// opened, e.g. Windows).</summary>
    internal static void FsyncDir(string dir)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = open(dir, 0); // O_RDONLY
        if (fd < 0) return;
        try { _ = fsync(fd); }
        finally { _ = close(fd); }
    }

    [DllImport("libc", SetLastError = true)] private static extern int open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int fsync(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);

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
