using System.Text;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Recovery;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Lifeboat.Tests.State;

/// <summary>The state file is never forgotten silently (issue 14, finding 6; ADR 0009): damage is refused with one
/// line naming the file and --reset-state, --reset-state sets it aside, SQLite errors are user errors, and the schema
/// has a version with forward migrations (issue 15, point 6).</summary>
public sealed class StateFileTests : IDisposable
{
    private readonly TempDir _dir = new();
    private string StatePath => Path.Combine(_dir.Path, "state", "state.db");

    public void Dispose() => _dir.Dispose();

    /// <summary>The one line a damaged file gets: its path, what is wrong, and --reset-state.</summary>
    internal static void AssertDamageLine(string message, string path, string what)
    {
        Assert.DoesNotContain('\n', message);
        Assert.Contains($"state file {path}", message);
        Assert.Contains(what, message);
        Assert.Contains("--reset-state", message);
    }

    private StateStore Create()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StatePath)!);
        return new StateStore(StatePath);
    }

    private void MakeStateWithStoppedResource()
    {
        using var s = Create();
        ReplicationControl.Set(s, "photos", ReplicationMode.Stopped, 1);
        s.Hold("photos", "k", 1, 2);
    }

    [Fact]
    public void AnEmptyStateFile_IsRefused_NotStartedOver()
    {
        MakeStateWithStoppedResource();
        File.WriteAllBytes(StatePath, []);
        var e = Assert.Throws<UserErrorException>(() => new StateStore(StatePath));
        AssertDamageLine(e.Message, StatePath, "is empty (0 bytes)");
        Assert.Equal(0, new FileInfo(StatePath).Length); // left as it was: nothing created over it
        // Opened in the background (as commands do), the first use throws the same line.
        using var bg = StateStore.OpenInBackground(StatePath);
        AssertDamageLine(Assert.Throws<UserErrorException>(() => bg.GetCheckpoint("photos", "x")).Message, StatePath, "is empty");
        AssertDamageLine(Assert.Throws<UserErrorException>(() => new ExecutionStore(StatePath)).Message, StatePath, "is empty");
    }

    [Theory]
    [InlineData("truncated", "is damaged (SQLite error 11")]
    [InlineData("zero-header", "is damaged (SQLite error 26")]
    [InlineData("garbage", "is damaged (SQLite error 26")]
    [InlineData("no-tables", "holds no Lifeboat tables")]
    [InlineData("dropped-table", "is missing its table held_deletes")]
    [InlineData("no-id", "has lost its identity")]
    [InlineData("zeroed-page", "is damaged")]
    public void ADamagedStateFile_IsRefusedWithOneLine(string damage, string what)
    {
        MakeStateWithStoppedResource();
        var bytes = File.ReadAllBytes(StatePath);
        switch (damage)
        {
            case "truncated": File.WriteAllBytes(StatePath, bytes[..(bytes.Length / 2)]); break;
            case "zero-header": Array.Clear(bytes, 0, 100); File.WriteAllBytes(StatePath, bytes); break;
            case "garbage": File.WriteAllText(StatePath, "this is not a database, but a text file that a script wrote here by mistake\n"); break;
            case "no-tables":
                File.Delete(StatePath);
                using (var c = new SqliteConnection($"Data Source={StatePath};Pooling=False"))
                {
                    c.Open();
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "CREATE TABLE other(x); INSERT INTO other VALUES(1);";
                    cmd.ExecuteNonQuery();
                }
                break;
            case "dropped-table": Sql("DROP TABLE held_deletes"); break;
            case "no-id": Sql("DELETE FROM meta"); break;
            case "zeroed-page":
                // Every page after the first (the schema's) zeroed: the tables' b-trees are gone.
                Array.Clear(bytes, 4096, bytes.Length - 4096);
                File.WriteAllBytes(StatePath, bytes);
                break;
        }
        var size = new FileInfo(StatePath).Length;
        var e = Assert.Throws<UserErrorException>(() => new StateStore(StatePath));
        AssertDamageLine(e.Message, StatePath, what);
        Assert.Equal(size, new FileInfo(StatePath).Length);
    }

    private void Sql(string sql)
    {
        using var c = new SqliteConnection($"Data Source={StatePath};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public async Task AMissingStateFileWhoseWriteAheadLogIsStillThere_IsRefused()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StatePath)!);
        var image = await StateImage.MakeAsync();
        image.WriteTo(StatePath);
        File.Delete(StatePath);
        var e = Assert.Throws<UserErrorException>(() => new StateStore(StatePath));
        AssertDamageLine(e.Message, StatePath, "is missing, but its write-ahead log state.db-wal is still there");
        Assert.False(File.Exists(StatePath));
    }

    [Fact]
    public void ResetState_SetsTheDamagedFileAside_LogsIt_AndStartsANewState()
    {
        MakeStateWithStoppedResource();
        string oldId;
        using (var s = new StateStore(StatePath)) oldId = s.Identity.Id;
        File.WriteAllBytes(StatePath, []);
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        var log = new ListLogger();
        using (var s = new StateStore(StatePath, new StateOpenOptions(Reset: true, time, log)))
        {
            Assert.NotEqual(oldId, s.Identity.Id);
            Assert.True(s.Identity.CreatedNow);
            Assert.Equal(StatePath + ".damaged-20261203T100000Z", s.Identity.ResetFrom);
            Assert.Equal(ReplicationMode.Forward, ReplicationControl.Get(s, "photos")); // a new state: knowingly
        }
        Assert.True(File.Exists(StatePath + ".damaged-20261203T100000Z"));
        Assert.Equal(0, new FileInfo(StatePath + ".damaged-20261203T100000Z").Length); // kept, not deleted
        var line = Assert.Single(log.Lines);
        Assert.Contains("--reset-state", line);
        Assert.Contains("is empty (0 bytes)", line);
        Assert.Contains(".damaged-20261203T100000Z", line);

        // A healthy file: --reset-state leaves it (and its id) alone.
        string id;
        using (var s = new StateStore(StatePath)) id = s.Identity.Id;
        using (var s = new StateStore(StatePath, new StateOpenOptions(Reset: true, time, log)))
        {
            Assert.Equal(id, s.Identity.Id);
            Assert.Null(s.Identity.ResetFrom);
        }
        Assert.Single(log.Lines);
    }

    [Fact]
    public async Task ResetState_OnAMissingFileWithItsLog_MovesTheLogAside()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StatePath)!);
        (await StateImage.MakeAsync()).WriteTo(StatePath);
        File.Delete(StatePath);
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T10:00:00Z"));
        using var s = new StateStore(StatePath, new StateOpenOptions(Reset: true, time));
        Assert.True(s.Identity.CreatedNow);
        Assert.True(File.Exists(StatePath + ".damaged-20261203T100000Z-wal"));
    }

    [Fact]
    public void ANewStateFile_IsCreatedWhole_WithAnIdThatStays()
    {
        string id;
        using (var s = new StateStore(StatePath))
        {
            Assert.True(s.Identity.CreatedNow);
            id = s.Identity.Id;
            Assert.Matches("^[0-9a-f]{32}$", id);
        }
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(StatePath)!, "*.new-*"));
        using (var s = new StateStore(StatePath))
        {
            Assert.False(s.Identity.CreatedNow);
            Assert.Equal(id, s.Identity.Id);
        }
        Assert.Equal(StateFile.SchemaVersion, UserVersion(StatePath));
    }

    [Fact]
    public async Task TwoProcessesCreatingTheSameStateFile_GetOneFileAndOneId()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StatePath)!);
        var stores = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => new StateStore(StatePath))));
        try
        {
            Assert.Single(stores.Select(s => s.Identity.Id).Distinct());
            Assert.Single(stores, s => s.Identity.CreatedNow);
        }
        finally
        {
            foreach (var s in stores) s.Dispose();
        }
    }

    private static long UserVersion(string path)
    {
        using var c = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA user_version";
        return (long)cmd.ExecuteScalar()!;
    }

    [Fact]
    public void AFileFromANewerLifeboat_IsRefused_NamingBothVersions()
    {
        using (var s = new StateStore(StatePath)) { }
        Sql($"PRAGMA user_version={StateFile.SchemaVersion + 1}");
        var e = Assert.Throws<UserErrorException>(() => new StateStore(StatePath));
        Assert.Contains($"state file {StatePath} has schema version {StateFile.SchemaVersion + 1}; this Lifeboat understands up to {StateFile.SchemaVersion}: upgrade Lifeboat", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(StateFile.SchemaVersion + 1, UserVersion(StatePath)); // untouched
    }

    /// <summary>The state file of the release before versioning (tests/.../Fixtures/state-v1.db, made by
    /// make-state-v1.sh) is upgraded in place: stamped with version 1 and an id, every row kept.</summary>
    [Fact]
    public void TheUnversionedFileOfTheLastRelease_IsStampedVersion1_KeepingEveryRow()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StatePath)!);
        File.Copy(FixturePath, StatePath);
        Assert.Equal(0, UserVersion(StatePath));
        string id;
        using (var s = new StateStore(StatePath))
        {
            Assert.False(s.Identity.CreatedNow);
            id = s.Identity.Id;
            Assert.Equal(ReplicationMode.Stopped, ReplicationControl.Get(s, "archive"));
            Assert.Equal(ReplicationMode.Forward, ReplicationControl.Get(s, "photos"));
            Assert.Equal("p5.jpg", Assert.Single(s.HeldDeletes("photos")).Key);
            Assert.NotNull(s.GetReplicated("photos", "p1.jpg"));
            Assert.NotNull(s.GetCheckpoint("orders", "table:stream-arn"));
        }
        Assert.Equal(1, UserVersion(StatePath));
        using (var s = new StateStore(StatePath)) Assert.Equal(id, s.Identity.Id);
        using var ex = new ExecutionStore(StatePath);
        var exec = Assert.Single(ex.List());
        Assert.Equal("failover", exec.Runbook);
        Assert.Equal(ExecutionStore.Succeeded, exec.Status);
        Assert.Equal(["note", "stop-archive"], ex.Steps(exec.Id).Select(s => s.Step).Order());
    }

    public static string FixturePath => Path.Combine(Repo.Root, "tests", "Lifeboat.Tests", "Fixtures", "state-v1.db");

    [Fact]
    public void Migrations_RunInOrder_EachInATransaction_AndAFailedStepChangesNothing()
    {
        using (var s = new StateStore(StatePath)) s.SetCheckpoint("r", "c", "v", 1);
        var steps = StateFile.Steps.Concat([
            new StateFile.Migration(2, "a column", "ALTER TABLE checkpoints ADD COLUMN note TEXT; UPDATE checkpoints SET note='v2';"),
            new StateFile.Migration(3, "a table", "CREATE TABLE extra(x); INSERT INTO extra SELECT note FROM checkpoints;"),
        ]).ToList();
        var options = StateOpenOptions.Default with { Migrations = steps };
        using (var s = new StateStore(StatePath, options)) Assert.Equal("v", s.GetCheckpoint("r", "c"));
        Assert.Equal(3, UserVersion(StatePath));
        Sql("SELECT x FROM extra"); // the v3 table exists, filled from the v2 column

        // A file at version 3 is refused by a Lifeboat that knows only version 1.
        var e = Assert.Throws<UserErrorException>(() => new StateStore(StatePath));
        Assert.Contains("has schema version 3; this Lifeboat understands up to 1: upgrade Lifeboat", e.Message);

        // A failing step: rolled back, the file stays at the version before it.
        File.Delete(StatePath);
        using (var s = new StateStore(StatePath)) s.SetCheckpoint("r", "c", "v", 1);
        var failing = StateFile.Steps.Concat([
            new StateFile.Migration(2, "a column", "ALTER TABLE checkpoints ADD COLUMN note TEXT;"),
            new StateFile.Migration(3, "a broken step", "CREATE TABLE half(x); INSERT INTO no_such_table VALUES(1);"),
        ]).ToList();
        e = Assert.Throws<UserErrorException>(() => new StateStore(StatePath, StateOpenOptions.Default with { Migrations = failing }));
        Assert.Contains($"state file {StatePath}: cannot upgrade it from schema version 2 to 3 (a broken step)", e.Message);
        Assert.Contains("nothing was changed", e.Message);
        Assert.Equal(2, UserVersion(StatePath));
        Assert.Throws<SqliteException>(() => Sql("SELECT * FROM half"));
    }

    [Fact]
    public void AReadOnlyStateFile_IsAOneLineError_ReadsStillWork()
    {
        MakeStateWithStoppedResource();
        using var ro = new ReadOnlyFile(StatePath);
        using var s = new StateStore(StatePath);
        Assert.Equal(ReplicationMode.Stopped, ReplicationControl.Get(s, "photos"));
        var e = Assert.Throws<UserErrorException>(() => s.SetCheckpoint("photos", "x", "y", 1));
        Assert.Contains($"state file {Path.GetFullPath(StatePath)} is read-only", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AParentPathThatIsAFile_IsAOneLineError()
    {
        var file = _dir.File("not-a-folder", "x");
        var path = Path.Combine(file, "state.db");
        var e = Assert.Throws<UserErrorException>(() => new StateStore(path));
        Assert.Contains($"state file {path}: cannot create its folder {file}", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AFolderThatCannotBeWritten_IsAOneLineError()
    {
        var folder = _dir.Sub("locked");
        var path = Path.Combine(folder, "state.db");
        using (new ReadOnlyFolder(folder))
        {
            var e = Assert.Throws<UserErrorException>(() => new StateStore(path));
            Assert.Contains($"state file {path}", e.Message);
            Assert.Contains("cannot be opened", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void AStateFileLockedByAnotherProcess_IsAOneLineErrorAfterTheBusyTimeout()
    {
        using (var s = new StateStore(StatePath)) { }
        using var other = new SqliteConnection($"Data Source={StatePath};Pooling=False");
        other.Open();
        using var tx = other.BeginTransaction(deferred: false); // holds the write lock
        using var s2 = new StateStore(StatePath, StateOpenOptions.Default with { BusyTimeout = TimeSpan.FromMilliseconds(200) });
        var e = Assert.Throws<UserErrorException>(() => s2.SetCheckpoint("r", "c", "v", 1));
        Assert.Contains($"state file {StatePath} is locked by another process", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void DamageFoundWhileReading_AFileTooLargeForTheOpenCheck_IsAOneLineError_AndVerifyChecksItWhole()
    {
        using (var s = new StateStore(StatePath))
            for (var i = 0; i < 3000; i++) s.Hold("photos", $"key-{i:00000}-{new string('x', 60)}", i, null);
        var bytes = File.ReadAllBytes(StatePath);
        // Damage the last pages (leaves of held_deletes: their page type byte too) but not the schema: opening without
        // the full check works.
        for (var p = bytes.Length / 4096 - 3; p < bytes.Length / 4096; p++) Array.Fill(bytes, (byte)0xA5, p * 4096, 200);
        File.WriteAllBytes(StatePath, bytes);
        var noCheck = StateOpenOptions.Default with { QuickCheckMaxBytes = 0 };
        using var s2 = new StateStore(StatePath, noCheck);
        var e = Assert.Throws<UserErrorException>(() => s2.HeldDeletes("photos"));
        AssertDamageLine(e.Message, StatePath, "is damaged (SQLite error 11");
        AssertDamageLine(Assert.Throws<UserErrorException>(s2.CheckWhole).Message, StatePath, "is damaged (quick_check");
        // Small enough for the check on open: refused at once.
        AssertDamageLine(Assert.Throws<UserErrorException>(() => new StateStore(StatePath, StateOpenOptions.Default with { QuickCheckMaxBytes = 1 << 30 })).Message,
            StatePath, "is damaged");
    }

    [Fact]
    public void AnUnknownReplicationModeInTheFile_IsAOneLineError()
    {
        using var s = Create();
        s.SetCheckpoint("photos", ReplicationControl.ModeCheckpoint, "stoppet", 1);
        var e = Assert.Throws<UserErrorException>(() => ReplicationControl.Get(s, "photos"));
        AssertDamageLine(e.Message, StatePath, "unknown replication mode 'stoppet'");
    }

    [Fact]
    public void ASetModeIsInTheFileItself_NotOnlyInItsWriteAheadLog()
    {
        using var s = Create();
        s.SetCheckpoint("photos", "other", "v", 1);
        ReplicationControl.Set(s, "photos", ReplicationMode.Stopped, 2);
        // Read the main file alone (no -wal, as if it were lost).
        var copy = Path.Combine(_dir.Path, "copy.db");
        using (var f = new FileStream(StatePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) using (var o = File.Create(copy)) f.CopyTo(o);
        using var c = new SqliteConnection($"Data Source={copy};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT value FROM checkpoints WHERE resource='photos' AND name='{ReplicationControl.ModeCheckpoint}'";
        Assert.Equal("stopped", cmd.ExecuteScalar());
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}

/// <summary>A folder no new file can be created in, even by root (chattr +i there, chmod elsewhere).</summary>
public sealed class ReadOnlyFolder : IDisposable
{
    private readonly string _path;
    private readonly bool _immutable = Environment.UserName == "root";

    public ReadOnlyFolder(string path)
    {
        _path = path;
        if (_immutable)
        {
            var (code, output) = Proc.Run("chattr", ["+i", path], TimeSpan.FromSeconds(10));
            Assert.True(code == 0, "chattr +i: " + output);
        }
        else if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserExecute);
    }

    public void Dispose()
    {
        if (_immutable) Proc.Run("chattr", ["-i", _path], TimeSpan.FromSeconds(10));
        else if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
