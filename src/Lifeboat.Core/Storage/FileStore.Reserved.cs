using Lifeboat.Core.Abstractions;

namespace Lifeboat.Core.Storage;

/// <summary>Lifeboat's own files in a bucket folder (a target's claim marker): under <c>bucket/.lifeboat/</c>, which
/// keys can never reach and listings skip.</summary>
public sealed partial class FileStore : IReservedFiles
{
    private string ReservedPath(string bucket, string name)
    {
        if (name.Length == 0 || name.Contains('\0') || name.Split('/').Any(s => s.Length == 0 || s == "." || s == ".."))
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: invalid reserved file name '{name}'");
        return Path.Combine(BucketDir(bucket), Reserved, name);
    }

    public async Task<byte[]?> ReadReservedAsync(string bucket, string name, CancellationToken ct)
    {
        var path = ReservedPath(bucket, name);
        try
        {
            return await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: cannot read {bucket}/{Reserved}/{name}: {e.Message}");
        }
    }

    public async Task WriteReservedAsync(string bucket, string name, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        var path = ReservedPath(bucket, name);
        var tmpDir = Path.Combine(BucketDir(bucket), Reserved, "tmp");
        var tmp = Path.Combine(tmpDir, "reserved-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(tmpDir);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                await fs.WriteAsync(content, ct).ConfigureAwait(false);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
            FsyncDir(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: cannot write {bucket}/{Reserved}/{name}: {e.Message}");
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
