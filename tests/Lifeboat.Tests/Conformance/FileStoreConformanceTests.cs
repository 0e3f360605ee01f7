using Lifeboat.Abstractions;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Conformance;

public sealed class FileStoreConformanceTests : ObjectStoreConformance, IDisposable
{
    private readonly TempDir _dir = new();

    protected override async Task<(IObjectStore, string)> CreateAsync()
    {
        var store = new FileStore("share", _dir.Path);
        await store.CreateBucketAsync("bucket", CancellationToken.None);
        return (store, "bucket");
    }

    /// <summary>Divergence: a folder store creates a missing bucket sub-folder on demand (its root must exist).</summary>
    protected override Task CheckMissingBucketAsync(string bucket) =>
        new FileStore("gone", Path.Combine(_dir.Path, "does-not-exist")).CheckBucketAsync(bucket, CancellationToken.None);

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("../x")]
    [InlineData("a/../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData(".lifeboat/meta/x")]
    [InlineData("dir/")]
    public async Task Put_KeyThatWouldEscapeOrCollide_IsRejectedAndNothingWritten(string key)
    {
        var before = Directory.GetFiles(_dir.Path, "*", SearchOption.AllDirectories).Length;
        var ex = await Assert.ThrowsAsync<StoreException>(() => PutBytesAsync(key, Bytes(4)));
        Assert.Equal(StoreErrorKind.Permanent, ex.Kind);
        Assert.Contains(key, ex.Message);
        Assert.Equal(before, Directory.GetFiles(_dir.Path, "*", SearchOption.AllDirectories).Length);
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), "x")) && key == "../x" && File.ReadAllBytes(Path.Combine(Path.GetTempPath(), "x")).Length == 4);
    }

    [Fact]
    public async Task Put_FileAndFolderSameName_IsPermanentError()
    {
        await PutBytesAsync("a", Bytes(4));
        var ex = await Assert.ThrowsAsync<StoreException>(() => PutBytesAsync("a/b", Bytes(4)));
        Assert.Equal(StoreErrorKind.Permanent, ex.Kind);
    }

    [Fact]
    public async Task StaleSidecar_AfterForeignWrite_IsIgnored()
    {
        await PutBytesAsync("f.txt", Bytes(10));
        // Another program rewrites the file: the sidecar no longer describes it.
        await File.WriteAllBytesAsync(Path.Combine(_dir.Path, "bucket", "f.txt"), Bytes(11, 9));
        var h = await Store.HeadAsync(Bucket, "f.txt", CancellationToken.None);
        Assert.StartsWith("W/11-", h!.Info.ETag);
        Assert.Null(h.Metadata.ContentType);
    }

    [Fact]
    public async Task UpdateMetadata_OfAFileWithoutSidecar_ChangesNothing_SoTheCallerCopiesAgain()
    {
        await File.WriteAllBytesAsync(Path.Combine(_dir.Path, "bucket", "foreign.txt"), Bytes(12));
        var h = await Store.HeadAsync(Bucket, "foreign.txt", CancellationToken.None);
        Assert.False(await ((IMetadataUpdate)Store).UpdateMetadataAsync(Bucket, "foreign.txt", h!, Meta(), CancellationToken.None));
        var after = await Store.HeadAsync(Bucket, "foreign.txt", CancellationToken.None);
        Assert.Equal(h!.Info.ETag, after!.Info.ETag);
        Assert.Null(after.Metadata.ContentType);
    }

    [Fact]
    public async Task Delete_RemovesEmptyFolders_AndListingSkipsReservedFolder()
    {
        await PutBytesAsync("deep/er/x", Bytes(4));
        await Store.DeleteAsync(Bucket, "deep/er/x", CancellationToken.None);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "bucket", "deep")));
        Assert.Empty(await ListAsync("", null));
    }
}

/// <summary>The same contract on the portable (path-based) implementation that systems other than 64-bit Linux use.</summary>
public sealed class PortableFileStoreConformanceTests : ObjectStoreConformance, IDisposable
{
    private readonly TempDir _dir = new();

    protected override async Task<(IObjectStore, string)> CreateAsync()
    {
        var store = new FileStore("share", _dir.Path, null, null, native: false);
        await store.CreateBucketAsync("bucket", CancellationToken.None);
        return (store, "bucket");
    }

    protected override Task CheckMissingBucketAsync(string bucket) =>
        new FileStore("gone", Path.Combine(_dir.Path, "does-not-exist"), null, null, native: false).CheckBucketAsync(bucket, CancellationToken.None);

    public void Dispose() => _dir.Dispose();
}
