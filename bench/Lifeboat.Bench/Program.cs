using System.Diagnostics;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Providers.S3;

// Benchmark driver. Credentials: LIFEBOAT_S3_ACCESS_KEY / LIFEBOAT_S3_SECRET_KEY; endpoint LIFEBOAT_S3_ENDPOINT.
//   seed   BUCKET COUNT SIZE [PREFIX]        create the bucket and COUNT objects of SIZE bytes (16 in parallel)
//   load   BUCKET RATE SECONDS PREFIX        PUT at a steady RATE per second for SECONDS (4 KiB objects)
//   lag    SRC_BUCKET DST_BUCKET PREFIX      end-to-end lag per key: target LastModified - source LastModified
//   count  BUCKET [PREFIX]                   number of objects
var endpoint = Environment.GetEnvironmentVariable("LIFEBOAT_S3_ENDPOINT") ?? "http://127.0.0.1:7480";
var cfg = new StoreConfig("bench", StoreType.S3, new ConfigLocation("bench", 0, "bench"), Endpoint: endpoint, Region: "us-east-1",
    AccessKeyEnv: "LIFEBOAT_S3_ACCESS_KEY", SecretKeyEnv: "LIFEBOAT_S3_SECRET_KEY");
await using var s3 = new S3Store(cfg);
var ct = CancellationToken.None;
var layout = new PartLayout(16L << 20, 8L << 20);
switch (args[0])
{
    case "seed":
    {
        var (bucket, count, size, prefix) = (args[1], int.Parse(args[2]), int.Parse(args[3]), args.Length > 4 ? args[4] : "");
        await s3.CreateBucketAsync(bucket, ct);
        var data = new byte[size];
        new Random(1).NextBytes(data);
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, t) =>
            await s3.PutAsync(bucket, $"{prefix}obj-{i:000000}", new MemoryStream(data), size, ObjectMetadata.Empty, layout, t));
        Console.WriteLine($"seeded {count} x {size} bytes into {bucket}");
        break;
    }
    case "load":
    {
        var (bucket, rate, seconds, prefix) = (args[1], int.Parse(args[2]), int.Parse(args[3]), args[4]);
        var data = new byte[4096];
        new Random(2).NextBytes(data);
        var sw = Stopwatch.StartNew();
        var tasks = new List<Task>();
        var total = rate * seconds;
        for (var i = 0; i < total; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            var wait = due - sw.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            var key = $"{prefix}{i:000000}";
            tasks.Add(s3.PutAsync(bucket, key, new MemoryStream(data), data.Length, ObjectMetadata.Empty, layout, ct));
        }
        await Task.WhenAll(tasks);
        Console.WriteLine($"put {total} objects in {sw.Elapsed.TotalSeconds:0.0}s ({total / sw.Elapsed.TotalSeconds:0.0}/s)");
        break;
    }
    case "lag":
    {
        var (src, dst, prefix) = (args[1], args[2], args[3]);
        var s = new Dictionary<string, DateTimeOffset>();
        await foreach (var o in s3.ListAsync(src, prefix, null, ct)) s[o.Key] = o.LastModified;
        var lags = new List<double>();
        var missing = 0;
        var seen = new HashSet<string>();
        await foreach (var o in s3.ListAsync(dst, prefix, null, ct))
            if (s.TryGetValue(o.Key, out var t)) { lags.Add((o.LastModified - t).TotalSeconds); seen.Add(o.Key); }
        missing = s.Count - seen.Count;
        lags.Sort();
        double P(double q) => lags.Count == 0 ? double.NaN : lags[Math.Clamp((int)Math.Ceiling(q * lags.Count) - 1, 0, lags.Count - 1)];
        Console.WriteLine($"objects {s.Count}, replicated {lags.Count}, missing {missing}, lag p50 {P(0.5):0.000}s p99 {P(0.99):0.000}s max {P(1):0.000}s");
        break;
    }
    case "sdkcopy":
    {
        // The SDK alone: server-side copy of every object, 16 at a time (how much of a backfill is the SDK's cost).
        var (src, dst) = (args[1], args[2]);
        var keys = new List<string>();
        await foreach (var o in s3.ListAsync(src, "", null, ct)) keys.Add(o.Key);
        var sw = Stopwatch.StartNew();
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (k, t) =>
            await s3.CopyAsync(src, k, dst, k, ObjectMetadata.Empty, t));
        Console.WriteLine($"copied {keys.Count} in {sw.Elapsed.TotalSeconds:0.00}s");
        break;
    }
    case "count":
    {
        // The replicated objects: Lifeboat's claim marker on a target (PREFIX.lifeboat/, ADR 0009) is not one.
        var prefix = args.Length > 2 ? args[2] : "";
        var n = 0;
        await foreach (var o in s3.ListAsync(args[1], prefix, null, ct))
            if (!o.Key.StartsWith(prefix + Lifeboat.Core.Replication.TargetClaim.Reserved, StringComparison.Ordinal)) n++;
        Console.WriteLine(n);
        break;
    }
    default:
        Console.Error.WriteLine("usage: seed|load|lag|count ...");
        return 2;
}
return 0;
