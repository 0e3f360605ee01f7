using Lifeboat.Core.Config;

namespace Lifeboat.Providers.Postgres;

/// <summary><c>wal: archive</c>: what archive_command (<c>lifeboat wal-push %p</c>) and restore_command
/// (<c>lifeboat wal-fetch %f %p</c>) run.</summary>
public static class WalArchiveCommands
{
    /// <summary>Stores the segment at <paramref name="path"/> (relative to the data directory, the current folder of
    /// archive_command). Returns only once it is durable; idempotent for identical content; a different content under the
    /// same name is an error (non-zero exit keeps the segment on the server). History and backup-history files are
    /// stored as they are.</summary>
    public static async Task<PgArchive.PushOutcome> PushAsync(PgArchive archive, string path, CancellationToken ct)
    {
        var name = Path.GetFileName(path);
        if (!File.Exists(path)) throw new UserErrorException($"wal-push: {path} does not exist");
        if (!Wal.IsSegmentName(name))
        {
            // 00000002.history, 000000010000000000000002.00000028.backup: small files, stored under wal-other/.
            var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
            var packed = Blob.Pack(bytes, out var sha);
            var key = archive.Prefix + "wal-other/" + name;
            var existing = await archive.StoredShaAsync(key, ct).ConfigureAwait(false);
            if (existing == sha) return PgArchive.PushOutcome.AlreadyStored;
            if (existing is not null && name.EndsWith(".history", StringComparison.Ordinal))
                throw new WalConflictException($"{name} is already archived with different content");
            await archive.PutBlobAsync(key, packed, sha, null, ct).ConfigureAwait(false);
            return PgArchive.PushOutcome.Stored;
        }
        var content = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        var mtime = new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero);
        return await archive.PushSegmentAsync(name, content, mtime, ct).ConfigureAwait(false);
    }

    /// <summary>Writes archived file <paramref name="name"/> to <paramref name="dest"/> (via a temp file and rename);
    /// false when it is not archived (restore_command then exits 1, which PostgreSQL reads as the end of the archive).</summary>
    public static async Task<bool> FetchAsync(PgArchive archive, string name, string dest, CancellationToken ct)
    {
        var tmp = dest + ".lifeboat-tmp";
        try
        {
            bool found;
            await using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                if (Wal.IsSegmentName(name)) found = await archive.FetchSegmentAsync(name, fs, ct).ConfigureAwait(false);
                else
                {
                    await using var r = await archive.Store.GetAsync(archive.Bucket, archive.Prefix + "wal-other/" + name, ct).ConfigureAwait(false);
                    found = r is not null;
                    if (r is not null) await Blob.UnpackAsync(r.Content, fs, name, ct).ConfigureAwait(false);
                }
            }
            if (!found) { File.Delete(tmp); return false; }
            File.Move(tmp, dest, overwrite: true);
            return true;
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
