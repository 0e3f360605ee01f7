using System.Diagnostics;
using System.Text;
using Lifeboat.Hosting;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Commands;

/// <summary>
/// The README's first command: Lifeboat's main job on embedded defaults (two local folders standing for the primary
/// and recovery regions, SQLite state; no servers, no cloud account). Backfills a data set, replicates live changes,
/// survives a mistyped delete at the source, restores, and prints the measured lag and RPO.
/// </summary>
public static class DemoCommand
{
    public static async Task<int> RunAsync(string? dir, CancellationToken ct)
    {
        var root = Path.GetFullPath(dir ?? Path.Combine(Path.GetTempPath(), "lifeboat-demo-" + Guid.NewGuid().ToString("N")[..8]));
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
            throw new UserErrorException($"--dir {root}: folder is not empty; give a new or empty folder");
        Directory.CreateDirectory(Path.Combine(root, "primary"));
        Directory.CreateDirectory(Path.Combine(root, "recovery"));
        var configPath = Path.Combine(root, "lifeboat.yaml");
        var servicePort = DemoFailover.FreePort();
        await File.WriteAllTextAsync(configPath, """
            # Written by `lifeboat demo`: two local folders stand for the primary and the recovery region.
            state: .lifeboat/state.db
            stores:
              primary:  { type: file, path: primary }
              recovery: { type: file, path: recovery }
              routing:  { type: routes, path: routing.json }   # where app.demo.internal points (stands for a DNS zone)
            resources:
              - name: photos
                type: bucket
                source: { store: primary, bucket: photos, prefix: "" }
                target: { store: recovery, bucket: photos-dr, prefix: "" }
                deletes: retain
                rpo: 5m
                reconcile_every: 1s
            """ + DemoFailover.ConfigSections(servicePort), ct).ConfigureAwait(false);

        Console.WriteLine($"Lifeboat demo in {root}");
        Console.WriteLine($"  config: {configPath}");
        var cfg = Configs.Load(configPath);
        var res = cfg.Resource("photos");
        using var logs = Cli.Logs(LogLevel.Warning);
        await using var rt = new Runtime(cfg, TimeProvider.System, logs);
        var primary = rt.Store("primary");
        var recovery = rt.Store("recovery");
        await primary.CreateBucketAsync("photos", ct).ConfigureAwait(false);
        await recovery.CreateBucketAsync("photos-dr", ct).ConfigureAwait(false);

        // 1. A primary data set.
        var rng = new Random(42);
        var years = new[] { "2024", "2025" };
        var count = 0;
        long bytes = 0;
        foreach (var year in years)
            for (var i = 0; i < 60; i++)
            {
                var size = rng.Next(1_000, 200_000);
                bytes += size;
                await PutAsync(primary, $"{year}/img-{i:000}.jpg", size, rng, ct).ConfigureAwait(false);
                count++;
            }
        Console.WriteLine($"\n1. Primary holds {count} objects ({Sizes.Format(bytes)}) in bucket 'photos'.");

        // 2. Backfill.
        var rep = rt.Replicator(res);
        await rep.PrepareAsync(ct).ConfigureAwait(false);
        var sw = Stopwatch.StartNew();
        var pass = await rep.ReconcileAsync(null, ct, ct).ConfigureAwait(false);
        Console.WriteLine($"2. Backfill: {pass.Copied} objects copied and verified (MD5 of every byte) in {sw.Elapsed.TotalSeconds:0.00}s.");

        // 3. Live changes replicated continuously.
        using var stopRun = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = rep.RunAsync(null, stopRun.Token, ct);
        for (var i = 0; i < 20; i++)
        {
            var key = $"2025/new-{i:00}.jpg";
            await PutAsync(primary, key, rng.Next(1_000, 50_000), rng, ct).ConfigureAwait(false);
            rep.Enqueue(new ChangeHint(key)); // what an S3 event does on a real bucket
            await Task.Delay(25, ct).ConfigureAwait(false);
        }
        await WaitUntilAsync(() => rt.State.Backlog(res.Name) == 0, TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        var live = Core.Status.BucketStatus.Compute(rt.State, res, TimeProvider.System.GetUtcNow());
        Console.WriteLine($"3. 20 new objects written while replicating: backlog {live.Backlog}, measured RPO {live.RpoSeconds:0.000}s.");

        // 4. The mistake.
        var victims = new List<string>();
        await foreach (var o in primary.ListAsync("photos", "2024/", null, ct).ConfigureAwait(false)) victims.Add(o.Key);
        foreach (var k in victims) await primary.DeleteAsync("photos", k, ct).ConfigureAwait(false);
        Console.WriteLine($"4. Oops: a mistyped command deleted all {victims.Count} objects under 2024/ at the primary.");
        await WaitUntilAsync(() => rt.State.Stats(res.Name, TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds()).HeldDeletes >= victims.Count,
            TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        await stopRun.CancelAsync().ConfigureAwait(false);
        await run.ConfigureAwait(false);

        // 5. The replica kept everything.
        var verify = await new Verifier(res, primary, recovery, rt.State).RunAsync(ct).ConfigureAwait(false);
        Console.WriteLine($"5. Replication saw the deletes and held them back (deletes: retain): verify says {(verify.Ok ? "OK" : "DIFFERENT")}, " +
                          $"{verify.Equal} objects equal, {verify.Held.Count} deleted at the source but kept in the recovery copy.");

        // 6. Restore.
        var restoreRes = res with { Name = "photos.restore", Source = res.Target with { Prefix = "2024/" }, Target = res.Source with { Prefix = "2024/" }, Deletes = DeletePolicy.Retain };
        var restorer = rt.Replicator(restoreRes, onlyMissing: true);
        var restored = await restorer.ReconcileAsync(null, ct, ct).ConfigureAwait(false);
        var after = await new Verifier(res, primary, recovery, rt.State).RunAsync(ct).ConfigureAwait(false);
        Console.WriteLine($"6. Restore from the replica: {restored.Copied} objects copied back; verify: {(after.Ok && after.Held.Count == 0 ? "OK" : "DIFFERENT")}, " +
                          $"{after.Equal} objects equal on both sides, {after.Held.Count} held.");

        // 7. The numbers.
        var st = Core.Status.BucketStatus.Compute(rt.State, res, TimeProvider.System.GetUtcNow());
        Console.WriteLine($"7. Measured over the last hour: {st.ChangesLastHour} changes, lag p50 {st.LagP50Seconds * 1000:0}ms, p99 {st.LagP99Seconds * 1000:0}ms; " +
                          $"RPO now {st.RpoSeconds:0.000}s against a target of {Durations.Format(res.Rpo)} ({(st.RpoMet ? "met" : "MISSED")}).");
        Console.WriteLine($"\nTry: ./lifeboat status -c {configPath}   and   ./lifeboat verify -c {configPath}");
        var ok = verify.Ok && after.Ok && after.Held.Count == 0 && restored.Copied == victims.Count;
        ok &= await DemoFailover.RunAsync(rt, servicePort, ct).ConfigureAwait(false); // 8-11: detect, fail over, RTO
        return ok ? Cli.Ok : Cli.Failed;
    }

    private static async Task PutAsync(IObjectStore store, string key, int size, Random rng, CancellationToken ct)
    {
        var data = new byte[size];
        rng.NextBytes(data);
        var md = new ObjectMetadata("image/jpeg", "max-age=3600", null, new Dictionary<string, string> { ["camera"] = "demo" },
            new Dictionary<string, string> { ["album"] = key[..4] });
        await store.PutAsync("photos", key, new MemoryStream(data), size, md, new PartLayout(long.MaxValue, 8 << 20), ct).ConfigureAwait(false);
    }

    private static async Task WaitUntilAsync(Func<bool> done, TimeSpan timeout, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > timeout) throw new UserErrorException("demo: replication did not catch up in time");
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
    }
}
