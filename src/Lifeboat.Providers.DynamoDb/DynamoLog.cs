using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>
/// The table kind's log messages, with stable event ids 1100-1199 (docs/design.md, "Logs and event ids"). An id is
/// never reused or renumbered: alerting may match on it. A new message takes the next free id.
/// </summary>
internal static partial class DynamoLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Warning, Message = "--reset-state: resource '{Resource}': target table {Target} already holds items this state file ({Path}, state {Id}) has no record of; replicating into it")]
    public static partial void TargetTakenOver(this ILogger logger, string resource, string target, string path, string id);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "{Resource}: {Kind} of {Source} -> {Target} with {Segments} scan segments")]
    public static partial void SyncStarting(this ILogger logger, string resource, string kind, string source, string target, int segments);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "{Resource}: initial sync done: {Scanned} items scanned, {Written} written{Swept}")]
    public static partial void SyncDone(this ILogger logger, string resource, long scanned, long written, string swept);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Debug, Message = "{Resource}: {Shards} shards; {Watched} open shards watched for the first record after the scan's start")]
    public static partial void ShardsWatched(this ILogger logger, string resource, int shards, int watched);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "{Resource}: shard {Shard}: its position at the scan's start is unknown ({Error}); the stream tail reads it from its oldest record")]
    public static partial void ShardPositionUnknown(this ILogger logger, string resource, string shard, string error);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Information, Message = "{Resource}: {Count} changes left open by an earlier run are covered by this pass")]
    public static partial void OpenChangesSettled(this ILogger logger, string resource, long count);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Error, Message = "{Resource}: changes were lost to this replica ({Why}); a full re-sync follows")]
    public static partial void StreamGap(this ILogger logger, string resource, string why);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Debug, Message = "{Resource}: shard {Shard}: {Records} records ({Full}), {Keys} keys written in {Ms} ms")]
    public static partial void ShardBatchApplied(this ILogger logger, string resource, string shard, int records, string full, long keys, int ms);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Warning, Message = "{Resource}: {Error}; retrying in {Wait}")]
    public static partial void TailRetrying(this ILogger logger, string resource, string error, string wait);

    [LoggerMessage(EventId = 1109, Level = LogLevel.Warning, Message = "{Resource}: canary write failed: {Error}")]
    public static partial void CanaryFailed(this ILogger logger, string resource, string error);

    [LoggerMessage(EventId = 1110, Level = LogLevel.Information, Message = "{Why}: creating table {Table} in store {Store} ({Keys}; {Billing}; {Gsi} global and {Lsi} local indexes; stream NEW_AND_OLD_IMAGES)")]
    public static partial void CreatingTable(this ILogger logger, string why, string table, string store, string keys, string billing, int gsi, int lsi);
}
