using Lifeboat.Abstractions;

namespace Lifeboat.Providers.Postgres;

public sealed record BackupCheck(string Id, DateTimeOffset ConsistentAt, long Bytes, int Files, string? Error);
public sealed record VerifyReport(IReadOnlyList<BackupCheck> Backups, int WalChecked, IReadOnlyList<string> WalErrors, IReadOnlyList<string> Gaps,
    IReadOnlyList<RecoveryWindow> Windows, IReadOnlyList<string> Incomplete)
{
    public bool Ok => Backups.All(b => b.Error is null) && WalErrors.Count == 0 && Gaps.Count == 0 && Windows.Any(w => w.Usable);
}

/// <summary>
/// <c>lifeboat pg verify</c>: reads every backup chunk and WAL object back, checks each against its SHA-256 (and every
/// backup file against the manifest's checksum: CRC-32C, or SHA-256 for format 1), finds gaps in the WAL chain from the oldest backup on, and computes which times
/// are recoverable (corrupted segments count as missing).
/// </summary>
public static class PgVerifier
{
    public static async Task<VerifyReport> RunAsync(PgArchive archive, CancellationToken ct)
    {
        var index = await ArchiveIndex.LoadAsync(archive, ct).ConfigureAwait(false);
        var checks = new List<BackupCheck>();
        foreach (var b in index.Backups)
        {
            string? error = null;
            try
            {
                var catalog = new TarCatalog(sha256: b.Format < 2);
                foreach (var c in b.Chunks)
                {
                    await using var r = await archive.Store.GetAsync(archive.Bucket, c.Key, ct).ConfigureAwait(false)
                        ?? throw new InvalidDataException($"chunk {c.Key} is missing");
                    var ms = new MemoryStream((int)c.Size);
                    var (sha, _) = await Blob.UnpackAsync(r.Content, ms, c.Key, ct).ConfigureAwait(false);
                    if (sha != c.Sha256) throw new InvalidDataException($"chunk {c.Key} has SHA-256 {sha}, the manifest says {c.Sha256}");
                    catalog.Reader.Feed(ms.GetBuffer().AsSpan(0, (int)ms.Length));
                }
                var expected = b.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
                foreach (var f in catalog.Files)
                    if (!expected.TryGetValue(f.Path, out var e) || !e.Matches(f.Size, f.Sha256, f.Crc32C!))
                        throw new InvalidDataException($"file {f.Path} does not match the manifest");
                if (catalog.Files.Count != b.Files.Count) throw new InvalidDataException($"{catalog.Files.Count} files instead of {b.Files.Count}");
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or StoreException)
            {
                error = e.Message;
            }
            checks.Add(new BackupCheck(b.Id, b.ConsistentAt, b.TarBytes, b.Files.Count, error));
        }

        var walErrors = new List<string>();
        var bad = new HashSet<string>(StringComparer.Ordinal);
        var n = 0;
        using var gate = new SemaphoreSlim(Math.Max(2, Environment.ProcessorCount));
        await Task.WhenAll(index.WalObjects.Select(async w =>
        {
            await gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await using var r = await archive.Store.GetAsync(archive.Bucket, w.Key, ct).ConfigureAwait(false);
                if (r is null) return;
                var (_, len) = await Blob.UnpackAsync(r.Content, Stream.Null, w.Key, ct).ConfigureAwait(false);
                if (!w.Partial && len != Wal.SegmentSize) throw new InvalidDataException($"{w.Key}: {len} bytes, not a 16 MiB segment");
                Interlocked.Increment(ref n);
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
            {
                lock (walErrors) { walErrors.Add($"WAL {w.Segment}{(w.Partial ? ".partial" : "")}: {e.Message}"); bad.Add(w.Segment + (w.Partial ? ".partial" : "")); }
            }
            finally { gate.Release(); }
        })).ConfigureAwait(false);

        // Gaps: from the oldest backup's start segment to the newest archived segment, per timeline.
        var gaps = new List<string>();
        if (index.Backups.Count > 0)
        {
            var (tli, from) = Wal.ParseSegmentName(index.Backups[0].StartSegment);
            var present = index.WalObjects.Where(w => Wal.ParseSegmentName(w.Segment).Timeline == tli).Select(w => Wal.ParseSegmentName(w.Segment).SegNo).ToHashSet();
            if (present.Count > 0)
            {
                var max = present.Max();
                ulong? gapStart = null;
                for (var s = from; s <= max; s++)
                {
                    if (!present.Contains(s)) gapStart ??= s;
                    else if (gapStart is { } g)
                    {
                        gaps.Add(g == s - 1 ? $"WAL segment {Wal.SegmentName(tli, g)} is missing" : $"WAL segments {Wal.SegmentName(tli, g)} to {Wal.SegmentName(tli, s - 1)} are missing");
                        gapStart = null;
                    }
                }
            }
        }
        var checkedIndex = new ArchiveIndex { Archive = archive, Backups = index.Backups.Where(b => checks.First(c => c.Id == b.Id).Error is null).ToList(), WalObjects = index.WalObjects, Tip = index.Tip, Bad = bad };
        var windows = new List<RecoveryWindow>();
        foreach (var b in checkedIndex.Backups) windows.Add(await checkedIndex.WindowAsync(b, ct).ConfigureAwait(false));
        var incomplete = await archive.ListIncompleteBackupIdsAsync(ct).ConfigureAwait(false);
        walErrors.Sort(StringComparer.Ordinal);
        return new VerifyReport(checks, n, walErrors, gaps, windows, incomplete);
    }
}

/// <summary>`lifeboat pg verify --json`, one line per resource (snake_case, nulls left out).</summary>
public sealed record PgVerifyJson(string Resource, bool Ok, IReadOnlyList<BackupCheck> Backups, int WalChecked, IReadOnlyList<string> WalErrors,
    IReadOnlyList<string> Gaps, IReadOnlyList<PgRecoverableJson> Recoverable, IReadOnlyList<string> IncompleteBackups);

public sealed record PgRecoverableJson(string Backup, DateTimeOffset From, DateTimeOffset To, string? Problem);
