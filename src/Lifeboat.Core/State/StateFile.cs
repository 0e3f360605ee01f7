using System.Globalization;
using System.Security.Cryptography;
using Lifeboat.Core.Config;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Core.State;

/// <summary>How a state file is opened: <see cref="Reset"/> is <c>--reset-state</c> (a damaged file is set aside and a
/// new one begun); <see cref="Log"/> hears about it.</summary>
public sealed record StateOpenOptions(bool Reset = false, TimeProvider? Time = null, ILogger? Log = null)
{
    public static StateOpenOptions Default { get; } = new();

    /// <summary>For a second connection to a file this process has just opened and checked: no second quick_check.</summary>
    public static StateOpenOptions Reopen { get; } = new() { QuickCheckMaxBytes = 0 };

    /// <summary>Files up to this size get a full <c>PRAGMA quick_check</c> on every open (~2 ms per MiB when cached; ADR
    /// 0009); larger ones get the structural checks only, and <c>lifeboat verify</c> checks them whole.</summary>
    internal long QuickCheckMaxBytes { get; init; } = 1 << 20;

    /// <summary>The schema steps (tests add later versions to exercise the upgrade path).</summary>
    internal IReadOnlyList<StateFile.Migration> Migrations { get; init; } = StateFile.Steps;

    internal TimeSpan BusyTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>Who this state file is: a random id given when the file was created (or first stamped), kept in its
/// <c>meta</c> table. Targets record the id of the state that protects them (<c>TargetClaim</c>).</summary>
public sealed record StateIdentity(string Id, DateTimeOffset CreatedAt, bool CreatedNow, string? ResetFrom)
{
    /// <summary>The id as shown to users (its first 12 hex digits).</summary>
    public string Short => Id.Length > 12 ? Id[..12] : Id;
}

/// <summary>
/// Opens Lifeboat's state file so that it is never silently forgotten (ADR 0009): a file that exists but is empty,
/// not a database, damaged or missing its tables stops the command with one line naming it and <c>--reset-state</c>;
/// a missing file whose write-ahead log is still there is damage too. A new file is written whole under a temporary
/// name and renamed into place, so a file at the path always has its schema and its id. The schema has a version
/// (<c>PRAGMA user_version</c>); older files are upgraded by the ordered <see cref="Steps"/>, each in one transaction;
/// a file from a newer Lifeboat is refused. Every SQLite error becomes a one-line user error naming the file.
/// </summary>
public static class StateFile
{
    /// <summary>The schema version this Lifeboat writes and understands.</summary>
    public static int SchemaVersion => Steps[^1].Version;

    /// <summary>One upgrade step: brings a file at <c>Version - 1</c> to <see cref="Version"/>.</summary>
    internal sealed record Migration(int Version, string What, string Sql);

    /// <summary>
    /// Version 1: the tables of the releases before versioning (replication: journal, replicated, held_deletes,
    /// canary, checkpoints; runbooks: rb_*), plus <c>meta</c> (the state id). A file without a version but with
    /// some of these tables was written by such a release: the step completes it and stamps it (CREATE ... IF NOT
    /// EXISTS). Later versions append a step here (ALTER TABLE ..., a new table) and never edit an earlier one.
    /// </summary>
    internal static readonly Migration[] Steps =
    [
        new(1, "the replication and runbook tables, and meta (state id)", """
            CREATE TABLE IF NOT EXISTS journal(
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              resource TEXT NOT NULL, key TEXT NOT NULL, op TEXT NOT NULL,
              seen_at INTEGER NOT NULL, durable_at INTEGER, status TEXT NOT NULL,
              attempts INTEGER NOT NULL DEFAULT 0, error TEXT);
            CREATE INDEX IF NOT EXISTS journal_open ON journal(resource, status, key);
            CREATE INDEX IF NOT EXISTS journal_durable ON journal(resource, durable_at);
            CREATE TABLE IF NOT EXISTS replicated(
              resource TEXT NOT NULL, key TEXT NOT NULL, source_etag TEXT NOT NULL, source_size INTEGER NOT NULL,
              target_etag TEXT NOT NULL, replicated_at INTEGER NOT NULL, PRIMARY KEY(resource, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS held_deletes(
              resource TEXT NOT NULL, key TEXT NOT NULL, seen_at INTEGER NOT NULL, due_at INTEGER,
              PRIMARY KEY(resource, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS canary(
              resource TEXT NOT NULL, seq INTEGER NOT NULL, written_at INTEGER NOT NULL, arrived_at INTEGER,
              PRIMARY KEY(resource, seq)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS checkpoints(
              resource TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at INTEGER NOT NULL,
              PRIMARY KEY(resource, name)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS rb_executions(
              id INTEGER PRIMARY KEY AUTOINCREMENT, runbook TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
              trigger TEXT NOT NULL, approval TEXT NOT NULL, created_at INTEGER NOT NULL, fault_at INTEGER, detected_at INTEGER,
              decided_at INTEGER, ended_at INTEGER, error TEXT);
            CREATE UNIQUE INDEX IF NOT EXISTS rb_one_active ON rb_executions(runbook) WHERE status IN ('awaiting-approval','running');
            CREATE TABLE IF NOT EXISTS rb_steps(
              execution_id INTEGER NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
              started_at INTEGER, ended_at INTEGER, output TEXT, error TEXT, PRIMARY KEY(execution_id, step)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS rb_events(
              id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id INTEGER NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL,
              step TEXT, message TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS rb_events_exec ON rb_events(execution_id, id);
            CREATE TABLE IF NOT EXISTS rb_approvals(
              execution_id INTEGER NOT NULL, step TEXT NOT NULL, at INTEGER NOT NULL, by TEXT,
              PRIMARY KEY(execution_id, step)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS rb_inbox(id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, body TEXT NOT NULL, matched TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS rb_traffic(
              store TEXT NOT NULL, record TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL,
              execution_id INTEGER, PRIMARY KEY(store, record, type)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            """),
    ];

    /// <summary>The tables of versions before 1 (unversioned files): one of them marks a file as Lifeboat's.</summary>
    private static readonly string[] UnversionedTables =
        ["journal", "replicated", "held_deletes", "canary", "checkpoints", "rb_executions", "rb_steps", "rb_events", "rb_approvals", "rb_inbox", "rb_traffic"];

    /// <summary>What <c>--reset-state</c> says to do, at the end of every message about a damaged file.</summary>
    public const string ResetAdvice = "restore it from a backup, or run again with --reset-state to set it aside and start over knowingly";

    /// <summary>The state file is damaged (reset can set it aside), as opposed to unusable here (read-only, locked)
    /// or from a newer Lifeboat, which a reset must not touch.</summary>
    private sealed class DamagedException(string path, string problem) : Exception($"state file {path} {problem}")
    {
        public string Problem { get; } = problem;
    }

    /// <summary>Opens (creating when absent) the state file at <paramref name="path"/>: checked, upgraded, with its
    /// identity. Throws <see cref="UserErrorException"/> (one line naming the file) when it cannot be trusted.</summary>
    public static (SqliteDb Db, StateIdentity Identity) Open(string path, StateOpenOptions options)
    {
        var full = System.IO.Path.GetFullPath(path);
        try
        {
            return OpenChecked(full, options, resetFrom: null);
        }
        catch (DamagedException e) when (options.Reset)
        {
            var aside = MoveAside(full, options.Time ?? TimeProvider.System);
            options.Log?.StateFileReset(full, e.Problem, aside);
            try { return OpenChecked(full, options, aside); }
            catch (DamagedException again) { throw new UserErrorException(again.Message + "; " + ResetAdvice); }
        }
        catch (DamagedException e)
        {
            throw new UserErrorException(e.Message + "; " + ResetAdvice);
        }
    }

    private static (SqliteDb, StateIdentity) OpenChecked(string full, StateOpenOptions options, string? resetFrom)
    {
        var dir = System.IO.Path.GetDirectoryName(full)!;
        try { Directory.CreateDirectory(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"state file {full}: cannot create its folder {dir}: {e.Message}");
        }
        var created = false;
        var info = new FileInfo(full);
        if (!info.Exists)
        {
            var wal = new FileInfo(full + "-wal");
            if (wal.Exists && wal.Length > 0)
                throw new DamagedException(full, $"is missing, but its write-ahead log {wal.Name} is still there (the state file was deleted or moved)");
            created = CreateNew(full, options);
        }
        else if (info.Length == 0)
        {
            throw new DamagedException(full, "is empty (0 bytes)");
        }

        var db = SqliteDb.Connect(full, options.BusyTimeout);
        try
        {
            var version = Convert.ToInt32(db.Scalar("PRAGMA user_version"), CultureInfo.InvariantCulture);
            if (version > options.Migrations[^1].Version)
                throw new DamagedException(full, $"has schema version {version}; this Lifeboat understands up to {options.Migrations[^1].Version}: upgrade Lifeboat " +
                                                 "(if no newer Lifeboat wrote it, the file is damaged)");
            db.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
            var tables = db.Tables();
            if (version == 0 && !UnversionedTables.Any(tables.Contains))
                throw new DamagedException(full, "holds no Lifeboat tables (emptied, or not a Lifeboat state file)");
            if (version < options.Migrations[^1].Version)
            {
                Migrate(db, full, version, options);
                tables = db.Tables();
            }
            var missing = ExpectedTables.Where(t => !tables.Contains(t)).ToList();
            if (missing.Count > 0) throw new DamagedException(full, $"is missing its table{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}");
            if (new FileInfo(full).Length <= options.QuickCheckMaxBytes) QuickCheck(db, full);
            var id = db.Scalar("SELECT value FROM meta WHERE key='state_id'") as string;
            var at = db.Scalar("SELECT value FROM meta WHERE key='created_at'") as string;
            if (string.IsNullOrEmpty(id) || !long.TryParse(at, NumberStyles.None, CultureInfo.InvariantCulture, out var atMs))
                throw new DamagedException(full, "has lost its identity (no state id in its meta table)");
            return (db, new StateIdentity(id, DateTimeOffset.FromUnixTimeMilliseconds(atMs), created, resetFrom));
        }
        catch (SqliteException e) when (IsDamage(e))
        {
            db.Dispose();
            throw new DamagedException(full, $"is damaged ({Describe(e)})");
        }
        catch (SqliteException e)
        {
            db.Dispose();
            throw Translate(e, full);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    private static readonly string[] ExpectedTables = [.. UnversionedTables, "meta"];

    /// <summary>Runs <c>PRAGMA quick_check</c>: b-tree structure, page and cell sizes, without cross-checking indexes
    /// against their tables (integrity_check, ~3x the time).</summary>
    internal static void QuickCheck(SqliteDb db, string full)
    {
        var result = db.Scalar("PRAGMA quick_check(1)") as string;
        if (result != "ok") throw new DamagedException(full, $"is damaged (quick_check: {Shorten(result ?? "no answer")})");
    }

    /// <summary>A full <c>PRAGMA quick_check</c> of an open state file (what <c>lifeboat verify</c> runs, whatever its size).</summary>
    public static void CheckWhole(SqliteDb db, string path)
    {
        try { QuickCheck(db, path); }
        catch (DamagedException e) { throw new UserErrorException(e.Message + "; " + ResetAdvice); }
        catch (SqliteException e) { throw Translate(e, path); }
    }

    private static string Shorten(string s)
    {
        s = s.ReplaceLineEndings(" ");
        return s.Length > 160 ? s[..160] + "..." : s;
    }

    /// <summary>Creates the file whole: schema, version and id in a temporary file, flushed, then renamed into place
    /// (not over a file another process created meanwhile: that one is opened instead). Returns whether this call
    /// created it.</summary>
    private static bool CreateNew(string full, StateOpenOptions options)
    {
        var tmp = $"{full}.new-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        try
        {
            using (var db = SqliteDb.Connect(tmp, options.BusyTimeout, create: true, shownAs: full))
            {
                db.Exec("PRAGMA journal_mode=DELETE;");
                Migrate(db, tmp, 0, options);
            }
            using (var f = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) f.Flush(flushToDisk: true);
            try
            {
                File.Move(tmp, full, overwrite: false);
            }
            catch (IOException) when (File.Exists(full))
            {
                return false; // another process created it first: use that one
            }
            SqliteDb.FsyncDir(System.IO.Path.GetDirectoryName(full)!);
            return true;
        }
        catch (SqliteException e)
        {
            throw Translate(e, full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"state file {full}: cannot create it: {e.Message}");
        }
        finally
        {
            foreach (var f in new[] { tmp, tmp + "-journal" })
                try { File.Delete(f); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a leftover temp file is only litter: never opened */ }
        }
    }

    /// <summary>Brings the file from <paramref name="from"/> to the newest version, one step per transaction (BEGIN
    /// IMMEDIATE: another process upgrading at the same time waits, then finds the step done and skips it).</summary>
    private static void Migrate(SqliteDb db, string full, int from, StateOpenOptions options)
    {
        foreach (var step in options.Migrations.Where(s => s.Version > from).OrderBy(s => s.Version))
        {
            using var tx = db.BeginTransaction(immediate: true);
            var now = Convert.ToInt32(db.Scalar("PRAGMA user_version"), CultureInfo.InvariantCulture);
            if (now >= step.Version) continue;
            try
            {
                db.Exec(step.Sql);
                if (step.Version == 1)
                {
                    var at = (options.Time ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds();
                    db.Exec($"INSERT OR IGNORE INTO meta(key, value) VALUES('state_id', '{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}')," +
                            $"('created_at', '{at.ToString(CultureInfo.InvariantCulture)}')");
                }
                db.Exec($"PRAGMA user_version={step.Version.ToString(CultureInfo.InvariantCulture)}");
            }
            catch (SqliteException e)
            {
                throw new UserErrorException($"state file {full}: cannot upgrade it from schema version {now} to {step.Version} ({step.What}): " +
                                             $"{Describe(e)}; nothing was changed");
            }
            tx.Commit();
        }
    }

    /// <summary>Moves a damaged state file (and its -wal/-shm) aside as STATE.damaged-TIME, never deleting it.</summary>
    private static string MoveAside(string full, TimeProvider time)
    {
        var aside = $"{full}.damaged-{time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}";
        for (var n = 2; File.Exists(aside) || File.Exists(aside + "-wal"); n++)
            aside = $"{full}.damaged-{time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{n}";
        try
        {
            // The log first: a main file without it is recognisable, a log without its file would be taken as damage.
            foreach (var suffix in new[] { "-wal", "-shm", "" })
                if (File.Exists(full + suffix)) File.Move(full + suffix, aside + suffix);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--reset-state: cannot move the damaged state file {full} aside: {e.Message}");
        }
        return aside;
    }

    /// <summary>Errors that mean the file's content is damaged (as opposed to the file being unusable here).</summary>
    private static bool IsDamage(SqliteException e) => e.SqliteErrorCode is 11 or 26 ||
        (e.SqliteErrorCode == 1 && (e.Message.Contains("no such table", StringComparison.Ordinal) || e.Message.Contains("no such column", StringComparison.Ordinal) ||
                                    e.Message.Contains("malformed", StringComparison.Ordinal)));

    /// <summary>A SQLite error as the one line a user reads: what is wrong with which file, and what to do.</summary>
    public static UserErrorException Translate(SqliteException e, string path) => new(e.SqliteErrorCode switch
    {
        _ when IsDamage(e) => $"state file {path} is damaged ({Describe(e)}); {ResetAdvice}",
        8 => $"state file {path} is read-only ({Describe(e)}): make the file, its -wal and -shm files and its folder writable by this user",
        3 or 14 or 23 => $"state file {path} cannot be opened ({Describe(e)}): check that its folder exists and that this user may read and write there",
        5 or 6 => $"state file {path} is locked by another process ({Describe(e)}): wait for it, or stop it",
        13 => $"state file {path}: the disk is full ({Describe(e)}): free space, then run again",
        10 => $"state file {path}: input/output error ({Describe(e)}): check the disk and the file system",
        _ => $"state file {path}: {Describe(e)}",
    }, e);

    /// <summary>SQLite's own words without the provider's "SQLite Error N: '...'." wrapper.</summary>
    private static string Describe(SqliteException e)
    {
        var m = e.Message;
        var q = m.IndexOf('\'');
        var end = m.LastIndexOf('\'');
        var text = q >= 0 && end > q ? m[(q + 1)..end] : m;
        return $"SQLite error {e.SqliteErrorCode}: {Shorten(text)}";
    }
}
