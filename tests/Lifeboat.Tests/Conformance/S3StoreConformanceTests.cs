using Lifeboat.Core.Abstractions;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Conformance;

/// <summary>The object-store contract against a real Ceph RADOS Gateway 16.2 (tests/servers/rgw.sh), through the
/// client S3Store picks for it (the lean HttpS3Store); <see cref="SdkS3StoreConformanceTests"/> runs the same on AWSSDK.S3.</summary>
public class S3StoreConformanceTests : ObjectStoreConformance
{
    protected virtual IObjectStore NewStore() => RgwServer.Instance.CreateStore();

    protected override async Task<(IObjectStore, string)> CreateAsync()
    {
        var store = NewStore();
        var bucket = RgwServer.NewBucketName("conf");
        await store.CreateBucketAsync(bucket, CancellationToken.None);
        return (store, bucket);
    }

    [Fact]
    public async Task List_PagesPastOneThousandKeys()
    {
        var keys = Enumerable.Range(0, 1105).Select(i => $"p/{i:00000}").ToArray();
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (k, ct) =>
            await Store.PutAsync(Bucket, k, new MemoryStream([1]), 1, Meta(), Single, ct));
        var listed = await ListAsync("p/", null);
        Assert.Equal(keys, listed);
        Assert.Equal(keys.Skip(1001).ToArray(), await ListAsync("p/", keys[1000]));
    }

    [Fact]
    public async Task List_PagesPastOneThousandHostileKeys_WithContinuationTokens()
    {
        // Page boundaries (continuation tokens) fall between keys with control characters, CR LF and '+'/'%'.
        var keys = Enumerable.Range(0, 1010).Select(i => $"h/{i:00000}{HostileKeys[i % HostileKeys.Length][4..]}").ToArray();
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (k, ct) =>
            await Store.PutAsync(Bucket, k, new MemoryStream([1]), 1, Meta(), Single, ct));
        var sorted = keys.OrderBy(k => k, KeyComparer.Instance).ToArray();
        Assert.Equal(sorted, await ListAsync("h/", null));
        Assert.Equal(sorted.Skip(1001).ToArray(), await ListAsync("h/", sorted[1000]));
    }

    [Fact]
    public async Task ServerSideCopy_CopiesBytesMetadataAndTags()
    {
        var data = Bytes(3000);
        var etag = await PutBytesAsync("src", data, Meta("image/png", new() { ["t"] = "1" }));
        var other = RgwServer.NewBucketName("conf-copy");
        await Store.CreateBucketAsync(other, CancellationToken.None);
        var copied = await Store.CopyAsync(Bucket, "src", other, "dst", ObjectMetadata.Empty, CancellationToken.None);
        Assert.Equal(etag, copied);
        var h = await Store.HeadAsync(other, "dst", CancellationToken.None);
        Assert.Equal("image/png", h!.Metadata.ContentType);
        Assert.Equal("1", h.Metadata.Tags["t"]);
        Assert.Equal("team-a", h.Metadata.UserMetadata["owner"]);
    }

    [Fact]
    public async Task PartSizeProbe_ReportsFirstPartOfMultipartObject()
    {
        await PutBytesAsync("mp", Bytes(11 << 20), layout: new PartLayout(5 << 20, 6 << 20));
        var p = await ((IPartSizeProbe)Store).FirstPartSizeAsync(Bucket, "mp", CancellationToken.None);
        // Ceph RGW 16 ignores partNumber on HEAD (the probe then says null); AWS S3 reports the part's length.
        Assert.True(p is null or (6 << 20), $"first part size {p}");
    }

    [Fact]
    public async Task WrongCredentials_ArePermanentAndSaySo()
    {
        Environment.SetEnvironmentVariable("LIFEBOAT_BAD_AK", "nobody");
        Environment.SetEnvironmentVariable("LIFEBOAT_BAD_SK", "nothing");
        var cfg = RgwServer.Instance.StoreConfig() with { AccessKeyEnv = "LIFEBOAT_BAD_AK", SecretKeyEnv = "LIFEBOAT_BAD_SK" };
        await using var bad = new Providers.S3.S3Store(cfg);
        var ex = await Assert.ThrowsAsync<StoreException>(() => bad.CheckBucketAsync(Bucket, CancellationToken.None));
        Assert.Equal(StoreErrorKind.Permanent, ex.Kind);
        Assert.Contains("credentials", ex.Message);
    }

    [Fact]
    public async Task UnreachableEndpoint_IsTransientAndNamesTheEndpoint()
    {
        var cfg = RgwServer.Instance.StoreConfig() with { Endpoint = "http://127.0.0.1:9" };
        await using var gone = new Providers.S3.S3Store(cfg);
        var ex = await Assert.ThrowsAsync<StoreException>(() => gone.CheckBucketAsync("x", CancellationToken.None));
        Assert.Equal(StoreErrorKind.Transient, ex.Kind);
        Assert.Contains("127.0.0.1:9", ex.Message);
    }
}

/// <summary>The same contract on Ceph RGW through AWSSDK.S3 (the client of AWS endpoints, and of every endpoint with
/// LIFEBOAT_S3_CLIENT=sdk).</summary>
public sealed class SdkS3StoreConformanceTests : S3StoreConformanceTests
{
    protected override IObjectStore NewStore()
    {
        var cfg = RgwServer.Instance.StoreConfig("rgw-sdk");
        var s = new Providers.S3.SdkS3Store(cfg, Providers.S3.EndpointProfile.For(cfg.Endpoint), Providers.S3.S3Store.ResolveCredentials(cfg),
            "store 'rgw-sdk'", cfg.Endpoint!, cfg.Endpoint!);
        return s;
    }
}
