using Lifeboat.Hosting;
using System.Text;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>
/// kill -9 in the middle of a backfill and of continuous replication, then a restart: every object ends up
/// replicated, none corrupted, and objects already copied are not copied again. Each kill lands at a random moment
/// after an observed point of progress that the run cannot outrun (<see cref="KillPoint"/>): a gate holds one source
/// file (folder to folder), a proxy holds the traffic to the S3 server once a budget of bytes went through, and
/// continuous replication never ends by itself.
/// </summary>
public sealed class CrashTests
{
    private static readonly PartLayout Whole = new(long.MaxValue, 8 << 20);

    private static async Task SeedFolderAsync(FileStore store, string bucket, int n, int size)
    {
        await store.CreateBucketAsync(bucket, CancellationToken.None);
        var rng = new Random(5);
        for (var i = 0; i < n; i++)
        {
            var data = new byte[size + rng.Next(size)];
            rng.NextBytes(data);
            await store.PutAsync(bucket, $"d{i % 10}/f-{i:00000}", new MemoryStream(data), data.Length,
                new ObjectMetadata("application/octet-stream", null, null, new Dictionary<string, string> { ["i"] = i.ToString() }, new Dictionary<string, string>()),
                Whole, CancellationToken.None);
        }
    }

    private static Func<int> FilesUnder(string dir) => () =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count(f => !f.Contains("/.lifeboat/")) : 0;

    /// <summary>Changes made durable on the target so far (read from the state file, once the CLI has created it).</summary>
    private static Func<long> Durable(string statePath, string resource) => () =>
    {
        if (!File.Exists(statePath)) return 0;
        using var st = new StateStore(statePath);
        return st.Stats(resource, TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds()).LagsLastHourMs.Length;
    };

    private static async Task<Dictionary<string, DateTime>> CompleteCopiesAsync(FileStore source, string sb, FileStore target, string tb, string root)
    {
        var done = new Dictionary<string, DateTime>();
        await foreach (var o in target.ListAsync(tb, "", null, CancellationToken.None))
        {
            var s = await source.HeadAsync(sb, o.Key, CancellationToken.None);
            if (s is not null && s.Info.ETag == o.ETag && ETags.IsMd5(o.ETag))
                done[o.Key] = File.GetLastWriteTimeUtc(Path.Combine(root, tb, o.Key));
        }
        return done;
    }

    [Fact]
    public async Task Kill9DuringBackfill_RestartFinishes_NothingLostOrCorrupted_NothingCopiedTwice()
    {
        using var dir = new TempDir();
        var src = new FileStore("primary", dir.Sub("primary"));
        var dst = new FileStore("recovery", dir.Sub("recovery"));
        await SeedFolderAsync(src, "data", 2500, 4096);
        await dst.CreateBucketAsync("data-dr", CancellationToken.None);
        var cfg = dir.File("lifeboat.yaml", """
            state: state.db
            stores:
              primary:  { type: file, path: primary }
              recovery: { type: file, path: recovery }
            resources:
              - name: files
                source: { store: primary, bucket: data }
                target: { store: recovery, bucket: data-dr }
                concurrency: 8
            """);
        // Each run is gated on the last key in listing order (the open() of its source file blocks while the test holds
        // a lease on it): the run copies up to there and cannot finish. It is killed at a random moment after the target
        // gained files or the copy reached the gate.
        var copied = FilesUnder(Path.Combine(dir.Path, "recovery", "data-dr"));
        var last = Path.Combine(dir.Path, "primary", "data", "d9", "f-02499");
        var rng = new Random(11);
        for (var k = 0; k < 4; k++)
        {
            using var gate = new FileGate(last);
            var start = copied();
            await KillPoint.RunAndKillAsync(dir.Path, null, () => copied() > start || gate.Reached, $"run {k}: the target to gain files (it has {start})", rng, 400,
                ["replicate", "-c", cfg, "--once"]);
        }
        var before = await CompleteCopiesAsync(src, "data", dst, "data-dr", Path.Combine(dir.Path, "recovery"));
        Assert.NotEmpty(before); // the kills interrupted work in progress, not before it started
        Assert.DoesNotContain("d9/f-02499", before.Keys); // the gated key: no run could finish
        var (code, output) = LifeboatCli.Run(dir.Path, null, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);

        var config = Configs.Load(cfg);
        using var state = new StateStore(config.StatePath);
        var v = await new Verifier(config.Resources[0], src, dst, state).RunAsync(CancellationToken.None);
        Assert.True(v.Ok, string.Join("\n", v.Differences.Take(10)));
        Assert.Equal(2500, v.Equal);
        foreach (var (key, mtime) in before)
            Assert.Equal(mtime, File.GetLastWriteTimeUtc(Path.Combine(dir.Path, "recovery", "data-dr", key)));
        Assert.Empty(state.Failed("files"));
    }

    [Fact]
    public async Task Kill9DuringContinuousReplication_WithWritesGoingOn_RestartCatchesUp()
    {
        using var dir = new TempDir();
        var src = new FileStore("primary", dir.Sub("primary"));
        var dst = new FileStore("recovery", dir.Sub("recovery"));
        await SeedFolderAsync(src, "data", 300, 2048);
        await dst.CreateBucketAsync("data-dr", CancellationToken.None);
        var cfg = dir.File("lifeboat.yaml", """
            state: state.db
            stores:
              primary:  { type: file, path: primary }
              recovery: { type: file, path: recovery }
            resources:
              - name: files
                source: { store: primary, bucket: data }
                target: { store: recovery, bucket: data-dr }
                deletes: propagate
                reconcile_every: 1s
            """);
        using var writes = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            var rng = new Random(3);
            var i = 0;
            while (!writes.IsCancellationRequested)
            {
                var data = new byte[rng.Next(100, 5000)];
                rng.NextBytes(data);
                var key = $"live/{i++ % 150:000}";
                await src.PutAsync("data", key, new MemoryStream(data), data.Length, ObjectMetadata.Empty, Whole, CancellationToken.None);
                if (i % 17 == 0) await src.DeleteAsync("data", $"live/{rng.Next(150):000}", CancellationToken.None);
                await Task.Delay(5);
            }
        });
        // Continuous mode never ends by itself: each run is killed at a random moment after it made more changes durable.
        var config = Configs.Load(cfg);
        var durable = Durable(config.StatePath, "files");
        var rng = new Random(11);
        for (var k = 0; k < 4; k++)
        {
            var start = durable();
            await KillPoint.RunAndKillAsync(dir.Path, null, () => durable() > start, $"run {k}: more changes durable than {start}", rng, 1500, ["replicate", "-c", cfg]);
        }
        await writes.CancelAsync();
        await writer;

        var output = new StringBuilder();
        using var p = LifeboatCli.Start(dir.Path, null, output, "replicate", "-c", cfg);
        try
        {
            await Eventually.TrueAsync(async () =>
            {
                using var st = new StateStore(config.StatePath);
                var v = await new Verifier(config.Resources[0], src, dst, st).RunAsync(CancellationToken.None);
                return v.Ok;
            }, TimeSpan.FromSeconds(60), "the restarted replicator to catch up; output: " + output);
        }
        finally
        {
            Mono.Unix.Signal(p.Id, 15);
        }
        Assert.True(p.WaitForExit(30_000), output.ToString());
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        using var state = new StateStore(config.StatePath);
        Assert.Empty(state.Failed("files"));
        Assert.Equal(0, state.Backlog("files"));
    }

    [Fact]
    public async Task Kill9DuringStreamedCopyToS3_IncludingAMultipartUpload_RestartFinishes()
    {
        using var dir = new TempDir();
        var src = new FileStore("primary", dir.Sub("primary"));
        await SeedFolderAsync(src, "data", 400, 8192);
        var big = new byte[40 << 20];
        new Random(9).NextBytes(big);
        await src.PutAsync("data", "big/blob.bin", new MemoryStream(big), big.Length, ObjectMetadata.Empty, Whole, CancellationToken.None);
        var bucket = RgwServer.NewBucketName("crash");
        await using var s3 = RgwServer.Instance.CreateStore();
        await s3.CreateBucketAsync(bucket, CancellationToken.None);
        // The CLI reaches RGW through a proxy that holds all traffic once a run's budget of request bytes went through.
        await using var proxy = new GatedProxy(RgwServer.Instance.Endpoint);
        var env = new Dictionary<string, string?> { ["AWS_SHARED_CREDENTIALS_FILE"] = RgwServer.Instance.CredentialsFile(dir), ["AWS_CA_BUNDLE"] = null };
        var cfg = dir.File("lifeboat.yaml", $$"""
            state: state.db
            stores:
              primary:  { type: file, path: primary }
              recovery: { type: s3, endpoint: {{proxy.Endpoint}}, region: us-east-1, force_path_style: true, profile: lifeboat-test }
            resources:
              - name: files
                source: { store: primary, bucket: data }
                target: { store: recovery, bucket: {{bucket}} }
                part_size: 5MiB
                multipart_threshold: 5MiB
            """);
        // The data: 40 MiB in one object and 400 files of 8-16 KiB (at most 6.6 MB with their requests' headers). The
        // first run's 12 MiB cannot all be small files, so the multipart upload is under way when it is held; the three
        // budgets together (28 MiB) are less than the big object alone, so no run can finish, however fast.
        var rng = new Random(11);
        foreach (var budget in new long[] { 12 << 20, 8 << 20, 8 << 20 })
        {
            proxy.Allow(budget);
            await KillPoint.RunAndKillAsync(dir.Path, env, () => proxy.Exhausted, $"the proxy to pass its budget of {budget} request bytes", rng, 300,
                ["replicate", "-c", cfg, "--once"]);
            proxy.DropConnections();
        }
        Assert.Null(await s3.HeadAsync(bucket, "big/blob.bin", CancellationToken.None)); // every kill came before the upload was complete
        proxy.Open();
        var (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        var config = Configs.Load(cfg);
        using var state = new StateStore(config.StatePath);
        var v = await new Verifier(config.Resources[0], src, s3, state).RunAsync(CancellationToken.None);
        Assert.True(v.Ok, string.Join("\n", v.Differences.Take(10)));
        Assert.Equal(401, v.Equal);
        var head = await s3.HeadAsync(bucket, "big/blob.bin", CancellationToken.None);
        Assert.EndsWith("-8", head!.Info.ETag);
    }
}
