using Lifeboat.Providers.Postgres;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Postgres;

/// <summary>The same archive on S3 (the real Ceph RGW): stream mode, a base backup, verify, and a --latest restore
/// compared with pg_dump.</summary>
[Collection("postgres")]
public sealed class PgS3Tests
{
    private readonly PostgresServer _pg = PostgresServer.Instance;

    [Fact]
    public async Task StreamBackupVerifyRestore_OnRgw()
    {
        var rgw = RgwServer.Instance;
        await using var store = rgw.CreateStore();
        var bucket = RgwServer.NewBucketName("pg");
        var yaml = PostgresServer.ResourceYaml("s3db", _pg.Port, "/unused").Replace("bucket: pg,", $"bucket: {bucket},");
        var res = PostgresServer.Resource(yaml) with { Target = PostgresServer.Resource(yaml).Target with { Store = "rgw" } };
        var db = _pg.NewDatabase();
        using var dir = new TempDir();
        try
        {
            var prot = new PgProtector(res, store, TimeProvider.System, NullLogger.Instance);
            await prot.PrepareAsync(default);
            using var cts = new CancellationTokenSource();
            var run = prot.Streamer!.RunAsync(cts.Token);
            await prot.BackupAsync(default);
            _pg.Psql("CREATE TABLE s3t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g", db);
            var dump = _pg.Dump(db);
            var lsn = _pg.Lsn();
            await Eventually.TrueAsync(() => prot.Streamer.DurableLsn >= lsn, TimeSpan.FromSeconds(60), "WAL on RGW");
            cts.Cancel();
            await run;
            var report = await PgVerifier.RunAsync(prot.Archive, default);
            Assert.True(report.Ok, string.Join("; ", report.Gaps.Concat(report.WalErrors)));
            var target = Path.Combine(dir.Path, "r");
            var port = PostgresServer.NextPort();
            try
            {
                await new PgRestore(res, prot.Archive, NullLogger.Instance).RunAsync(new RestoreOptions(target, null, true, port), default);
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
