using Microsoft.Extensions.Logging;

namespace Lifeboat.Core;

/// <summary>
/// Lifeboat.Core's log messages, with stable event ids (docs/design.md, "Logs and event ids"): 1000-1099 bucket
/// replication, 1400-1499 object stores and the state file. An id is never reused or renumbered: alerting may match on
/// it. A new message takes the next free id of its range.
/// </summary>
internal static partial class CoreLog
{
    // ---------------------------------------------------------------- bucket replication (1000-1099)

    [LoggerMessage(EventId = 1000, Level = LogLevel.Warning, Message = "{Resource}: transient error, retry {Retry} of {Max}: {Error}")]
    public static partial void TransientRetry(this ILogger logger, string resource, int retry, int max, string error);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "{Resource}: target {Target} is now protected by this state file ({Path}, state {Id})")]
    public static partial void TargetClaimed(this ILogger logger, string resource, string target, string path, string id);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "--reset-state: resource '{Resource}': target {Target} {Problem}; it is now protected by this state file ({Path}, state {Id})")]
    public static partial void TargetClaimTakenOver(this ILogger logger, string resource, string target, string problem, string path, string id);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "{Resource}: {Key}: {Error}")]
    public static partial void KeyFailed(this ILogger logger, string resource, string key, string error);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Debug, Message = "{Resource}: {Key}: source multipart ETag not reproduced with a guessed part size of {PartSize}")]
    public static partial void GuessedPartSizeMissed(this ILogger logger, string resource, string key, long? partSize);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "{Resource}: deleted {Key} from the target (source deleted it; policy propagate)")]
    public static partial void DeletePropagated(this ILogger logger, string resource, string key);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "{Resource}: delayed delete of {Key}: {Error}")]
    public static partial void DelayedDeleteFailed(this ILogger logger, string resource, string key, string error);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "{Resource}: resuming the interrupted pass after '{Key}'")]
    public static partial void PassResuming(this ILogger logger, string resource, string key);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "{Resource}: stopping the pass; finishing {Count} copies in flight")]
    public static partial void PassStopping(this ILogger logger, string resource, int count);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Information, Message = "{Resource}: stopping the deep pass; finishing {Count} repairs in flight")]
    public static partial void DeepPassStopping(this ILogger logger, string resource, int count);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "{Resource}: {Key}: metadata/tags repaired on the target ({Differences})")]
    public static partial void MetadataRepaired(this ILogger logger, string resource, string key, string differences);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Error, Message = "{Resource}: {Key}: deep pass: {Error}")]
    public static partial void DeepKeyFailed(this ILogger logger, string resource, string key, string error);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "{Resource}: deep pass done: {Checked} objects checked, {Repaired} metadata/tags repaired, {Failed} failed")]
    public static partial void DeepPassDone(this ILogger logger, string resource, long @checked, long repaired, long failed);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Error, Message = "{Resource}: deep pass failed, tried again in {Delay}: {Error}")]
    public static partial void DeepPassFailed(this ILogger logger, string resource, string delay, string error);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "{Resource}: ignored an event for a key that cannot exist at the source ({Problem}): '{Key}'")]
    public static partial void EventKeyRefused(this ILogger logger, string resource, string problem, string key);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Information, Message = "{Resource}: pass done: {Listed} listed, {Copied} copied, {Deleted} deleted, {Held} held, {Failed} failed")]
    public static partial void PassDone(this ILogger logger, string resource, long listed, long copied, long deleted, long held, long failed);

    // ---------------------------------------------------------------- object stores and the state file (1400-1499)

    [LoggerMessage(EventId = 1400, Level = LogLevel.Warning, Message = "{Store}: could not remove the temp file {Path}: {Error}")]
    public static partial void TempFileNotRemoved(this ILogger logger, string store, string path, string error);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Warning, Message = "{Store}: bucket '{Bucket}': stale temp files not removed: {Error}")]
    public static partial void StaleTempFilesNotRemoved(this ILogger logger, string store, string bucket, string error);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "{Store}: {Bucket}/{Path} skipped: a {What} is not an object (never followed nor opened)")]
    public static partial void EntrySkipped(this ILogger logger, string store, string bucket, string path, string what);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Warning, Message = "{Store}: sidecar {Name} cannot be read, treated as absent: {Error}")]
    public static partial void SidecarUnreadable(this ILogger logger, string store, string name, string error);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Warning, Message = "--reset-state: the state file {Path} {Problem}; moved it aside to {Aside} and started a new, empty state file")]
    public static partial void StateFileReset(this ILogger logger, string path, string problem, string aside);
}
