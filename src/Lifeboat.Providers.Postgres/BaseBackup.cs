using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Lifeboat.Providers.Postgres;

/// <summary>
/// A base backup: PostgreSQL's own pg_basebackup streams the cluster as one tar (<c>-D - -Ft -X fetch|none -c fast</c>;
/// the WAL recovery needs comes from the archive), which Lifeboat cuts into 16 MiB chunks, compresses and stores in parallel with
/// bounded memory (at most workers + 2 chunks in flight), checksumming every file on the way (CRC-32C, checked against
/// the server's backup_manifest) and every stored chunk (SHA-256). The manifest, written last, lists chunks, files,
/// and the WAL range from the backup_manifest PostgreSQL puts at the end of the tar.
/// The backup counts only once the WAL up to its stop position is in the archive (stream mode: waited for).
/// </summary>
public sealed class BaseBackup(PostgresResource res, PgArchive archive, TimeProvider time, ILogger log)
{
    public const int ChunkSize = 16 << 20;

    /// <summary>Waits until the archive holds WAL up to the given position (stream mode). Supplied by the caller:
    /// the running streamer, or a short-lived one.</summary>
    public Func<ulong, CancellationToken, Task>? WaitForWal { get; init; }

    public async Task<BackupManifest> RunAsync(CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var version = await PgServer.CheckAsync(res, ct).ConfigureAwait(false);
        string systemId;
        DateTimeOffset startedAt;
        await using (var conn = await PgServer.OpenAsync(res.Connection, "starting a base backup", ct).ConfigureAwait(false))
        {
            await using var cmd = new NpgsqlCommand("SELECT system_identifier::text, clock_timestamp() FROM pg_control_system()", conn);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            systemId = r.GetString(0);
            startedAt = new DateTimeOffset(r.GetDateTime(1), TimeSpan.Zero);
        }
        var id = time.GetUtcNow().ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        await archive.Store.CreateBucketAsync(archive.Bucket, ct).ConfigureAwait(false);
        log.BackupStarting(res.Name, id);

        var bin = PgServer.BinDir(res);
        var psi = new ProcessStartInfo(Path.Combine(bin, "pg_basebackup"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // Stream mode: "-X fetch" (the backup's own WAL segments ride along at the end of the tar) because it makes the
        // server skip waiting for its archiver: with "-X none" and archive_mode on, pg_backup_stop polls the archiver
        // once a second until the last segment is archived by whatever archive_command is set (forever, if it fails),
        // although Lifeboat's own streamer archives that WAL and is waited for below. The slot keeps the segments.
        // Archive mode: "-X none"; the server waits for its archiver, which is Lifeboat's wal-push.
        var walOption = res.Wal == WalMode.Stream ? "fetch" : "none";
        foreach (var a in new[] { "-h", res.Connection.Host, "-p", res.Connection.Port.ToString(CultureInfo.InvariantCulture), "-U", res.Connection.User,
                     "-D", "-", "-Ft", "-X", walOption, "-c", "fast", "--no-password" })
            psi.ArgumentList.Add(a);
        if (PgServer.Password(res.Connection) is { } pw) psi.Environment["PGPASSWORD"] = pw;
        psi.Environment["PGAPPNAME"] = "lifeboat-basebackup";
        psi.Environment["PGCONNECT_TIMEOUT"] = "10";

        using var proc = Process.Start(psi) ?? throw new InvalidOperationException("cannot start pg_basebackup");
        var stderr = proc.StandardError.ReadToEndAsync(ct);
        var catalog = new TarCatalog(sha256: false, "backup_label", "backup_manifest");
        var chunks = new List<BackupChunk>();
        long tarBytes = 0, stored = 0;
        var workers = Math.Max(2, Environment.ProcessorCount);
        var channel = Channel.CreateBounded<(int Index, long Offset, byte[] Data, int Length)>(new BoundedChannelOptions(2) { SingleWriter = true });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var uploaders = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            await foreach (var (index, offset, data, length) in channel.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                try
                {
                    var packed = Blob.PackChunk(data.AsSpan(0, length), out var sha);
                    var key = archive.BackupPrefix(id) + $"chunk-{index:D5}";
                    await RetryAsync(() => archive.PutBlobAsync(key, packed, sha, null, cts.Token), key, cts.Token).ConfigureAwait(false);
                    lock (chunks) { chunks.Add(new BackupChunk(key, offset, length, packed.Length, sha)); stored += packed.Length; }
                }
                finally { System.Buffers.ArrayPool<byte>.Shared.Return(data); }
            }
        }, cts.Token)).ToList();

        Exception? failure = null;
        try
        {
            var src = proc.StandardOutput.BaseStream;
            var index = 0;
            while (true)
            {
                var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
                var n = 0;
                int r;
                while (n < ChunkSize && (r = await src.ReadAsync(buf.AsMemory(n, ChunkSize - n), ct).ConfigureAwait(false)) > 0) n += r;
                if (n == 0) { System.Buffers.ArrayPool<byte>.Shared.Return(buf); break; }
                catalog.Reader.Feed(buf.AsSpan(0, n));
                await channel.Writer.WriteAsync((index++, tarBytes, buf, n), ct).ConfigureAwait(false);
                tarBytes += n;
                if (uploaders.FirstOrDefault(u => u.IsFaulted) is { } bad) await bad.ConfigureAwait(false);
            }
            channel.Writer.Complete();
            await Task.WhenAll(uploaders).ConfigureAwait(false);
            await proc.WaitForExitAsync(ct).ConfigureAwait(false);
            var err = await stderr.ConfigureAwait(false);
            if (proc.ExitCode != 0)
                throw new UserErrorException($"{PgServer.Describe(res.Connection)}: pg_basebackup failed (exit {proc.ExitCode}): {OneLine(err)}");
            if (!catalog.Reader.Ended) throw new IOException("pg_basebackup's tar stream ended early (no end-of-archive blocks)");
        }
        catch (Exception e)
        {
            failure = e;
            cts.Cancel();
            channel.Writer.TryComplete();
            if (!proc.HasExited) { try { proc.Kill(); } catch (InvalidOperationException) { } }
            try { await Task.WhenAll(uploaders).ConfigureAwait(false); } catch (Exception) { /* reported through failure */ }
            try { await archive.DeleteBackupAsync(id, CancellationToken.None).ConfigureAwait(false); }
            catch (StoreException de) { log.FailedBackupNotRemoved(res.Name, id, de.Message); }
        }
        if (failure is not null)
        {
            if (failure is UserErrorException or OperationCanceledException) throw failure;
            throw new IOException($"base backup of {res.Name} failed: {failure.Message}", failure);
        }

        if (!catalog.Kept.TryGetValue("backup_manifest", out var pgManifest))
            throw new IOException("pg_basebackup's output has no backup_manifest (needs PostgreSQL 13 or later)");
        using var doc = JsonDocument.Parse(pgManifest);
        CrossCheck(doc.RootElement, catalog.Files);
        var ranges = doc.RootElement.GetProperty("WAL-Ranges");
        var first = ranges[0];
        var last = ranges[ranges.GetArrayLength() - 1];
        var timeline = first.GetProperty("Timeline").GetUInt32();
        var startLsn = Wal.ParseLsn(first.GetProperty("Start-LSN").GetString()!);
        var stopLsn = Wal.ParseLsn(last.GetProperty("End-LSN").GetString()!);

        var streamed = sw.Elapsed;
        DateTimeOffset consistentAt;
        await using (var conn = await PgServer.OpenAsync(res.Connection, "finishing a base backup", ct).ConfigureAwait(false))
        {
            await using var cmd = new NpgsqlCommand("SELECT clock_timestamp()", conn);
            consistentAt = new DateTimeOffset((DateTime)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!, TimeSpan.Zero);
        }
        // The backup is usable once the WAL up to its stop position is archived.
        if (res.Wal == WalMode.Stream && WaitForWal is not null) await WaitForWal(stopLsn, ct).ConfigureAwait(false);
        else if (res.Wal == WalMode.Archive) await WaitForArchivedAsync(Wal.SegmentName(timeline, Wal.SegmentNo(stopLsn - 1)), ct).ConfigureAwait(false);

        var manifest = new BackupManifest(id, BackupManifest.CurrentFormat, res.Name, version, systemId, timeline,
            Wal.FormatLsn(startLsn), Wal.FormatLsn(stopLsn),
            Wal.SegmentName(timeline, Wal.SegmentNo(startLsn)), Wal.SegmentName(timeline, Wal.SegmentNo(stopLsn - 1)),
            startedAt, consistentAt, tarBytes, stored, Math.Round(sw.Elapsed.TotalSeconds, 3),
            chunks.OrderBy(c => c.Offset).ToList(), catalog.Files);
        await archive.PutJsonAsync(archive.BackupPrefix(id) + "manifest.json", manifest, PgJson.Default.BackupManifest, ct).ConfigureAwait(false);
        log.BackupDone(res.Name, id, catalog.Files.Count, tarBytes >> 20, stored >> 20, sw.Elapsed.TotalSeconds, streamed.TotalSeconds,
            (sw.Elapsed - streamed).TotalSeconds, manifest.StartLsn, manifest.StopLsn);
        return manifest;
    }

    /// <summary>Every file PostgreSQL's backup_manifest lists must have reached Lifeboat whole: same size and, when the
    /// server computed CRC-32C (pg_basebackup's default), the same checksum as Lifeboat computed on what it received.
    /// An end-to-end check of the stream (server read, pg_basebackup, pipe, tar parsing) before the backup counts.</summary>
    internal static void CrossCheck(JsonElement pgManifest, IReadOnlyList<BackupFile> files)
    {
        var got = files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var f in pgManifest.GetProperty("Files").EnumerateArray())
        {
            if (!f.TryGetProperty("Path", out var p)) continue; // Encoded-Path: a name that is not UTF-8; size checked by the tar
            var path = p.GetString()!;
            var size = f.GetProperty("Size").GetInt64();
            if (!got.TryGetValue(path, out var mine))
                throw new IOException($"pg_basebackup's tar stream lacks {path}, which the server's backup_manifest lists");
            if (mine.Size != size)
                throw new IOException($"{path}: {mine.Size} bytes received, the server's backup_manifest says {size}");
            if (f.TryGetProperty("Checksum-Algorithm", out var alg) && alg.GetString() == "CRC32C" &&
                f.TryGetProperty("Checksum", out var sum) && Crc32C.FromPostgresManifest(sum.GetString() ?? "") is { } crc &&
                Crc32C.Hex(crc) != mine.Crc32C)
                throw new IOException($"{path}: CRC-32C {mine.Crc32C} of the bytes received differs from the server's {Crc32C.Hex(crc)} (corrupted in transit)");
        }
    }

    private async Task WaitForArchivedAsync(string segment, CancellationToken ct)
    {
        // archive mode: pg_basebackup waits for the server's archiver; check the segment really is in the archive.
        var deadline = time.GetUtcNow() + TimeSpan.FromMinutes(5);
        while (await archive.Store.StatAsync(archive.Bucket, archive.WalKey(segment), ct).ConfigureAwait(false) is null)
        {
            if (time.GetUtcNow() > deadline)
                throw new UserErrorException($"{res.Name}: WAL segment {segment}, which the base backup needs, did not reach {archive.Describe} within 5 minutes: " +
                                             "is archive_command set to lifeboat wal-push for this resource?");
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    /// <summary>A chunk's store, retried with the one policy (4 retries from 200 ms): under the store client's own
    /// loop, which then uses this budget; what that loop gave up on is not retried again.</summary>
    private Task RetryAsync(Func<Task> op, string what, CancellationToken ct) =>
        ChunkRetry.ExecuteAsync(_ => op(), time,
            (n, e) => log.ChunkStoreRetry(res.Name, what, n, e.Message), ct);

    private static readonly RetryPolicy ChunkRetry = new(4, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2));

    private static string OneLine(string s) => Regex.Replace(s.Trim(), @"\s*\n\s*", "; ");

    /// <summary>Keeps the newest <paramref name="keep"/> complete backups; deletes older ones, interrupted backups older
    /// than the oldest kept one, and WAL segments before the oldest kept backup's start segment (never WAL a kept
    /// backup needs). Returns (backups deleted, WAL objects deleted).</summary>
    public static async Task<(int Backups, int Wal)> ApplyRetentionAsync(PgArchive archive, int keep, ILogger log, CancellationToken ct)
    {
        var backups = await archive.ListBackupsAsync(ct).ConfigureAwait(false);
        if (backups.Count == 0) return (0, 0);
        var kept = backups.TakeLast(keep).ToList();
        var deleted = 0;
        foreach (var b in backups.SkipLast(keep))
        {
            await archive.DeleteBackupAsync(b.Id, ct).ConfigureAwait(false);
            deleted++;
            log.BackupExpired(b.Id);
        }
        var oldest = kept[0];
        foreach (var id in await archive.ListIncompleteBackupIdsAsync(ct).ConfigureAwait(false))
            if (string.CompareOrdinal(id, oldest.Id) < 0) await archive.DeleteBackupAsync(id, ct).ConfigureAwait(false);
        var walDeleted = 0;
        var (oldTli, oldSeg) = Wal.ParseSegmentName(oldest.StartSegment);
        foreach (var w in await archive.ListWalAsync(ct).ConfigureAwait(false))
        {
            var (tli, seg) = Wal.ParseSegmentName(w.Segment);
            if (tli <= oldTli && seg < oldSeg)
            {
                await archive.Store.DeleteAsync(archive.Bucket, w.Key, ct).ConfigureAwait(false);
                walDeleted++;
            }
        }
        if (walDeleted > 0) log.WalExpired(walDeleted, oldest.StartSegment, oldest.Id);
        return (deleted, walDeleted);
    }

    /// <summary>The backup_label text of a tar stream, for messages.</summary>
    public static string? Label(TarCatalog c) => c.Kept.TryGetValue("backup_label", out var b) ? Encoding.UTF8.GetString(b) : null;
}
