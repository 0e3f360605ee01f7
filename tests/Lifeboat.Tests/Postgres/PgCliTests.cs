using System.Text.Json;
using Lifeboat.Core.Storage;
using Lifeboat.Providers.Postgres;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Postgres;

/// <summary>The CLI as users run it: archive mode (archive_command = lifeboat wal-push) on a second real cluster,
/// wal-push idempotency and conflict, wal-fetch; backup, replicate --once and status in stream mode; and the bad-input
/// cases (wrong password, no REPLICATION attribute, unreachable server, wal_level=minimal), each one line, exit 2.</summary>
[Collection("postgres")]
public sealed class PgCliTests
{
    private readonly PostgresServer _pg = PostgresServer.Instance;

    [Fact]
    public async Task ArchiveMode_WalPushFromArchiveCommand_BackupAndLatestRestore_IdempotentPushAndConflict()
    {
        using var dir = new TempDir();
        var store = dir.Sub("store");
        PostgresServer.Chown(store);
        var cfgPath = Path.Combine(dir.Path, "lb.yaml");
        var port = PostgresServer.NextPort();
        // The cluster's archive_command calls lifeboat as the postgres user.
        using var cluster = _pg.StartClusterAt(port, $"wal_level = replica\nmax_wal_senders = 5\narchive_mode = on\narchive_command = '{LifeboatCli.ShellCommand} wal-push -c {cfgPath} -r arch %p'\n");
        File.WriteAllText(cfgPath, PostgresServer.ResourceYaml("arch", cluster.Port, store, wal: "archive"));
        _pg.Psql("CREATE TABLE t (id int primary key, v text); INSERT INTO t SELECT g, 'x' || g FROM generate_series(1, 5000) g", port: cluster.Port);
        // The first archived segment creates the store's folders as the postgres user (who runs archive_command); the
        // backup below runs as root and only adds its own folders.
        var first = _pg.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())", port: cluster.Port);
        _pg.Psql("SELECT pg_switch_wal()", port: cluster.Port);
        await Eventually.TrueAsync(() => _pg.Psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", port: cluster.Port) == first,
            TimeSpan.FromSeconds(60), $"{first} archived by archive_command");

        var (code, text) = LifeboatCli.Run(dir.Path, null, "pg", "backup", "-c", cfgPath, "-r", "arch");
        Assert.True(code == 0, text);
        Assert.Contains("base backup", text);

        _pg.Psql("UPDATE t SET v = 'y' WHERE id <= 100", port: cluster.Port);
        var seg = _pg.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())", port: cluster.Port);
        _pg.Psql("SELECT pg_switch_wal()", port: cluster.Port);
        var dump = _pg.Dump("postgres", cluster.Port);
        await Eventually.TrueAsync(() => _pg.Psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", port: cluster.Port) == seg,
            TimeSpan.FromSeconds(60), $"{seg} archived by archive_command");

        (code, text) = LifeboatCli.Run(dir.Path, null, "pg", "verify", "-c", cfgPath);
        Assert.True(code == 0, text);
        var target = Path.Combine(dir.Path, "restored");
        var rport = PostgresServer.NextPort();
        try
        {
            (code, text) = LifeboatCli.Run(dir.Path, null, "pg", "restore", "-c", cfgPath, "-r", "arch", "--target-dir", target, "--latest", "--start", "--port", rport.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(code == 0, text);
            Assert.Equal(dump, _pg.Dump("postgres", rport));
        }
        finally { _pg.StopDataDir(target); }

        // The same restore as a runbook step (issue 5: `restore` steps restore PostgreSQL to a point in time).
        var target2 = Path.Combine(dir.Path, "restored-by-runbook");
        var rport2 = PostgresServer.NextPort();
        File.AppendAllText(cfgPath, $"\nrunbooks:\n  restore-db:\n    steps:\n      - name: db\n        restore: {{ resource: arch, point_in_time: latest, target_dir: restored-by-runbook, port: {rport2} }}\n");
        try
        {
            (code, text) = LifeboatCli.Run(dir.Path, null, "failover", "-c", cfgPath, "--runbook", "restore-db", "--yes");
            Assert.True(code == 0, text);
            Assert.Contains($"started on port {rport2}", text);
            Assert.Equal(dump, _pg.Dump("postgres", rport2));
        }
        finally { _pg.StopDataDir(target2); }

        // wal-push of a segment already archived: same content is fine (exit 0), other content is refused (exit 2).
        var copy = Path.Combine(dir.Path, seg);
        (code, text) = LifeboatCli.Run(dir.Path, null, "wal-fetch", "-c", cfgPath, "-r", "arch", seg, copy);
        Assert.True(code == 0, text);
        Assert.Equal(Wal.SegmentSize, new FileInfo(copy).Length);
        (code, text) = LifeboatCli.Run(dir.Path, null, "wal-push", "-c", cfgPath, "-r", "arch", copy);
        Assert.True(code == 0, text);
        Assert.Contains("already archived with the same content", text);
        var bytes = File.ReadAllBytes(copy);
        bytes[12345] ^= 0x01;
        File.WriteAllBytes(copy, bytes);
        (code, text) = LifeboatCli.Run(dir.Path, null, "wal-push", "-c", cfgPath, "-r", "arch", copy);
        Assert.True(code == 2, text);
        Assert.Contains("different content", text);
        Assert.DoesNotContain("   at ", text);
        (code, text) = LifeboatCli.Run(dir.Path, null, "wal-fetch", "-c", cfgPath, "-r", "arch", "0000000100000000000000FF", Path.Combine(dir.Path, "nope"));
        Assert.True(code == 1, text);
    }

    [Fact]
    public void Stream_CliBackupReplicateOnceStatus()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lb.yaml", PostgresServer.ResourceYaml("cli", _pg.Port, dir.Sub("store")));
        var slot = PostgresServer.Resource(File.ReadAllText(cfg)).Slot;
        var env = new Dictionary<string, string?> { ["LIFEBOAT_TEST_PGPW"] = PostgresServer.Password };
        try
        {
            var (code, text) = LifeboatCli.Run(dir.Path, env, "pg", "backup", "-c", cfg, "-r", "cli");
            Assert.True(code == 0, text);
            _pg.Psql("CREATE TABLE IF NOT EXISTS cli_t AS SELECT 1 AS x");
            (code, text) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", cfg, "--once");
            Assert.True(code == 0, text);
            Assert.Contains("cli: WAL archived to", text);
            // verify covers postgres resources (every kind, every command), by name or with the others.
            (code, text) = LifeboatCli.Run(dir.Path, env, "verify", "-c", cfg);
            Assert.True(code == 0, text);
            Assert.Contains("cli (postgres): OK: 1 backups", text);
            (code, text) = LifeboatCli.Run(dir.Path, env, "restore", "-c", cfg, "--resource", "cli");
            Assert.True(code == 2, text);
            Assert.Contains("`lifeboat pg restore -c", text);
            (code, text) = LifeboatCli.Run(dir.Path, env, "status", "-c", cfg, "--json");
            Assert.True(code == 0, text);
            var row = JsonDocument.Parse(text[text.IndexOf('[')..]).RootElement.EnumerateArray().Single(r => r.GetProperty("resource").GetString() == "cli");
            Assert.Equal("stream", row.GetProperty("mode").GetString());
            Assert.Equal(1, row.GetProperty("backups").GetInt32());
            Assert.NotEqual(JsonValueKind.Null, row.GetProperty("window_from").ValueKind);
            Assert.True(row.GetProperty("lag_bytes").GetInt64() < 1 << 20, text);
            (code, text) = LifeboatCli.Run(dir.Path, env, "status", "-c", cfg);
            Assert.Contains("WAL lag", text);
            Assert.Contains("last base backup", text);
            Assert.Contains("recoverable", text);
            Assert.Contains("RPO (measured)", text);
        }
        finally { _pg.DropSlot(slot); }
    }

    [Fact]
    public void BadInput_WrongPassword_NoReplication_Unreachable_WalLevelMinimal()
    {
        using var dir = new TempDir();
        var store = dir.Sub("store");
        void Expect(string yaml, string env, string message, params string[] args)
        {
            var cfg = dir.File("lb.yaml", yaml);
            var (code, text) = LifeboatCli.Run(dir.Path, new Dictionary<string, string?> { ["LIFEBOAT_TEST_PGPW"] = env }, args.Length > 0 ? args : ["pg", "backup", "-c", cfg, "-r", "bad"]);
            Assert.True(code == 2, text);
            Assert.Contains(message, text);
            Assert.DoesNotContain("   at ", text);
        }
        Expect(PostgresServer.ResourceYaml("bad", _pg.Port, store), "wrong", "password authentication failed for user 'lifeboat'");
        Expect(PostgresServer.ResourceYaml("bad", _pg.Port, store, user: "lifeboat_norepl"), PostgresServer.Password, "lacks the REPLICATION attribute");
        var closed = PostgresServer.NextPort();
        Expect(PostgresServer.ResourceYaml("bad", closed, store), PostgresServer.Password, $"127.0.0.1:{closed}: cannot connect");
        using var minimal = _pg.StartClusterAt(PostgresServer.NextPort(), "wal_level = minimal\nmax_wal_senders = 0\n");
        Expect(PostgresServer.ResourceYaml("bad", minimal.Port, store), PostgresServer.Password, "wal_level is 'minimal'");
        var cfg2 = Path.Combine(dir.Path, "lb.yaml");
        Expect(PostgresServer.ResourceYaml("bad", minimal.Port, store), PostgresServer.Password, "set wal_level = replica", "replicate", "-c", cfg2, "--once");
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(store, "*", SearchOption.AllDirectories), f => f.Contains("/backups/"));
    }
}
