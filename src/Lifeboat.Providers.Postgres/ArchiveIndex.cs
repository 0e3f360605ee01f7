namespace Lifeboat.Providers.Postgres;

/// <summary>What a backup can recover to: from <see cref="From"/> (consistent) to <see cref="To"/>, replaying the
/// contiguous WAL <see cref="Segments"/> (the last may be a partial one). <see cref="Problem"/> says why the window ends
/// early (a gap, a missing or corrupted segment), null when it reaches the archive's end.</summary>
public sealed record RecoveryWindow(BackupManifest Backup, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<WalObject> Segments, string? Problem)
{
    public bool Usable => Segments.Count > 0 && To >= From;
}

/// <summary>A snapshot of the archive: backups, WAL objects, the stream tip; computes recovery windows.</summary>
public sealed class ArchiveIndex
{
    public required PgArchive Archive { get; init; }
    public required List<BackupManifest> Backups { get; init; }
    public required List<WalObject> WalObjects { get; init; }
    public WalTip? Tip { get; init; }
    /// <summary>Segments known to be bad (verify), treated as missing.</summary>
    public HashSet<string> Bad { get; init; } = new(StringComparer.Ordinal);

    public static async Task<ArchiveIndex> LoadAsync(PgArchive archive, CancellationToken ct) => new()
    {
        Archive = archive,
        Backups = await archive.ListBackupsAsync(ct).ConfigureAwait(false),
        WalObjects = await archive.ListWalAsync(ct).ConfigureAwait(false),
        Tip = await archive.GetTipAsync(ct).ConfigureAwait(false),
    };

    public async Task<RecoveryWindow> WindowAsync(BackupManifest b, CancellationToken ct)
    {
        var (tli, startSeg) = Wal.ParseSegmentName(b.StartSegment);
        var (_, stopSeg) = Wal.ParseSegmentName(b.StopSegment);
        var full = WalObjects.Where(w => !w.Partial && !Bad.Contains(w.Segment)).ToDictionary(w => w.Segment, StringComparer.Ordinal);
        var partial = WalObjects.Where(w => w.Partial && !Bad.Contains(w.Segment + ".partial")).ToDictionary(w => w.Segment, StringComparer.Ordinal);
        var segs = new List<WalObject>();
        var seg = startSeg;
        string? problem = null;
        while (true)
        {
            var name = Wal.SegmentName(tli, seg);
            if (full.TryGetValue(name, out var f)) { segs.Add(f); seg++; continue; }
            if (partial.TryGetValue(name, out var p)) { segs.Add(p); break; }
            // Anything archived after this point? Then this is a gap.
            var later = WalObjects.Where(w => { var (t, s) = Wal.ParseSegmentName(w.Segment); return t == tli && s > seg; }).ToList();
            if (later.Count > 0) problem = $"WAL segment {name} is {(Bad.Contains(name) ? "corrupted" : "missing")} (the archive continues at {later.Min(w => w.Segment)})";
            break;
        }
        var lastNo = segs.Count == 0 ? 0UL : Wal.ParseSegmentName(segs[^1].Segment).SegNo;
        if (segs.Count == 0 || lastNo < stopSeg || (lastNo == stopSeg && segs[^1].Partial && Tip is not null && Wal.ParseLsn(Tip.Lsn) < Wal.ParseLsn(b.StopLsn)))
            return new RecoveryWindow(b, b.ConsistentAt, DateTimeOffset.MinValue, segs,
                problem ?? $"the WAL up to the backup's stop position {b.StopLsn} ({b.StopSegment}) is not in the archive yet");

        DateTimeOffset to;
        var last = segs[^1];
        var tipLsn = Tip is not null && Tip.Timeline == tli ? Wal.ParseLsn(Tip.Lsn) : 0;
        // The chain covers the tip: the archive is complete up to the tip's server time.
        var chainEnd = last.Partial ? Wal.SegmentStart(lastNo) + 1 : Wal.SegmentStart(lastNo + 1);
        if (problem is null && tipLsn > 0 && (last.Partial ? Wal.SegmentNo(tipLsn) == lastNo : tipLsn <= chainEnd))
            to = Tip!.ServerTime;
        else
            to = await Archive.EndTimeAsync(last.Key, default).ConfigureAwait(false) ?? b.ConsistentAt;
        if (to < b.ConsistentAt) to = b.ConsistentAt;
        return new RecoveryWindow(b, b.ConsistentAt, to, segs, problem);
    }
}
