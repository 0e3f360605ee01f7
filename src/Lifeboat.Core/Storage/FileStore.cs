using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using Lifeboat.Core.Abstractions;

namespace Lifeboat.Core.Storage;

/// <summary>
/// A local folder as an object store. A "bucket" is a sub-folder of <c>root</c>; an object is a file at its key.
/// Writes are atomic: data goes to a temp file in <c>bucket/.lifeboat/tmp</c>, is fsynced and renamed over the
/// final name, then the directory is fsynced. Metadata (content headers, user metadata, tags, MD5) lives beside the
/// data in <c>bucket/.lifeboat/meta/KEY.json</c>, and records the data file's size and mtime so a sidecar left
/// stale by a crash between the two renames is detected and ignored (the object then shows no metadata, which
/// reconciliation repairs). Keys that would leave the folder (<c>../x</c>, absolute paths, empty segments) and keys
/// under the reserved <c>.lifeboat/</c> folder are rejected with a permanent error, never written.
/// Files put there by other programs have no sidecar: their ETag is the weak <c>W/size-mtime</c>.
/// </summary>
public sealed class FileStore : IObjectStore
{
    private const string Reserved = ".lifeboat";
    private readonly string _root;
    private readonly TimeProvider _time;

    public FileStore(string name, string root, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _root = Path.GetFullPath(root);
        Describe = $"store '{name}' (folder {_root})";
        EndpointIdentity = "file:" + _root;
    }

    public string Describe { get; }
    public string EndpointIdentity { get; }

    public StoreCapabilities Capabilities { get; } = new(ServerSideCopy: false, Multipart: false,
        DefaultMultipartThreshold: long.MaxValue, DefaultPartSize: 8 << 20, MaxParts: 1);

    private string BucketDir(string bucket)
    {
        if (bucket.Length == 0 || bucket.Contains('/') || bucket.Contains('\0') || bucket is "." or ".." || bucket.StartsWith('.'))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: invalid bucket (sub-folder) name '{bucket}'");
        return Path.Combine(_root, bucket);
    }

    /// <summary>Maps a key to its data path; rejects keys that would escape the bucket folder.</summary>
    internal string DataPath(string bucket, string key)
    {
        var dir = BucketDir(bucket);
        if (key.Length == 0 || key.Contains('\0') || key.StartsWith('/') || key.EndsWith('/'))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: key '{key}' cannot be stored in a folder (empty, absolute or ending in '/')");
        var segments = key.Split('/');
        if (segments.Any(s => s.Length == 0 || s == "." || s == ".."))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: key '{key}' has an empty, '.' or '..' segment and would not stay inside the folder");
        if (segments[0] == Reserved)
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: key '{key}' is under the reserved '{Reserved}/' folder");
        var full = Path.GetFullPath(Path.Combine(dir, key));
        if (!full.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: key '{key}' would be written outside the folder");
        return full;
    }

    private string MetaPath(string bucket, string key) => Path.Combine(BucketDir(bucket), Reserved, "meta", key + ".json");

    public Task CheckBucketAsync(string bucket, CancellationToken ct)
    {
        if (!Directory.Exists(_root))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: folder does not exist, so bucket '{bucket}' cannot be used");
        Directory.CreateDirectory(BucketDir(bucket));
        RemoveStaleTempFiles(bucket);
        return Task.CompletedTask;
    }

    /// <summary>Temp files left by a killed writer are invisible to listings; remove those older than an hour
    /// (a live writer's temp file is younger) so they do not accumulate.</summary>
    private void RemoveStaleTempFiles(string bucket)
    {
        var tmpDir = Path.Combine(BucketDir(bucket), Reserved, "tmp");
        if (!Directory.Exists(tmpDir)) return;
        var cutoff = _time.GetUtcNow().UtcDateTime - TimeSpan.FromHours(1);
        foreach (var f in Directory.EnumerateFiles(tmpDir))
        {
            try { if (File.GetLastWriteTimeUtc(f) < cutoff) File.Delete(f); }
            catch (IOException) { } // in use or already gone: leave it for the next start
        }
    }

    public Task CreateBucketAsync(string bucket, CancellationToken ct)
    {
        Directory.CreateDirectory(BucketDir(bucket));
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken ct)
    {
        var dir = BucketDir(bucket);
        if (!Directory.Exists(dir))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: bucket folder '{bucket}' does not exist") { MissingBucket = true };
        // Start the walk at the deepest folder the prefix names.
        var slash = prefix.LastIndexOf('/');
        var walkRoot = slash < 0 ? dir : Path.Combine(dir, prefix[..slash]);
        var keys = new List<string>();
        if (Directory.Exists(walkRoot))
        {
            var opts = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false, ReturnSpecialDirectories = false };
            foreach (var file in Directory.EnumerateFiles(walkRoot, "*", opts))
            {
                var rel = Path.GetRelativePath(dir, file).Replace(Path.DirectorySeparatorChar, '/');
                if (rel == Reserved || rel.StartsWith(Reserved + "/", StringComparison.Ordinal)) continue;
                if (!rel.StartsWith(prefix, StringComparison.Ordinal)) continue;
                if (startAfter is not null && KeyComparer.Instance.Compare(rel, startAfter) <= 0) continue;
                keys.Add(rel);
            }
        }
        keys.Sort(KeyComparer.Instance);
        foreach (var key in keys)
        {
            ct.ThrowIfCancellationRequested();
            var head = await HeadAsync(bucket, key, ct).ConfigureAwait(false);
            if (head is not null) yield return head.Info;
        }
    }

    internal sealed record Sidecar(long Size, long MtimeTicks, string ETag, string? ContentType, string? CacheControl,
        string? ContentEncoding, Dictionary<string, string> Metadata, Dictionary<string, string> Tags);

    public async Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct)
    {
        var path = DataPath(bucket, key);
        var fi = new FileInfo(path);
        if (!fi.Exists) return null;
        var mtime = fi.LastWriteTimeUtc;
        Sidecar? meta = null;
        var metaPath = MetaPath(bucket, key);
        if (File.Exists(metaPath))
        {
            try
            {
                await using var ms = File.OpenRead(metaPath);
                meta = await JsonSerializer.DeserializeAsync(ms, CoreJson.Default.Sidecar, ct).ConfigureAwait(false);
            }
            catch (JsonException) { meta = null; } // a torn or foreign sidecar: treated as absent, repaired by the next copy
            if (meta is not null && (meta.Size != fi.Length || meta.MtimeTicks != mtime.Ticks)) meta = null;
        }
        var info = new ObjectInfo(key, fi.Length, meta?.ETag ?? $"W/{fi.Length}-{mtime.Ticks}", new DateTimeOffset(mtime, TimeSpan.Zero));
        var md = meta is null
            ? ObjectMetadata.Empty
            : new ObjectMetadata(meta.ContentType, meta.CacheControl, meta.ContentEncoding, meta.Metadata, meta.Tags);
        return new ObjectHead(info, md);
    }

    public async Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct) =>
        (await HeadAsync(bucket, key, ct).ConfigureAwait(false))?.Info;

    public async Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct)
    {
        var path = DataPath(bucket, key);
        FileStream fs;
        try
        {
            fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        // The head is read after opening: a rename that replaces the file afterwards does not change what we read,
        // and a head that does not match the open file's length means the object changed under us.
        var head = await HeadAsync(bucket, key, ct).ConfigureAwait(false);
        if (head is null || head.Info.Size != fs.Length)
        {
            await fs.DisposeAsync().ConfigureAwait(false);
            throw new StoreException(StoreErrorKind.Transient, $"{Describe}: {bucket}/{key} changed while being opened");
        }
        return new ObjectReader(head, fs);
    }

    public async Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct)
    {
        var path = DataPath(bucket, key);
        var tmpDir = Path.Combine(BucketDir(bucket), Reserved, "tmp");
        Directory.CreateDirectory(tmpDir);
        var tmp = Path.Combine(tmpDir, Guid.NewGuid().ToString("N"));
        string etag;
        try
        {
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
                try
                {
                    long total = 0;
                    int n;
                    while ((n = await content.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
                    {
                        md5.AppendData(buf, 0, n);
                        await fs.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                        total += n;
                    }
                    if (total != length)
                        throw new StoreException(StoreErrorKind.Transient, $"{Describe}: {bucket}/{key}: expected {length} bytes, the source gave {total}");
                }
                finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
                fs.Flush(flushToDisk: true);
            }
            etag = Convert.ToHexStringLower(md5.GetHashAndReset());
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.Move(tmp, path, overwrite: true);
            }
            catch (IOException e) when (Directory.Exists(path) || e is DirectoryNotFoundException || IsFileInTheWay(path))
            {
                throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: cannot store key '{key}': a file and a folder would share a name ({e.Message})");
            }
            catch (UnauthorizedAccessException e)
            {
                throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: cannot write {bucket}/{key}: {e.Message}");
            }
            FsyncDir(Path.GetDirectoryName(path)!);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }

        var fi = new FileInfo(path);
        var sidecar = new Sidecar(fi.Length, fi.LastWriteTimeUtc.Ticks, etag, metadata.ContentType, metadata.CacheControl, metadata.ContentEncoding,
            new Dictionary<string, string>(metadata.UserMetadata), new Dictionary<string, string>(metadata.Tags));
        await WriteSidecarAsync(bucket, key, sidecar, ct).ConfigureAwait(false);
        return etag;
    }

    private static bool IsFileInTheWay(string path)
    {
        for (var d = Path.GetDirectoryName(path); d is not null; d = Path.GetDirectoryName(d))
            if (File.Exists(d)) return true;
        return false;
    }

    private async Task WriteSidecarAsync(string bucket, string key, Sidecar sidecar, CancellationToken ct)
    {
        var metaPath = MetaPath(bucket, key);
        Directory.CreateDirectory(Path.GetDirectoryName(metaPath)!);
        var tmp = metaPath + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                await JsonSerializer.SerializeAsync(fs, sidecar, CoreJson.Default.Sidecar, ct).ConfigureAwait(false);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, metaPath, overwrite: true);
            FsyncDir(Path.GetDirectoryName(metaPath)!);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public Task<string> CopyAsync(string sourceBucket, string sourceKey, string targetBucket, string targetKey, ObjectMetadata metadata, CancellationToken ct) =>
        throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: server-side copy is not supported by folder stores");

    public Task DeleteAsync(string bucket, string key, CancellationToken ct)
    {
        var path = DataPath(bucket, key);
        var metaPath = MetaPath(bucket, key);
        if (File.Exists(path)) File.Delete(path);
        if (File.Exists(metaPath)) File.Delete(metaPath);
        var bucketDir = BucketDir(bucket);
        // Remove folders the delete left empty, up to (not including) the bucket folder.
        for (var d = Path.GetDirectoryName(path); d is not null && d.Length > bucketDir.Length; d = Path.GetDirectoryName(d))
        {
            try
            {
                if (Directory.Exists(d) && !Directory.EnumerateFileSystemEntries(d).Any()) Directory.Delete(d);
                else break;
            }
            catch (IOException) { break; } // a concurrent writer created something there: keep the folder
        }
        FsyncDir(Path.GetDirectoryName(path) is { } parent && Directory.Exists(parent) ? parent : bucketDir);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    // .NET has no API to fsync a directory; a rename is durable only once its directory is synced.
    private static void FsyncDir(string dir)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = open(dir, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { _ = fsync(fd); }
        finally { _ = close(fd); }
    }

    [DllImport("libc", SetLastError = true)] private static extern int open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int fsync(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);
}
