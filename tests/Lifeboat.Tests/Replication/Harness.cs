using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lifeboat.Tests.Replication;

/// <summary>Two real stores, a state store and a replicator wired for a test; retries without delays.</summary>
public sealed class Harness : IAsyncDisposable
{
    public TempDir Dir { get; } = new();
    public IObjectStore Source { get; private set; } = null!;
    public IObjectStore Target { get; private set; } = null!;
    public StateStore State { get; }
    public TimeProvider Time { get; }
    public MetricsRegistry Metrics { get; } = new();
    public BucketResource Resource { get; private set; } = null!;
    public string SourceBucket => Resource.Source.Bucket;
    public string TargetBucket => Resource.Target.Bucket;

    private Harness(TimeProvider? time)
    {
        Time = time ?? TimeProvider.System;
        State = new StateStore(Path.Combine(Dir.Path, "state.db"));
    }

    /// <summary>Three retries without waiting: transient-error tests run in no time.</summary>
    public static RetryPolicy FastRetry { get; } = new(3, TimeSpan.Zero, TimeSpan.Zero);

    public static BucketResource MakeResource(string srcStore, string srcBucket, string tgtStore, string tgtBucket,
        DeletePolicy? deletes = null, string srcPrefix = "", string tgtPrefix = "", int concurrency = 8)
    {
        var at = new ConfigLocation("test.yaml", 1, "resources[0]");
        return new BucketResource("res", new Location(srcStore, srcBucket, srcPrefix, at), new Location(tgtStore, tgtBucket, tgtPrefix, at),
            deletes ?? DeletePolicy.Retain, TimeSpan.FromMinutes(5), null, TimeSpan.FromSeconds(1), concurrency, null, null, at);
    }

    /// <summary>Folder to folder.</summary>
    public static async Task<Harness> FilesAsync(DeletePolicy? deletes = null, TimeProvider? time = null, string srcPrefix = "", string tgtPrefix = "")
    {
        var h = new Harness(time);
        var src = new FileStore("primary", h.Dir.Sub("primary"));
        var tgt = new FileStore("recovery", h.Dir.Sub("recovery"));
        h.Source = src;
        h.Target = tgt;
        h.Resource = MakeResource("primary", "b", "recovery", "b-dr", deletes, srcPrefix, tgtPrefix);
        await src.CreateBucketAsync("b", CancellationToken.None);
        await tgt.CreateBucketAsync("b-dr", CancellationToken.None);
        return h;
    }

    public static async Task<Harness> WithAsync(IObjectStore source, string srcBucket, IObjectStore target, string tgtBucket, DeletePolicy? deletes = null, TimeProvider? time = null)
    {
        var h = new Harness(time) ;
        h.Source = source;
        h.Target = target;
        h.Resource = MakeResource("primary", srcBucket, "recovery", tgtBucket, deletes);
        await source.CreateBucketAsync(srcBucket, CancellationToken.None);
        await target.CreateBucketAsync(tgtBucket, CancellationToken.None);
        return h;
    }

    /// <summary>Changes the resource's settings (before replicators are made).</summary>
    public void Configure(Func<BucketResource, BucketResource> change) => Resource = change(Resource);

    public ObjectReplicator Replicator(bool onlyMissing = false, IObjectStore? source = null, IObjectStore? target = null) =>
        new(Resource, source ?? Source, target ?? Target, State, Time, Metrics, NullLogger.Instance, FastRetry, onlyMissing);

    public Verifier Verifier() => new(Resource, Source, Target, State);

    public static ObjectMetadata Meta(string key) => new("text/plain", "no-cache", null,
        new Dictionary<string, string> { ["origin"] = key }, new Dictionary<string, string> { ["k"] = key.Length.ToString() });

    public static byte[] Content(string key, int version = 0, int size = 0)
    {
        var n = size > 0 ? size : 100 + Math.Abs(key.GetHashCode() % 1000);
        var b = new byte[n];
        new Random(key.GetHashCode() ^ version).NextBytes(b);
        return b;
    }

    public Task<string> PutSourceAsync(string key, int version = 0, int size = 0)
    {
        var data = Content(key, version, size);
        return Source.PutAsync(SourceBucket, key, new MemoryStream(data), data.Length, Meta(key), new PartLayout(8 << 20, 8 << 20), CancellationToken.None);
    }

    public async Task<byte[]?> ReadAsync(IObjectStore store, string bucket, string key)
    {
        await using var r = await store.GetAsync(bucket, key, CancellationToken.None);
        if (r is null) return null;
        using var ms = new MemoryStream();
        await r.Content.CopyToAsync(ms);
        return ms.ToArray();
    }

    public async Task<List<string>> KeysAsync(IObjectStore store, string bucket, string prefix = "")
    {
        var keys = new List<string>();
        await foreach (var o in store.ListAsync(bucket, prefix, null, CancellationToken.None)) keys.Add(o.Key);
        return keys;
    }

    public async ValueTask DisposeAsync()
    {
        await Source.DisposeAsync();
        await Target.DisposeAsync();
        State.Dispose();
        Dir.Dispose();
    }
}

/// <summary>
/// Fault injection around a real store (not a mock: every call that is not failed goes to the real store).
/// Fails the first <c>failures</c> calls of the chosen operations with the given kind.
/// </summary>
public sealed class FaultyStore(IObjectStore inner, StoreErrorKind kind, int failures, Func<string, bool>? keyFilter = null, string ops = "put") : ForwardingStore(inner)
{
    private int _left = failures;
    public int Puts;

    private void MaybeFail(string op, string key)
    {
        if (!ops.Contains(op) || (keyFilter is not null && !keyFilter(key))) return;
        if (Interlocked.Decrement(ref _left) >= 0)
            throw new StoreException(kind, $"injected {kind} failure on {op} {key}");
    }

    /// <summary>When set, a listing waits for it before its first answer (a slow side).</summary>
    public Task? ListGate { get; init; }
    public int ListFailures;
    public override IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, CancellationToken ct) => ListCoreAsync(bucket, prefix, startAfter, ct);
    private async IAsyncEnumerable<ObjectInfo> ListCoreAsync(string bucket, string prefix, string? startAfter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        if (ListGate is { } gate) await gate.WaitAsync(ct);
        try { MaybeFail("list", bucket); }
        catch (StoreException) { Interlocked.Increment(ref ListFailures); throw; }
        await foreach (var o in Inner.ListAsync(bucket, prefix, startAfter, ct)) yield return o;
    }
    /// <summary>HEAD and Stat requests made (the deep pass's; a normal pass over keys in sync makes none).</summary>
    public int Heads;
    public override Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct) { Interlocked.Increment(ref Heads); return Inner.HeadAsync(bucket, key, ct); }
    public override Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct) { Interlocked.Increment(ref Heads); return Inner.StatAsync(bucket, key, ct); }
    public override Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct) { MaybeFail("get", key); return Inner.GetAsync(bucket, key, ct); }
    public override Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct)
    {
        MaybeFail("put", key);
        Interlocked.Increment(ref Puts);
        return Inner.PutAsync(bucket, key, content, length, metadata, layout, ct);
    }
    public override Task DeleteAsync(string bucket, string key, CancellationToken ct) { MaybeFail("delete", key); return Inner.DeleteAsync(bucket, key, ct); }
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask; // the inner store is the test's to dispose
}
