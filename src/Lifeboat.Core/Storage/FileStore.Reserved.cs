using Lifeboat.Abstractions;

namespace Lifeboat.Core.Storage;

/// <summary>Lifeboat's own files in a bucket folder (a target's claim marker): under <c>bucket/.lifeboat/</c>, which
/// keys can never reach and listings skip. Opened through the same no-follow folder walk as objects.</summary>
public sealed partial class FileStore : IReservedFiles
{
    private string[] ReservedNames(string name)
    {
        var parts = name.Split('/');
        if (name.Length == 0 || name.Contains('\0') || parts.Any(s => s.Length == 0 || s == "." || s == ".."))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: invalid reserved file name '{name}'");
        return parts;
    }

    public async Task<byte[]?> ReadReservedAsync(string bucket, string name, CancellationToken ct)
    {
        var parts = ReservedNames(name);
        try
        {
            using var bucketDir = OpenBucket(bucket, create: false);
            if (bucketDir is null) return null;
            using var dir = bucketDir.Walk([Reserved, .. parts.AsSpan(0, parts.Length - 1)], create: false);
            if (dir is null) return null;
            var (handle, _) = dir.OpenRead(parts[^1]);
            if (handle is null) return null;
            await using var fs = new FileStream(handle, FileAccess.Read, 4096);
            using var ms = new MemoryStream();
            await fs.CopyToAsync(ms, ct).ConfigureAwait(false);
            return ms.ToArray();
        }
        catch (FsException e) when (e.Error is FsError.NotFound) { return null; }
        catch (Exception e) when (IsFsError(e))
        {
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: cannot read {bucket}/{Reserved}/{name}: {e.Message}", e);
        }
    }

    public async Task WriteReservedAsync(string bucket, string name, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        var parts = ReservedNames(name);
        string? tmp = "reserved-" + Guid.NewGuid().ToString("N");
        FolderDir? tmpDir = null;
        try
        {
            using var bucketDir = OpenBucket(bucket, create: true)!;
            tmpDir = TmpDir(bucketDir);
            await using (var fs = new FileStream(tmpDir.CreateNew(tmp), FileAccess.Write, 4096))
            {
                await fs.WriteAsync(content, ct).ConfigureAwait(false);
                fs.Flush(flushToDisk: true);
            }
            using var dir = bucketDir.Walk([Reserved, .. parts.AsSpan(0, parts.Length - 1)], create: true)!;
            tmpDir.MoveTo(tmp, dir, parts[^1]);
            tmp = null;
            dir.Fsync();
        }
        catch (Exception e) when (IsFsError(e))
        {
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: cannot write {bucket}/{Reserved}/{name}: {e.Message}", e);
        }
        finally
        {
            if (tmp is not null && tmpDir is not null) DeleteQuietly(tmpDir, tmp);
            tmpDir?.Dispose();
        }
    }
}
