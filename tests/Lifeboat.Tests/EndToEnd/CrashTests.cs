using System.Text;
using Lifeboat.Core.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>
/// kill -9 at random moments of a backfill and of continuous replication, then a restart: every object ends up
/// replicated, none corrupted, and objects already copied are not copied again.
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

    /// <summary>Starts the CLI, waits until it has made progress (the target gained files, so the kill lands in the
    /// middle of the work whatever the machine's speed), waits a random extra moment and kills it with SIGKILL.</summary>
    private static async Task KillAtRandomAsync(string cwd, IDictionary<string, string?>? env, int kills, Func<int> progress, int maxExtraMs, params string[] args)
    {
        var rng = new Random(11);
        for (var k = 0; k < kills; k++)
        {
            var output = new StringBuilder();
            var start = progress();
            using var p = LifeboatCli.Start(cwd, env, output, args);
            var deadline = System.Diagnostics.Stopwatch.StartNew();
            while (progress() <= start && !p.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(10);
            if (p.WaitForExit(rng.Next(0, maxExtraMs))) continue; // finished before the kill: nothing left to crash
            p.Kill(entireProcessTree: false); // SIGKILL
            await p.WaitForExitAsync();
        }
    }

    private static Func<int> FilesUnder(string dir) => () =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count(f => !f.Contains("/.lifeboat/")) : 0;

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
        await KillAtRandomAsync(dir.Path, null, kills: 4, FilesUnder(Path.Combine(dir.Path, "recovery", "data-dr")), 400, "replicate", "-c", cfg, "--once");
        var before = await CompleteCopiesAsync(src, "data", dst, "data-dr", Path.Combine(dir.Path, "recovery"));
        Assert.NotEmpty(before); // the kills interrupted work in progress, not before it started
        var (code, output) = LifeboatCli.Run(dir.Path, null, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.True(before.Count < 2500, "the backfill finished before any kill; make the data set larger");

        var config = ConfigLoader.Load(cfg);
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
        await KillAtRandomAsync(dir.Path, null, kills: 4, FilesUnder(Path.Combine(dir.Path, "recovery", "data-dr")), 1500, "replicate", "-c", cfg);
        await writes.CancelAsync();
        await writer;

        var output = new StringBuilder();
        using var p = LifeboatCli.Start(dir.Path, null, output, "replicate", "-c", cfg);
        var config = ConfigLoader.Load(cfg);
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
        var env = new Dictionary<string, string?> { ["AWS_SHARED_CREDENTIALS_FILE"] = RgwServer.Instance.CredentialsFile(dir), ["AWS_CA_BUNDLE"] = null };
        var cfg = dir.File("lifeboat.yaml", $$"""
            state: state.db
            stores:
              primary:  { type: file, path: primary }
              recovery: { type: s3, endpoint: {{RgwServer.Instance.Endpoint}}, region: us-east-1, force_path_style: true, profile: lifeboat-test }
            resources:
              - name: files
                source: { store: primary, bucket: data }
                target: { store: recovery, bucket: {{bucket}} }
                part_size: 5MiB
                multipart_threshold: 5MiB
            """);
        var uploaded = 0;
        int S3Count()
        {
            // Polled from the test thread: count what the target bucket holds now.
            var n = 0;
            foreach (var _ in s3.ListAsync(bucket, "", null, CancellationToken.None).ToBlockingEnumerable()) n++;
            return uploaded = n;
        }
        await KillAtRandomAsync(dir.Path, env, kills: 3, S3Count, 1200, "replicate", "-c", cfg, "--once");
        Assert.True(uploaded < 401, "the copy finished before any kill");
        var (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        var config = ConfigLoader.Load(cfg);
        using var state = new StateStore(config.StatePath);
        var v = await new Verifier(config.Resources[0], src, s3, state).RunAsync(CancellationToken.None);
        Assert.True(v.Ok, string.Join("\n", v.Differences.Take(10)));
        Assert.Equal(401, v.Equal);
        var head = await s3.HeadAsync(bucket, "big/blob.bin", CancellationToken.None);
        Assert.EndsWith("-8", head!.Info.ETag);
    }
}
