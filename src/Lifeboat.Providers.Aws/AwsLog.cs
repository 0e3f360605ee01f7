using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.Aws;

/// <summary>
/// Lifeboat.Providers.Aws's log messages (the rds kind), with stable event ids 1300-1399 (docs/design.md, "Logs and
/// event ids"). An id is never reused or renumbered: alerting may match on it. A new message takes the next free id.
/// </summary>
internal static partial class AwsLog
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Information, Message = "{Resource}: cycle {Snapshot} started ({Why})")]
    public static partial void RdsCycleStarted(this ILogger logger, string resource, string snapshot, string why);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Error, Message = "{Message}")]
    public static partial void RdsCycleFailed(this ILogger logger, string message);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "{Resource}: {Phase}: {Error} (will retry)")]
    public static partial void RdsTransientError(this ILogger logger, string resource, string phase, string error);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning, Message = "{Resource}: {Error}; the copy waits")]
    public static partial void RdsCopyLimitExceeded(this ILogger logger, string resource, string error);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Information, Message = "{Resource}: creating snapshot {Snapshot} of {Instance} in {Region}")]
    public static partial void RdsSnapshotCreating(this ILogger logger, string resource, string snapshot, string instance, string region);

    [LoggerMessage(EventId = 1305, Level = LogLevel.Information, Message = "{Resource}: snapshot {Snapshot} available in {Region}")]
    public static partial void RdsSnapshotAvailable(this ILogger logger, string resource, string snapshot, string region);

    [LoggerMessage(EventId = 1306, Level = LogLevel.Information, Message = "{Resource}: copy {Snapshot} available in {Region}")]
    public static partial void RdsCopyAvailable(this ILogger logger, string resource, string snapshot, string region);

    [LoggerMessage(EventId = 1307, Level = LogLevel.Information, Message = "{Resource}: cycle {Snapshot} done: copied to {Region}; expired {Target} copies, {Source} source snapshots")]
    public static partial void RdsCycleDone(this ILogger logger, string resource, string snapshot, string region, int target, int source);

    [LoggerMessage(EventId = 1308, Level = LogLevel.Warning, Message = "{Resource}: {Why}")]
    public static partial void RdsCopyWaits(this ILogger logger, string resource, string why);

    [LoggerMessage(EventId = 1309, Level = LogLevel.Information, Message = "{Resource}: copying {Snapshot} to {Region}")]
    public static partial void RdsCopying(this ILogger logger, string resource, string snapshot, string region);

    [LoggerMessage(EventId = 1310, Level = LogLevel.Information, Message = "{Resource}: expired {Snapshot} in {Region} (keep {Keep})")]
    public static partial void RdsSnapshotExpired(this ILogger logger, string resource, string snapshot, string region, int keep);

    [LoggerMessage(EventId = 1311, Level = LogLevel.Warning, Message = "{Resource}: cannot expire {Snapshot} in {Region} now: {Error}")]
    public static partial void RdsSnapshotNotExpired(this ILogger logger, string resource, string snapshot, string region, string error);
}
