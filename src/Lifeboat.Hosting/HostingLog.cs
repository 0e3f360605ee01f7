using Microsoft.Extensions.Logging;

namespace Lifeboat.Hosting;

/// <summary>
/// The composition layer's log messages (the webhook, the replication supervisor), with stable event ids 3020-3099
/// (docs/design.md, "Logs and event ids"). An id is never reused or renumbered: alerting may match on it. A new
/// message takes the next free id.
/// </summary>
internal static partial class HostingLog
{
    // ---------------------------------------------------------------- replication supervisor (3020-3029)

    [LoggerMessage(EventId = 3020, Level = LogLevel.Error, Message = "{Resource}: replication is set to reversed, which a {Type} resource cannot do: holding it (`lifeboat failback` returns it to forward)")]
    public static partial void ReverseNotSupported(this ILogger logger, string resource, string type);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "{Resource}: replication now {Mode} (set by a runbook or failback)")]
    public static partial void ModeChanged(this ILogger logger, string resource, string mode);

    // ---------------------------------------------------------------- webhook (3030-3039)

    /// <summary>Warning for a request refused as malformed or unauthorised; error for an SNS confirmation refused.</summary>
    [LoggerMessage(EventId = 3030, Message = "webhook: rejected a request to {Path}: {Error}")]
    public static partial void WebhookRejected(this ILogger logger, LogLevel level, string path, string error);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Warning, Message = "webhook: event for {Bucket}/{Key} matches no resource")]
    public static partial void WebhookUnmatched(this ILogger logger, string bucket, string key);

    [LoggerMessage(EventId = 3032, Level = LogLevel.Error, Message = "webhook: confirming the SNS subscription to {Topic} failed: {Error}")]
    public static partial void SnsConfirmFailed(this ILogger logger, string topic, string error);

    [LoggerMessage(EventId = 3033, Level = LogLevel.Information, Message = "webhook: confirmed the SNS subscription to {Topic}")]
    public static partial void SnsConfirmed(this ILogger logger, string topic);
}
