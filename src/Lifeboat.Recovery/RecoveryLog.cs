using Microsoft.Extensions.Logging;

namespace Lifeboat.Recovery;

/// <summary>
/// Lifeboat.Recovery's log messages (runbooks, checks, the dispatcher), with stable event ids 2000-2099
/// (docs/design.md, "Logs and event ids"). An id is never reused or renumbered: alerting may match on it. A new
/// message takes the next free id.
/// </summary>
internal static partial class RecoveryLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "check {Check} recovered: {Detail}")]
    public static partial void CheckRecovered(this ILogger logger, string check, string detail);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "check {Check} FAILING: {Detail}")]
    public static partial void CheckFailing(this ILogger logger, string check, string detail);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "check {Check}: no evidence ({Detail}); holds its state ({State})")]
    public static partial void CheckNoEvidence(this ILogger logger, string check, string detail, string state);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "event matched no rule (recorded)")]
    public static partial void EventMatchedNoRule(this ILogger logger);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "notify {Url} failed: {Error}")]
    public static partial void NotifyFailed(this ILogger logger, string? url, string error);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "notify {Url} timed out")]
    public static partial void NotifyTimedOut(this ILogger logger, string? url);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "{Trigger}: runbook {Runbook} not started again: hold-down ({HoldDown}) since its last start")]
    public static partial void RunbookHeldDown(this ILogger logger, string trigger, string runbook, string holdDown);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "{Trigger}: execution {Id} of runbook {Runbook} {State}")]
    public static partial void ExecutionCreated(this ILogger logger, string trigger, long id, string runbook, string state);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Error, Message = "execution {Id}: {Error}")]
    public static partial void ExecutionFailed(this ILogger logger, long id, string error);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "{Line}")]
    public static partial void RunbookProgress(this ILogger logger, string line);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Error, Message = "execution {Id}: step {Step} threw an unexpected error")]
    public static partial void StepThrew(this ILogger logger, Exception exception, long id, string step);
}
