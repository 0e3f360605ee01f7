using System.Text;
using Lifeboat.Abstractions;
using Lifeboat.Core.Storage;
using Lifeboat.Providers.Postgres;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Postgres;

/// <summary>
/// <c>pg restore --start</c> fetches WAL while PostgreSQL replays (WalSpool): the server starts before the WAL is all
/// there and no more than the spool's window is fetched ahead of replay; it pauses at the target and is promoted without
/// waiting for the end-of-recovery checkpoint; no copy of the WAL is left behind. A segment that vanishes mid-restore
/// stops the server with the segment named (never a promotion short of the target, never a wait forever); so does a
/// restore killed with -9 during replay. The restore_command's contract is tested on its own too.
/// </summary>
[Collection("postgres")]
public sealed class PgRestoreSpoolTests
{
    private readonly PostgresServer _pg = PostgresServer.Instance;

    /// <summary>The real folder store, watched: each WAL GET is recorded (with whether the restored server was running
    /// at that moment), and one segment can be made to vanish. A wrapper for observation and fault injection.</summary>
    private sealed class WatchedStore(IObjectStore inner) : ForwardingStore(inner)
    {
        public readonly List<(string Key, bool ServerRunning)> WalGets = [];
        public string? RunningFlag;
        public string? Vanish;
        public override Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct)
        {
            if (key.Contains("/wal/", StringComparison.Ordinal))
            {
                lock (WalGets) WalGets.Add((key, RunningFlag is not null && File.Exists(RunningFlag)));
                if (Vanish is not null && key.Contains(Vanish, StringComparison.Ordinal)) return Task.FromResult<ObjectReader?>(null);
            }
            return Inner.GetAsync(bucket, key, ct);
        }
    }

    private sealed record Archive(string Config, Lifeboat.Providers.Postgres.PostgresResource Res, string Store, List<string> Segments,
        DateTimeOffset T, string DumpAtT);

    /// <summary>A base backup, then <paramref name="tables"/> tables each in a WAL segment of its own; T is taken after
    /// table <paramref name="markAfter"/> (a commit follows T unless it is the last table).</summary>
    private async Task<Archive> BuildAsync(TempDir dir, string db, int tables, int markAfter)
    {
        var cfg = dir.File("lb.yaml", PostgresServer.ResourceYaml("spool", _pg.Port, dir.Sub("store")));
        var res = PostgresServer.Resource(File.ReadAllText(cfg));
        var store = new FileStore("local", Path.Combine(dir.Path, "store"));
        var prot = new PgProtector(res, store, TimeProvider.System, NullLogger.Instance);
        await prot.PrepareAsync(default);
        using var cts = new CancellationTokenSource();
        var run = prot.Streamer!.RunAsync(cts.Token);
        await prot.BackupAsync(default);
        DateTimeOffset t = default;
        var dump = "";
        for (var i = 0; i < tables; i++)
        {
            _pg.Psql($"CREATE TABLE t{i} AS SELECT g FROM generate_series(1, 1000) g", db);
            if (i == markAfter) { t = _pg.ServerNow(); dump = _pg.Dump(db); }
            _pg.Psql("SELECT pg_switch_wal()");
        }
        var lsn = _pg.Lsn();
        await Eventually.TrueAsync(() => prot.Streamer.DurableLsn >= lsn, TimeSpan.FromSeconds(60), "WAL archived");
        cts.Cancel();
        await run;
        _pg.DropSlot(res.Slot);
        var segments = (await prot.Archive.ListWalAsync(default)).Select(w => w.Segment).Distinct().Order(StringComparer.Ordinal).ToList();
        return new Archive(cfg, res, Path.Combine(dir.Path, "store"), segments, t, dump);
    }

    private static string ServerLog(string dataDir) => File.ReadAllText(Path.Combine(dataDir, "lifeboat-restore.log"));

    [Fact]
    public async Task PitrStart_FetchesWalWhileReplaying_BoundedAhead_PromotesWithoutTheCheckpointWait_LeavesNoWalBehind()
    {
        using var dir = new TempDir();
        var db = _pg.NewDatabase();
        var target = Path.Combine(dir.Path, "r");
        try
        {
            var a = await BuildAsync(dir, db, tables: 30, markAfter: 9);
            var store = new WatchedStore(new FileStore("local", a.Store)) { RunningFlag = Path.Combine(target, "postmaster.pid") };
            var port = PostgresServer.NextPort();
            var r = await new PgRestore(a.Res, PgArchive.For(a.Res, store), NullLogger.Instance)
                .RunAsync(new RestoreOptions(target, a.T, Start: true, port), default);
            Assert.Equal(a.DumpAtT, _pg.Dump(db, port));
            Assert.NotNull(r.StopMessage);

            // The server started before the WAL was all there: segments were fetched while it replayed...
            Assert.Contains(store.WalGets, g => g.ServerRunning);
            // ...and never more than the spool's window (plus the fetches in flight) beyond the segment replay stopped in.
            var stopIndex = a.Segments.IndexOf(Wal.SegmentName(Wal.ParseSegmentName(a.Segments[0]).Timeline, Wal.SegmentNo(Wal.ParseLsn(r.ReplayLsn!))));
            var furthest = store.WalGets.Max(g => a.Segments.FindIndex(s => g.Key.Contains(s, StringComparison.Ordinal)));
            Assert.True(furthest <= stopIndex + WalSpool.Window + 2, $"fetched up to segment #{furthest} of {a.Segments.Count}, replay stopped in #{stopIndex}");
            Assert.True(a.Segments.Count > stopIndex + WalSpool.Window + 3, "the archive reaches beyond the window");

            // Paused at the target, then promoted: no end-of-recovery checkpoint waited for.
            var log = ServerLog(target);
            Assert.Contains("received promote request", log);
            Assert.DoesNotContain("end-of-recovery immediate wait", log);
            Assert.False(Directory.Exists(Path.Combine(target, "lifeboat_wal")), "no copy of the WAL is left in the data directory");
        }
        finally
        {
            _pg.StopDataDir(target);
            _pg.Psql($"DROP DATABASE {db}");
        }
    }

    [Fact]
    public async Task PitrStart_ASegmentVanishingMidRestore_StopsTheServer_AndNamesTheSegment()
    {
        using var dir = new TempDir();
        var db = _pg.NewDatabase();
        var target = Path.Combine(dir.Path, "r");
        try
        {
            var a = await BuildAsync(dir, db, tables: 20, markAfter: 16);
            var vanished = a.Segments[12];
            var store = new WatchedStore(new FileStore("local", a.Store)) { Vanish = vanished };
            var restore = new PgRestore(a.Res, PgArchive.For(a.Res, store), NullLogger.Instance)
                .RunAsync(new RestoreOptions(target, a.T, Start: true, PostgresServer.NextPort()), default);
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => restore.WaitAsync(TimeSpan.FromMinutes(3)));
            Assert.Contains($"WAL segment {vanished} disappeared", e.Message);
            Assert.False(File.Exists(Path.Combine(target, "postmaster.pid")), "the server was stopped");
            var log = ServerLog(target);
            // Who stops the server depends on timing, and both are right: the restore_command, when PostgreSQL asked
            // for a segment after the fetch failed (it exits 127 with the failure), or the restore itself (a fast
            // shutdown), when the spool, fetching ahead, failed before PostgreSQL got that far. Never a recovery that
            // ends short of T.
            Assert.True(log.Contains("lifeboat: fetching WAL failed", StringComparison.Ordinal) ||
                        log.Contains("received fast shutdown request", StringComparison.Ordinal), log);
            Assert.DoesNotContain("archive recovery complete", log);
            Assert.DoesNotContain("database system is ready to accept connections", log);
        }
        finally
        {
            _pg.StopDataDir(target);
            _pg.Psql($"DROP DATABASE {db}");
        }
    }

    [Fact]
    public async Task KillDashNine_DuringReplay_TheServerStopsInsteadOfPromotingShort()
    {
        using var dir = new TempDir();
        var db = _pg.NewDatabase();
        var target = Path.Combine(dir.Path, "r");
        try
        {
            var a = await BuildAsync(dir, db, tables: 24, markAfter: 23);
            var output = new StringBuilder();
            using (var p = LifeboatCli.Start(dir.Path, null, output, "pg", "restore", "-c", a.Config, "-r", "spool", "--target-dir", target, "--latest", "--start",
                       "--port", PostgresServer.NextPort().ToString(System.Globalization.CultureInfo.InvariantCulture)))
            {
                // The server starts once the first window of segments is fetched; until it asks for them, nothing more
                // is fetched. Killed then, the restore never fetches the rest.
                await Eventually.TrueAsync(() => File.Exists(Path.Combine(target, "postmaster.pid")) || p.HasExited, TimeSpan.FromMinutes(2),
                    () => $"the restored server starting; output: {output}");
                Assert.False(p.HasExited, output.ToString());
                p.Kill(); // SIGKILL
                p.WaitForExit();
            }
            await Eventually.TrueAsync(() => !File.Exists(Path.Combine(target, "postmaster.pid")), TimeSpan.FromMinutes(1), () => $"the server stopping; log: {ServerLog(target)}");
            var log = ServerLog(target);
            Assert.Contains("is not running any more", log);
            Assert.DoesNotContain("archive recovery complete", log);
        }
        finally
        {
            _pg.StopDataDir(target);
            _pg.Psql($"DROP DATABASE {db}");
        }
    }

    /// <summary>The restore_command's contract, against segments in a real folder store (no server): a segment is
    /// handed over (moved, its content intact), a segment asked for again is fetched again (a restarted server), a name
    /// outside the chain answers "not archived" at once, a segment that cannot be fetched and a restore that is gone
    /// are fatal (exit 127), never a wait forever nor "not archived".</summary>
    [Fact]
    public async Task SpoolScript_HandsOver_RefetchesOnRequest_AnswersOutsideTheChain_FailsLoudly()
    {
        using var dir = new TempDir();
        var store = new FileStore("local", dir.Sub("store"));
        await store.CreateBucketAsync("pg", default);
        var archive = new PgArchive(store, "pg", "s/");
        var segments = new List<WalObject>();
        byte[] Content(int i) { var b = new byte[Wal.SegmentSize]; for (var j = 0; j < b.Length; j += 4096) b[j] = (byte)(i + j / 4096); return b; }
        for (var i = 1; i <= 12; i++)
        {
            var name = Wal.SegmentName(1, (ulong)i);
            await archive.PushSegmentAsync(name, Content(i), DateTimeOffset.UnixEpoch, default);
            segments.Add(new WalObject(name, false, archive.WalKey(name), 0));
        }
        var data = dir.Sub("data");
        (int Code, string Output) Ask(string name, string dest) =>
            Proc.Run("sh", [$"lifeboat_wal/{WalSpool.ScriptName}", name, dest], TimeSpan.FromMinutes(1), null, data);

        await using (var spool = WalSpool.Start(archive, segments, Path.Combine(data, "lifeboat_wal"), WalSpool.FlockTool()!, null, NullLogger.Instance))
        {
            await spool.Ready;
            var first = Path.Combine(dir.Path, "first");
            Assert.Equal(0, Ask(segments[0].Segment, first).Code);
            Assert.Equal(Content(1), File.ReadAllBytes(first));
            Assert.False(File.Exists(Path.Combine(data, "lifeboat_wal", segments[0].Segment)), "moved, not copied");
            var again = Path.Combine(dir.Path, "again");
            Assert.Equal(0, Ask(segments[0].Segment, again).Code);           // consumed before: fetched again
            Assert.Equal(Content(1), File.ReadAllBytes(again));
            var last = Path.Combine(dir.Path, "last");
            Assert.Equal(0, Ask(segments[11].Segment, last).Code);          // beyond the window: fetched on request
            Assert.Equal(Content(12), File.ReadAllBytes(last));
            foreach (var outside in new[] { "00000002.history", Wal.SegmentName(1, 13), Wal.SegmentName(1, 0), Wal.SegmentName(2, 5), "00000001000000000000000G" })
                Assert.Equal(1, Ask(outside, Path.Combine(dir.Path, "x")).Code);

            // A segment that cannot be fetched (it vanished from the store).
            await store.DeleteAsync("pg", archive.WalKey(segments[10].Segment), default);
            var (code, text) = Ask(segments[10].Segment, Path.Combine(dir.Path, "y"));
            Assert.Equal(127, code);
            Assert.Contains($"WAL segment {segments[10].Segment} disappeared", text);
            await Assert.ThrowsAsync<InvalidDataException>(() => spool.Completion);
        }

        // The restore is gone (its flock released, as by kill -9) before a segment came: fatal, not "not archived".
        var data2 = dir.Sub("data2");
        var spool2 = WalSpool.Start(archive, segments.GetRange(0, 10), Path.Combine(data2, "lifeboat_wal"), WalSpool.FlockTool()!, null, NullLogger.Instance);
        await spool2.Ready;
        await spool2.DisposeAsync();
        var (code2, text2) = Proc.Run("sh", [$"lifeboat_wal/{WalSpool.ScriptName}", segments[9].Segment, Path.Combine(dir.Path, "z")], TimeSpan.FromMinutes(1), null, data2);
        Assert.Equal(127, code2);
        Assert.Contains("is not running any more", text2);
    }
}
