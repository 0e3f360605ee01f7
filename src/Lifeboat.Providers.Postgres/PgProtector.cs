using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Scheduling;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Lifeboat.Providers.Postgres;

/// <summary>
/// A postgres resource inside <c>lifeboat replicate</c>: the WAL streamer (stream mode; in archive mode the server's
/// archive_command does the shipping) and base backups on the cron schedule, each followed by retention.
/// </summary>
public sealed class PgProtector(PostgresResource res, IObjectStore store, TimeProvider time, ILogger log)
{
    public PostgresResource Resource => res;
    public PgArchive Archive { get; } = PgArchive.For(res, store);
    public WalStreamer? Streamer { get; private set; }
    public int BackupsTaken { get; private set; }
    /// <summary>When the schedule's next backup is due (set once its timer is armed).</summary>
    public DateTimeOffset? NextBackupAt { get; private set; }

    /// <summary>What a scheduled backup does (tests replace it); default: <see cref="BackupAsync"/>.</summary>
    public Func<CancellationToken, Task>? BackupAction { get; init; }

    public async Task PrepareAsync(CancellationToken ct)
    {
        await PgServer.CheckAsync(res, ct).ConfigureAwait(false);
        try { await store.CreateBucketAsync(res.Target.Bucket, ct).ConfigureAwait(false); }
        catch (StoreException e) { throw new UserErrorException($"{res.Target.Where}: {e.Message}"); }
        if (res.Wal == WalMode.Stream) Streamer = new WalStreamer(res, Archive, time, log);
    }

    public Task RunAsync(CancellationToken stop) =>
        Task.WhenAll(Streamer is null ? Task.CompletedTask : Streamer.RunAsync(stop), ScheduleLoopAsync(stop));

    /// <summary>Runs a backup at every time the cron schedule names (UTC), until stopped. A failed backup is logged and
    /// retried at the next scheduled time.</summary>
    public async Task ScheduleLoopAsync(CancellationToken stop)
    {
        if (res.BaseBackup.Schedule is not Cron cron) return;
        while (!stop.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            if (cron.Next(now) is not { } next) return;
            log.NextBackup(res.Name, next);
            try
            {
                var wait = Task.Delay(next - now, time, stop);
                NextBackupAt = next; // after the timer exists (tests move the clock once they see it)
                await wait.ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            try
            {
                await (BackupAction ?? (ct => BackupAsync(ct)))(stop).ConfigureAwait(false);
                BackupsTaken++;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.ScheduledBackupFailed(res.Name, e.Message);
            }
        }
    }

    /// <summary>Takes a base backup, waits for its WAL, then applies retention.</summary>
    public async Task<BackupManifest> BackupAsync(CancellationToken ct)
    {
        var bb = new BaseBackup(res, Archive, time, log) { WaitForWal = WaitForWalAsync };
        var m = await bb.RunAsync(ct).ConfigureAwait(false);
        await BaseBackup.ApplyRetentionAsync(Archive, res.BaseBackup.Keep, log, ct).ConfigureAwait(false);
        return m;
    }

    /// <summary>Waits until WAL up to <paramref name="lsn"/> is in the archive: through this process's streamer when it
    /// runs, else a short-lived streamer of its own, else (slot busy: another lifeboat streams) by watching the tip.</summary>
    public async Task WaitForWalAsync(ulong lsn, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + TimeSpan.FromMinutes(5);
        if (Streamer is null)
        {
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromMinutes(5));
                var s = new WalStreamer(res, Archive, time, log);
                await s.RunAsync(cts.Token, stopAt: lsn).ConfigureAwait(false);
                if (s.DurableLsn >= lsn) return;
            }
            catch (SlotBusyException) { /* another process streams: watch the tip */ }
        }
        while (true)
        {
            var durable = Streamer?.DurableLsn ?? (await Archive.GetTipAsync(ct).ConfigureAwait(false) is { } tip ? Wal.ParseLsn(tip.Lsn) : 0);
            if (durable >= lsn) return;
            if (time.GetUtcNow() > deadline)
                throw new UserErrorException($"{res.Name}: the WAL up to {Wal.FormatLsn(lsn)} that the base backup needs did not reach {Archive.Describe} within 5 minutes (is WAL streaming running?)");
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct).ConfigureAwait(false);
        }
    }
}

/// <summary>What <c>lifeboat status</c> shows for a postgres resource.</summary>
public sealed record PgStatus(
    string Resource, string Mode, string? ServerLsn, string? ArchivedLsn, long? LagBytes, double? LagSeconds,
    DateTimeOffset? CompleteUntil, string? LastBackupId, DateTimeOffset? LastBackupAt, int Backups,
    DateTimeOffset? WindowFrom, DateTimeOffset? WindowTo, double? RpoSeconds, double RpoTargetSeconds, bool RpoMet, string? Problem,
    string Archive = PgStatus.ArchiveOk)
{
    /// <summary><see cref="Archive"/>: the archive was read.</summary>
    public const string ArchiveOk = "ok";
    /// <summary><see cref="Archive"/>: its bucket (folder) does not exist yet: nothing was archived.</summary>
    public const string ArchiveNone = "none";
    /// <summary><see cref="Archive"/>: the archive could not be read (<see cref="Problem"/> says why).</summary>
    public const string ArchiveUnreadable = "unreadable";
}

public static class PgStatusReader
{
    public static async Task<PgStatus> ReadAsync(PostgresResource res, PgArchive archive, DateTimeOffset now, CancellationToken ct)
    {
        string? problem = null;
        ulong? serverLsn = null;
        DateTimeOffset? serverNow = null;
        try
        {
            await using var conn = await PgServer.OpenAsync(res.Connection, "reading the WAL position", ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_flush_lsn()::text, clock_timestamp()", conn);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            serverLsn = Wal.ParseLsn(r.GetString(0));
            serverNow = new DateTimeOffset(r.GetDateTime(1), TimeSpan.Zero);
        }
        catch (Exception e) when (e is UserErrorException or PgUnreachableException) { problem = e.Message; }

        ArchiveIndex index;
        try { index = await ArchiveIndex.LoadAsync(archive, ct).ConfigureAwait(false); }
        catch (StoreException e)
        {
            // One archive that is not there yet (or cannot be read) is this resource's state, not every resource's error.
            return new PgStatus(res.Name, res.Wal.ToString().ToLowerInvariant(), serverLsn is { } l ? Wal.FormatLsn(l) : null, null, null, null, null,
                null, null, 0, null, null, null, res.Rpo.TotalSeconds, false, e.MissingBucket ? problem : $"archive not readable: {e.Message}",
                e.MissingBucket ? PgStatus.ArchiveNone : PgStatus.ArchiveUnreadable);
        }
        ulong? archived = null;
        DateTimeOffset? until = null;
        if (index.Tip is { } tip) { archived = Wal.ParseLsn(tip.Lsn); until = tip.ServerTime; }
        var lastFull = index.WalObjects.Where(w => !w.Partial).MaxBy(w => w.Segment, StringComparer.Ordinal);
        if (lastFull is not null)
        {
            var end = Wal.SegmentStart(Wal.ParseSegmentName(lastFull.Segment).SegNo + 1);
            if (archived is null || end > archived)
            {
                archived = end;
                until = await archive.EndTimeAsync(lastFull.Key, ct).ConfigureAwait(false);
            }
        }
        long? lagBytes = serverLsn is { } s && archived is { } a ? (long)(s > a ? s - a : 0) : null;
        double? lagSeconds = lagBytes switch
        {
            0 => 0,
            null => null,
            _ => until is { } u ? Math.Max(0, ((serverNow ?? now) - u).TotalSeconds) : null,
        };
        RecoveryWindow? first = null, last = null;
        foreach (var b in index.Backups)
        {
            var w = await index.WindowAsync(b, ct).ConfigureAwait(false);
            if (!w.Usable) { problem ??= w.Problem; continue; }
            first ??= w;
            last = w;
            if (w.Problem is not null) problem ??= w.Problem;
        }
        var lb = index.Backups.LastOrDefault();
        // Measured RPO: how much committed work would be lost if the server vanished now.
        var rpo = lagSeconds;
        return new PgStatus(res.Name, res.Wal.ToString().ToLowerInvariant(), serverLsn is { } sl ? Wal.FormatLsn(sl) : null,
            archived is { } al ? Wal.FormatLsn(al) : null, lagBytes, lagSeconds, until, lb?.Id, lb?.ConsistentAt, index.Backups.Count,
            first?.From, last?.To, rpo, res.Rpo.TotalSeconds, rpo is { } r2 && r2 <= res.Rpo.TotalSeconds && lb is not null, problem);
    }
}
