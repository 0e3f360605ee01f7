using System.Text;
using Lifeboat.Core.Config;

namespace Lifeboat.Recovery;

/// <summary>The measured RTO of an execution, in parts (milliseconds; null when that phase did not happen).
/// fault -> detected (detection) -> decided (decision) -> switch started (recovery steps) -> traffic switched
/// (switch) -> service verified (verification). Total = verified (else switched, else the end) minus the fault.</summary>
public sealed record RtoBreakdown(long FaultAt, long? DetectedAt, long? DecidedAt, long? SwitchStartedAt, long? SwitchedAt, long? VerifiedAt, long? EndedAt,
    long? DetectionMs, long? DecisionMs, long? RecoveryMs, long? SwitchMs, long? VerificationMs, long? TotalMs);

public sealed record ExecutionReport(ExecutionRow Execution, IReadOnlyList<StepRow> Steps, IReadOnlyList<TimelineEvent> Timeline, RtoBreakdown Rto);

public static class Reports
{
    public static ExecutionReport Build(ExecutionStore store, long id)
    {
        var exec = store.Get(id) ?? throw new UserErrorException($"no execution {id} (see lifeboat executions)");
        var steps = store.Steps(id);
        var events = store.Events(id);
        long? At(string kind) => events.FirstOrDefault(e => e.Kind == kind)?.At;
        var fault = At("fault") ?? exec.CreatedAt;
        var detected = At("detected") ?? exec.CreatedAt;
        var switched = At("traffic-switched");
        var switchStep = events.FirstOrDefault(e => e.Kind == "traffic-switched")?.Step;
        long? switchStart = switchStep is null ? null : steps.FirstOrDefault(s => s.Step == switchStep)?.StartedAt;
        var verified = At("verified");
        long? D(long? a, long? b) => a is { } x && b is { } y ? Math.Max(0, y - x) : null;
        var end = verified ?? switched ?? exec.EndedAt;
        var rto = new RtoBreakdown(fault, detected, exec.DecidedAt, switchStart, switched, verified, exec.EndedAt,
            D(fault, detected), D(detected, exec.DecidedAt), D(exec.DecidedAt, switchStart), D(switchStart, switched), D(switched, verified), D(fault, end));
        return new ExecutionReport(exec, steps, events, rto);
    }

    private static string T(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);

    public static string Secs(long? ms) => ms is { } v ? $"{v / 1000.0:0.000}s" : "-";

    public static string RenderRto(RtoBreakdown r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"  detection     {Secs(r.DetectionMs),9}  (first failed observation -> fault detected)");
        sb.AppendLine($"  decision      {Secs(r.DecisionMs),9}  (fault detected -> runbook started or approved)");
        sb.AppendLine($"  recovery      {Secs(r.RecoveryMs),9}  (runbook started -> traffic switch begins)");
        sb.AppendLine($"  switch        {Secs(r.SwitchMs),9}  (switch begins -> authoritative side answers the new address)");
        sb.AppendLine($"  verification  {Secs(r.VerificationMs),9}  (traffic switched -> service verified)");
        sb.AppendLine($"  RTO (measured) {Secs(r.TotalMs),8}  (first failed observation -> {(r.VerifiedAt is not null ? "service verified" : r.SwitchedAt is not null ? "traffic switched" : "end")})");
        return sb.ToString();
    }

    public static string Render(ExecutionReport rep)
    {
        var e = rep.Execution;
        var sb = new StringBuilder();
        sb.AppendLine($"execution {e.Id}: {e.Kind} with runbook {e.Runbook}: {e.Status.ToUpperInvariant()}{(e.Error is null ? "" : $" ({e.Error})")}");
        sb.AppendLine($"  trigger: {e.Trigger}; approval: {e.Approval}; started {DateTimeOffset.FromUnixTimeMilliseconds(e.CreatedAt):u}");
        sb.AppendLine();
        sb.AppendLine("timeline:");
        var t0 = rep.Rto.FaultAt;
        foreach (var ev in rep.Timeline.OrderBy(x => x.At))
            sb.AppendLine($"  {T(ev.At)}  +{(ev.At - t0) / 1000.0,8:0.000}s  {Label(ev.Kind),-17} {(ev.Step is null ? "" : ev.Step + ": ")}{ev.Message}");
        sb.AppendLine();
        sb.AppendLine("steps:");
        foreach (var s in rep.Steps.OrderBy(s => s.StartedAt ?? long.MaxValue))
        {
            var dur = s.StartedAt is { } a && s.EndedAt is { } b ? Secs(b - a) : "-";
            sb.AppendLine($"  {s.Step,-22} {s.Status,-10} attempts {s.Attempts}  {dur,9}{(s.Error is null ? "" : $"  error: {s.Error}")}");
        }
        sb.AppendLine();
        sb.AppendLine("RTO breakdown:");
        sb.Append(RenderRto(rep.Rto));
        return sb.ToString();
    }

    private static string Label(string kind) => kind switch
    {
        "fault" => "FAULT",
        "detected" => "DETECTED",
        "decision" => "DECISION",
        "step-start" => "step start",
        "step-end" => "step end",
        "step-retry" => "step retry",
        "traffic-switched" => "TRAFFIC SWITCHED",
        "verified" => "SERVICE VERIFIED",
        "approval-wait" => "awaiting approval",
        "finished" => "FINISHED",
        _ => kind,
    };

    /// <summary>`lifeboat runbook plan`: the steps in the order they would start, with what each does; nothing runs.</summary>
    public static string Plan(RunbookConfig rb)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"runbook {rb.Name}{(rb.Description is null ? "" : $": {rb.Description}")}");
        var level = new Dictionary<string, int>(StringComparer.Ordinal);
        var i = 0;
        foreach (var name in rb.Order)
        {
            var s = rb.Step(name);
            level[name] = s.Needs.Count == 0 ? 0 : s.Needs.Max(n => level[n]) + 1;
            i++;
            var extras = new List<string>();
            if (s.Needs.Count > 0) extras.Add($"after {string.Join(", ", s.Needs)}");
            if (s.EffectiveTimeout is { } t) extras.Add($"timeout {Durations.Format(t)}");
            if (s.Retries > 0) extras.Add($"{s.Retries} retries, backoff {Durations.Format(s.Backoff)} doubling");
            extras.Add(s.OnFailure switch { FailureMode.Continue => "on failure: continue", FailureMode.Run => $"on failure: run {s.OnFailureStep}, then stop", _ => "on failure: stop" });
            sb.AppendLine($"  {i}. [wave {level[name] + 1}] {name}: {RunbookEngine.Describe(s)}");
            sb.AppendLine($"       {string.Join("; ", extras)}");
        }
        foreach (var h in rb.Handlers)
            sb.AppendLine($"  -  (failure handler) {h}: {RunbookEngine.Describe(rb.Step(h))}");
        sb.AppendLine("  (plan only: nothing was run)");
        return sb.ToString();
    }
}
