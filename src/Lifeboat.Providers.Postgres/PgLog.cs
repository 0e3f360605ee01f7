using Microsoft.Extensions.Logging;
using NpgsqlTypes;

namespace Lifeboat.Providers.Postgres;

/// <summary>
/// The postgres kind's log messages, with stable event ids 1200-1299 (docs/design.md, "Logs and event ids"). An id is
/// never reused or renumbered: alerting may match on it. A new message takes the next free id.
/// </summary>
internal static partial class PgLog
{
    // ---------------------------------------------------------------- WAL streaming (1200-1219)

    [LoggerMessage(EventId = 1200, Level = LogLevel.Error, Message = "{Resource}: WAL streaming interrupted: {Error}; retrying in {Delay} (the slot keeps the server's WAL meanwhile)")]
    public static partial void StreamingInterrupted(this ILogger logger, string resource, string error, TimeSpan delay);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "{Resource}: replication slot '{Slot}' did not exist on {Server} although the archive has WAL up to {Lsn}: created it again; " +
                                                                      "WAL the server removed while the slot was missing cannot be archived (verify reports any gap)")]
    public static partial void SlotRecreated(this ILogger logger, string resource, string slot, string server, string lsn);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "{Resource}: created replication slot '{Slot}' at {Lsn}")]
    public static partial void SlotCreated(this ILogger logger, string resource, string slot, NpgsqlLogSequenceNumber? lsn);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "{Resource}: the server is on timeline {Timeline}, the archive on {Old}: archiving the new timeline from the slot's position")]
    public static partial void TimelineChanged(this ILogger logger, string resource, uint timeline, uint old);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Information, Message = "{Resource}: streaming WAL from {Lsn} (timeline {Timeline}) with slot '{Slot}'")]
    public static partial void StreamingFrom(this ILogger logger, string resource, string lsn, uint timeline, string slot);

    [LoggerMessage(EventId = 1205, Level = LogLevel.Warning, Message = "{Resource}: storing the partial segment at stop failed: {Error}")]
    public static partial void PartialSegmentNotStored(this ILogger logger, string resource, string error);

    [LoggerMessage(EventId = 1206, Level = LogLevel.Error, Message = "{Resource}: {Gap}")]
    public static partial void WalGap(this ILogger logger, string resource, string gap);

    [LoggerMessage(EventId = 1207, Level = LogLevel.Warning, Message = "{Resource}: deleting {Segment}.partial failed (harmless; the full segment is stored): {Error}")]
    public static partial void PartialSegmentNotDeleted(this ILogger logger, string resource, string segment, string error);

    [LoggerMessage(EventId = 1208, Level = LogLevel.Error, Message = "{Resource}: {What} failed: {Error}; retrying in {Delay} (nothing is confirmed to the server until it is stored)")]
    public static partial void WalStoreRetrying(this ILogger logger, string resource, string what, string error, TimeSpan delay);

    // ---------------------------------------------------------------- base backups and retention (1220-1239)

    [LoggerMessage(EventId = 1220, Level = LogLevel.Information, Message = "{Resource}: base backup {Id} starting")]
    public static partial void BackupStarting(this ILogger logger, string resource, string id);

    [LoggerMessage(EventId = 1221, Level = LogLevel.Warning, Message = "{Resource}: removing the chunks of the failed backup {Id} failed: {Error}")]
    public static partial void FailedBackupNotRemoved(this ILogger logger, string resource, string id, string error);

    [LoggerMessage(EventId = 1222, Level = LogLevel.Information, Message = "{Resource}: base backup {Id} done: {Files} files, {Size} MB ({Stored} MB stored) in {Seconds:0.00} s " +
                                                                          "(data {Streamed:0.00} s, then waiting for its WAL to be archived {Wait:0.00} s); WAL {Start} - {Stop}")]
    public static partial void BackupDone(this ILogger logger, string resource, string id, int files, long size, long stored, double seconds, double streamed,
        double wait, string start, string stop);

    [LoggerMessage(EventId = 1223, Level = LogLevel.Warning, Message = "{Resource}: storing {What} failed (retry {Retry}): {Error}")]
    public static partial void ChunkStoreRetry(this ILogger logger, string resource, string what, int retry, string error);

    [LoggerMessage(EventId = 1224, Level = LogLevel.Information, Message = "retention: deleted base backup {Id}")]
    public static partial void BackupExpired(this ILogger logger, string id);

    [LoggerMessage(EventId = 1225, Level = LogLevel.Information, Message = "retention: deleted {Count} WAL objects before {Segment} (oldest kept backup {Id})")]
    public static partial void WalExpired(this ILogger logger, int count, string segment, string id);

    [LoggerMessage(EventId = 1226, Level = LogLevel.Information, Message = "{Resource}: next base backup at {Next:u}")]
    public static partial void NextBackup(this ILogger logger, string resource, DateTimeOffset next);

    [LoggerMessage(EventId = 1227, Level = LogLevel.Error, Message = "{Resource}: scheduled base backup failed: {Error}")]
    public static partial void ScheduledBackupFailed(this ILogger logger, string resource, string error);

    // ---------------------------------------------------------------- restore (1240-1259)

    [LoggerMessage(EventId = 1240, Level = LogLevel.Warning, Message = "{Resource}: {Problem}; the restore can reach {To} at most")]
    public static partial void RestoreLimited(this ILogger logger, string resource, string problem, string to);

    [LoggerMessage(EventId = 1241, Level = LogLevel.Information, Message = "{Resource}: restoring base backup {Id} (consistent at {At}) into {Dir}")]
    public static partial void Restoring(this ILogger logger, string resource, string id, string at, string dir);

    [LoggerMessage(EventId = 1242, Level = LogLevel.Information, Message = "{Resource}: flock(1) not found: fetching all WAL before starting the server")]
    public static partial void NoFlock(this ILogger logger, string resource);

    [LoggerMessage(EventId = 1243, Level = LogLevel.Information, Message = "{Resource}: data directory ready in {Seconds:0.0} s (base backup unpacked in {Unpacked:0.0} s; {Segments} WAL segments, {How})")]
    public static partial void DataDirectoryReady(this ILogger logger, string resource, double seconds, double unpacked, int segments, string how);

    [LoggerMessage(EventId = 1244, Level = LogLevel.Information, Message = "{Resource}: {Fetched} WAL segments fetched, the server waited {Waited:0.0} s for segments not fetched yet; recovered and promoted in {Seconds:0.0} s")]
    public static partial void RecoveredWhileFetching(this ILogger logger, string resource, int fetched, double waited, double seconds);

    [LoggerMessage(EventId = 1245, Level = LogLevel.Information, Message = "{Resource}: no transaction committed after {T} in the archive (complete to {To}): recovering to the end of the archive, which is the state at {T}")]
    public static partial void RecoveringToArchiveEnd(this ILogger logger, string resource, string t, string to);

    [LoggerMessage(EventId = 1246, Level = LogLevel.Information, Message = "{Resource}: restored server promoted; replayed to {Lsn}{Stop}")]
    public static partial void RestorePromoted(this ILogger logger, string resource, string lsn, string stop);
}
