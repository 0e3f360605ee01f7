using System.Text;
using Lifeboat.Providers.Postgres;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Postgres;

/// <summary>kill -9 of <c>lifeboat replicate</c> while WAL streams under pgbench: after a restart nothing is missing
/// (the slot kept the server's WAL from the last confirmed segment), verify is clean and --latest restores exactly the
/// database as it was (pg_dump).</summary>
[Collection("postgres")]
public sealed class PgCrashTests
{
    private readonly PostgresServer _pg = PostgresServer.Instance;

    [Fact]
    public async Task KillDashNine_WhileStreaming_LosesNothing()
    {
        using var dir = new TempDir();
        var db = _pg.NewDatabase();
        var cfg = dir.File("lb.yaml", PostgresServer.ResourceYaml("crash", _pg.Port, dir.Sub("store")));
        var res = PostgresServer.Resource(File.ReadAllText(cfg));
        var archive = PgArchive.For(res, new FileStore("local", Path.Combine(dir.Path, "store")));
        try
        {
            _pg.Pgbench(db, "-i", "-s", "1", "-q");
            var (code, text) = LifeboatCli.Run(dir.Path, null, "pg", "backup", "-c", cfg, "-r", "crash");
            Assert.True(code == 0, text);
            var output = new StringBuilder();
            using (var p = LifeboatCli.Start(dir.Path, null, output, "replicate", "-c", cfg))
            {
                await Eventually.TrueAsync(() => { lock (output) return output.ToString().Contains("streaming WAL from"); }, TimeSpan.FromSeconds(60), "replicate streaming");
                _pg.Pgbench(db, "-n", "-t", "300", "-c", "2");
                var mid = _pg.Lsn();
                await Eventually.TrueAsync(async () => (await archive.GetTipAsync(default)) is { } t && Wal.ParseLsn(t.Lsn) >= mid, TimeSpan.FromSeconds(60), "some WAL archived");
                _pg.Psql("SELECT pg_switch_wal()");
                _pg.Pgbench(db, "-n", "-t", "300", "-c", "2");
                p.Kill(); // SIGKILL
                p.WaitForExit();
            }
            _pg.Pgbench(db, "-n", "-t", "200", "-c", "2");
            _pg.Psql("SELECT pg_switch_wal()");
            _pg.Psql("CHECKPOINT");
            _pg.Psql("UPDATE pgbench_branches SET bbalance = 42", db);
            var dump = _pg.Dump(db);

            (code, text) = LifeboatCli.Run(dir.Path, null, "replicate", "-c", cfg, "--once");
            Assert.True(code == 0, text);
            (code, text) = LifeboatCli.Run(dir.Path, null, "pg", "verify", "-c", cfg);
            Assert.True(code == 0, text);
            var target = Path.Combine(dir.Path, "r");
            var port = PostgresServer.NextPort();
            try
            {
                (code, text) = LifeboatCli.Run(dir.Path, null, "pg", "restore", "-c", cfg, "-r", "crash", "--target-dir", target, "--latest", "--start",
                    "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Assert.True(code == 0, text);
                Assert.Equal(dump, _pg.Dump(db, port));
            }
            finally { _pg.StopDataDir(target); }
        }
        finally
        {
            _pg.DropSlot(res.Slot);
            _pg.Psql($"DROP DATABASE {db}");
        }
    }
}
