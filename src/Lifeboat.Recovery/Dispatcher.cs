using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Recovery;

/// <summary>Matches an event (JSON text) against an EventBridge event pattern (JSON text).</summary>
public delegate bool EventMatcher(string patternJson, string eventJson);

/// <summary>
/// Turns detections into actions: a check that crosses its threshold or an event that matches a rule notifies and/or
/// starts its runbook (at once with <c>approval: auto</c>; after <c>lifeboat approve</c> with <c>manual</c>).
/// A trigger that fired less than its hold-down ago does not start the runbook again, and a runbook that already has an
/// active execution is not started twice (the fault is noted on that execution's timeline). Executions run in the
/// background; <see cref="DrainAsync"/> waits for them.
/// </summary>
public sealed class Dispatcher(RecoveryContext ctx, RunbookEngine engine, EventMatcher? matcher)
{
    private readonly List<Task> _runs = [];
    private readonly Lock _gate = new();

    /// <summary>Executions started by this dispatcher (id), for callers that wait on one (the demo, tests).</summary>
    public event Action<long>? Started;

    public async Task OnCheckAsync(CheckConfig check, CheckTransition t, CancellationToken ct)
    {
        if (!t.Failing)
        {
            ctx.Log.CheckRecovered(check.Name, t.Detail);
            return;
        }
        ctx.Log.CheckFailing(check.Name, t.Detail);
        foreach (var a in check.OnFailure)
            await FireAsync($"check:{check.Name}", check.HoldDown, a, t.FirstFailureAt, t.At, t.Detail, ct).ConfigureAwait(false);
    }

    /// <summary>Matches an event against every rule and fires the actions of those that match. The event is recorded
    /// either way (unmatched events are kept, not dropped). Returns the names of the matching rules.</summary>
    public async Task<IReadOnlyList<string>> OnEventAsync(string json, CancellationToken ct)
    {
        var now = ctx.Time.GetUtcNow();
        var matched = new List<EventRuleConfig>();
        foreach (var rule in ctx.Config.Recovery.Rules)
        {
            if (matcher is null) throw new InvalidOperationException("event rules need the event-pattern matcher, which this build does not have");
            if (matcher(rule.PatternJson, json)) matched.Add(rule);
        }
        ctx.Executions.RecordInbound(now.ToUnixTimeMilliseconds(), json, string.Join(",", matched.Select(r => r.Name)));
        if (matched.Count == 0) ctx.Log.EventMatchedNoRule();
        foreach (var rule in matched)
            foreach (var a in rule.Actions)
                await FireAsync($"rule:{rule.Name}", rule.HoldDown, a, now, now, $"event matched rule {rule.Name}", ct).ConfigureAwait(false);
        return matched.Select(r => r.Name).ToList();
    }

    private async Task FireAsync(string trigger, TimeSpan holdDown, ActionSpec action, DateTimeOffset faultAt, DateTimeOffset detectedAt, string detail, CancellationToken ct)
    {
        if (action.Notify is { } n)
        {
            try
            {
                await Notifier.SendAsync(ctx.Http, n, $"Lifeboat: {detail}", new Dictionary<string, object?>
                {
                    ["trigger"] = trigger, ["detected_at"] = detectedAt.ToString("O"), ["runbook"] = action.Runbook,
                }, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e) { ctx.Log.NotifyFailed(Redact.Url(n.Url.OriginalString), e.Message); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { ctx.Log.NotifyTimedOut(Redact.Url(n.Url.OriginalString)); }
        }
        if (action.Runbook is not { } runbook) return;
        if (ctx.Executions.ActiveFor(runbook) is { } active)
        {
            ctx.Executions.AddEvent(active.Id, ctx.NowMs, "note", null, $"{trigger} reported the fault again: {detail}");
            return;
        }
        if (ctx.Executions.LastTriggered(trigger) is { } last && ctx.NowMs - last < holdDown.TotalMilliseconds)
        {
            ctx.Log.RunbookHeldDown(trigger, runbook, Durations.Format(holdDown));
            return;
        }
        long id;
        try { id = engine.Create(runbook, RunbookEngine.KindFailover, trigger, action.Approval, faultAt, detectedAt, detail); }
        catch (ActiveExecutionException) { return; }
        ctx.Log.ExecutionCreated(trigger, id, runbook,
            action.Approval == ApprovalMode.Manual ? $"awaits approval: lifeboat approve {id}" : "started");
        Started?.Invoke(id);
        Track(id, ct);
    }

    /// <summary>Runs (or resumes) an execution in the background.</summary>
    public void Track(long id, CancellationToken ct)
    {
        var run = Task.Run(async () =>
        {
            try { await engine.RunAsync(id, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            catch (Exception e)
            {
                ctx.Log.ExecutionFailed(id, e.Message);
            }
        }, CancellationToken.None);
        lock (_gate) _runs.Add(run);
    }

    public async Task DrainAsync()
    {
        Task[] runs;
        lock (_gate) runs = [.. _runs];
        await Task.WhenAll(runs).ConfigureAwait(false);
    }
}
