using System.Net;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli;

/// <summary>
/// The command line's log messages (serve, replicate), with stable event ids 3000-3019 (docs/design.md, "Logs and event ids"). An id is never reused or renumbered: alerting may
/// match on it. A new message takes the next free id.
/// </summary>
internal static partial class CliLog
{
    // ---------------------------------------------------------------- replicate (3000-3009)

    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "listening for S3 events on http://{Listen} ({Paths}); metrics at /metrics")]
    public static partial void EventsListening(this ILogger logger, string listen, string paths);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "metrics at http://{Listen}/metrics")]
    public static partial void MetricsListening(this ILogger logger, IPEndPoint listen);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "protecting {Resource}")]
    public static partial void Protecting(this ILogger logger, string resource);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "replicating {Count} resources continuously; SIGINT or SIGTERM stops after in-flight copies")]
    public static partial void ReplicatingContinuously(this ILogger logger, int count);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "stopped cleanly")]
    public static partial void ReplicateStopped(this ILogger logger);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "{Resource}: events listener {Listen} is reachable from other hosts without a token (insecure: true): anyone who can reach it can post S3 events")]
    public static partial void EventsListenerInsecure(this ILogger logger, string resource, IPEndPoint listen);

    // ---------------------------------------------------------------- serve (3010-3019)

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "serving on http://{Listen}: events at {Events}, API at /api, metrics at /metrics{Token}")]
    public static partial void Serving(this ILogger logger, IPEndPoint listen, string events, string token);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "serve.listen {Listen} is reachable from other hosts without a token (insecure: true): anyone who can reach it reads the status and executions")]
    public static partial void ServeInsecure(this ILogger logger, IPEndPoint listen);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "resuming execution {Id} of runbook {Runbook} ({Status})")]
    public static partial void ExecutionResuming(this ILogger logger, long id, string runbook, string status);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Information, Message = "{Resources} resources ({Kinds}); {Checks} checks, {Rules} rules, {Runbooks} runbooks")]
    public static partial void ServeSummary(this ILogger logger, int resources, string kinds, int checks, int rules, int runbooks);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Information, Message = "stopped cleanly (interrupted executions resume on the next start)")]
    public static partial void ServeStopped(this ILogger logger);
}
