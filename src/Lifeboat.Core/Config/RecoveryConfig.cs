using System.Net;
using Lifeboat.Abstractions;

namespace Lifeboat.Core.Config;

// The recovery part of a config (issue 5): checks (detection), rules (events -> actions), runbooks (orchestration)
// and the daemon (`lifeboat serve`). Parsed by ConfigLoader.Recovery.cs; executed by src/Lifeboat.Recovery.

/// <summary>HTTP(S) probe: passes when the answer has <see cref="ExpectStatus"/> and, when given, the body contains
/// <see cref="BodyContains"/>.</summary>
public sealed record HttpProbeSpec(Uri Url, string Method, int ExpectStatus, string? BodyContains, bool Insecure);

/// <summary>TCP probe: passes when a connection to host:port opens.</summary>
public sealed record TcpProbeSpec(string Host, int Port);

/// <summary>DNS probe: passes when <see cref="Name"/>/<see cref="Type"/> answers (with one of <see cref="Expect"/>
/// when given). <see cref="Store"/> = ask that traffic store's authoritative side; null = the system resolver.</summary>
public sealed record DnsProbeSpec(string Name, string Type, string? Store, IReadOnlyList<string> Expect);

/// <summary>Alarm over Lifeboat's own metrics: fails while <see cref="Metric"/> of <see cref="Resource"/> is above
/// <see cref="Above"/> (null = the resource's rpo).</summary>
public sealed record AlarmSpec(string Resource, string Metric, TimeSpan? Above, double? AboveCount);

/// <summary>Exactly one of the probe kinds.</summary>
public sealed record ProbeSpec(HttpProbeSpec? Http, TcpProbeSpec? Tcp, DnsProbeSpec? Dns, AlarmSpec? Alarm, ConfigLocation Where)
{
    public string Describe() =>
        Http is { } h ? $"http {h.Method} {Redact.Url(h.Url.OriginalString)} expects {h.ExpectStatus}{(h.BodyContains is null ? "" : $" and body containing '{h.BodyContains}'")}"
        : Tcp is { } t ? $"tcp connect {t.Host}:{t.Port}"
        : Dns is { } d ? $"dns {d.Name} {d.Type}{(d.Expect.Count > 0 ? $" = {string.Join(",", d.Expect)}" : "")} via {d.Store ?? "system resolver"}"
        : Alarm is { } a ? $"alarm {a.Resource} {a.Metric} above {(a.Above is { } x ? Durations.Format(x) : a.AboveCount is { } c ? c.ToString(System.Globalization.CultureInfo.InvariantCulture) : "rpo")}"
        : "?";
}

/// <summary>N failures among the last M results (N consecutive = N of N).</summary>
public sealed record Threshold(int Failures, int Window)
{
    public override string ToString() => Failures == Window ? $"{Failures} consecutive" : $"{Failures} of {Window}";
}

public enum ApprovalMode { Auto, Manual }

/// <summary>A webhook notification: POST of a JSON body with a Slack-compatible <c>text</c>.</summary>
public sealed record NotifySpec(Uri Url, string? Text, ConfigLocation Where);

/// <summary>What a check or rule does when it fires: run a runbook (after approval when manual) and/or notify.</summary>
public sealed record ActionSpec(string? Runbook, ApprovalMode Approval, NotifySpec? Notify, ConfigLocation Where);

public sealed record CheckConfig(
    string Name,
    ProbeSpec Probe,
    TimeSpan Interval,
    TimeSpan Timeout,
    Threshold Threshold,
    int RecoveryThreshold,
    TimeSpan HoldDown,
    IReadOnlyList<ActionSpec> OnFailure,
    ConfigLocation Where);

/// <summary>An event rule: JSON events POSTed to the event endpoint that match <see cref="PatternJson"/> (the
/// EventBridge event-pattern language) trigger <see cref="Actions"/>.</summary>
public sealed record EventRuleConfig(string Name, string PatternJson, IReadOnlyList<ActionSpec> Actions, TimeSpan HoldDown, ConfigLocation Where);

public enum StepKind { Probe, Exec, Http, Dns, Replication, Restore, Approval, Notify, Wait }

public enum FailureMode { Stop, Continue, Run }

public enum ReplicationAction { Pause, Resume, Stop, Reverse }

public abstract record StepSpec;

/// <summary>Waits until a check passes: a named check's probe, or one written inline; polled every <see cref="Every"/>.</summary>
public sealed record ProbeStepSpec(string? Check, ProbeSpec Probe, TimeSpan Every, TimeSpan ProbeTimeout) : StepSpec;

/// <summary>Runs a command through <c>/bin/sh -c</c>; its output is captured into the state store.</summary>
public sealed record ExecStepSpec(string Command, string? WorkingDirectory) : StepSpec;

public sealed record HttpStepSpec(Uri Url, string Method, string? Body, string? ContentType, int? ExpectStatus, IReadOnlyDictionary<string, string> Headers) : StepSpec;

/// <summary>Sets a record set in a traffic store. <see cref="Gate"/>: the probes the target must pass at the moment of
/// the switch (empty + <see cref="Ungated"/> = no gate); <see cref="HoldDown"/>: minimum time between two changes
/// of this record by Lifeboat.</summary>
public sealed record DnsStepSpec(string Store, string Record, string Type, IReadOnlyList<string> Values, int Ttl,
    IReadOnlyList<(string Name, ProbeSpec Probe)> Gate, bool Ungated, TimeSpan HoldDown) : StepSpec;

public sealed record ReplicationStepSpec(string Resource, ReplicationAction Action) : StepSpec;

public sealed record RestoreStepSpec(string Resource, string? Prefix, string? ToStore, string? ToBucket, string? ToTable, bool Overwrite, string? PointInTime) : StepSpec
{
    /// <summary>postgres: the data directory to restore into (absolute).</summary>
    public string? TargetDir { get; init; }
    /// <summary>postgres: start the restored server on this port and wait until it accepts connections.</summary>
    public int? Port { get; init; }
    /// <summary>buckets and tables with history, restored to a point in time: also delete what did not exist then
    /// (<c>exact: true</c>; by default a restore into a non-empty place deletes nothing).</summary>
    public bool Exact { get; init; }
}

public sealed record ApprovalStepSpec(string? Message) : StepSpec;

public sealed record NotifyStepSpec(NotifySpec Notify) : StepSpec;

public sealed record WaitStepSpec(TimeSpan Duration) : StepSpec;

public sealed record StepConfig(
    string Name,
    StepKind Kind,
    StepSpec Spec,
    IReadOnlyList<string> Needs,
    TimeSpan? Timeout,
    int Retries,
    TimeSpan Backoff,
    FailureMode OnFailure,
    string? OnFailureStep,
    ConfigLocation Where)
{
    /// <summary>The timeout that applies: the configured one or the kind's default (null = none).</summary>
    public TimeSpan? EffectiveTimeout => Timeout ?? Kind switch
    {
        StepKind.Approval or StepKind.Wait => null,
        StepKind.Http or StepKind.Notify => TimeSpan.FromSeconds(30),
        StepKind.Dns => TimeSpan.FromMinutes(5),
        StepKind.Probe => TimeSpan.FromMinutes(5),
        _ => TimeSpan.FromMinutes(30),
    };
}

/// <summary>A runbook. <see cref="Order"/> is a topological order of the steps (declaration order among steps that
/// are ready together); <see cref="Handlers"/> are steps only run by another step's <c>on_failure: { run: STEP }</c>.</summary>
public sealed record RunbookConfig(string Name, string? Description, IReadOnlyList<StepConfig> Steps, IReadOnlyList<string> Order,
    IReadOnlySet<string> Handlers, ConfigLocation Where)
{
    public StepConfig Step(string name) => Steps.First(s => s.Name == name);
}

/// <summary><c>serve:</c> the daemon's API and event endpoint. State-changing requests need <see cref="Token"/>;
/// without one they are refused.</summary>
public sealed record ServeConfig(IPEndPoint Listen, string? Token, string EventsPath)
{
    /// <summary><c>insecure: true</c> in effect: reachable from other hosts without a token (a warning at every start).</summary>
    public bool Insecure { get; init; }
    /// <summary>Where <c>listen</c> and <c>events_path</c> are written; null for the defaults (no <c>serve:</c> section).</summary>
    public ConfigLocation? ListenWhere { get; init; }
    public ConfigLocation? PathWhere { get; init; }
}

public sealed record RecoveryConfig(
    IReadOnlyList<CheckConfig> Checks,
    IReadOnlyList<EventRuleConfig> Rules,
    IReadOnlyDictionary<string, RunbookConfig> Runbooks,
    ServeConfig Serve)
{
    public static RecoveryConfig Empty { get; } = new([], [], new Dictionary<string, RunbookConfig>(), new ServeConfig(new IPEndPoint(IPAddress.Loopback, 8095), null, "/events"));

    public RunbookConfig Runbook(string file, string name) =>
        Runbooks.TryGetValue(name, out var r) ? r
        : throw new UserErrorException(Runbooks.Count == 0
            ? $"{file}: no runbook named '{name}' (the config has no runbooks: section)"
            : $"{file}: no runbook named '{name}' (runbooks: {string.Join(", ", Runbooks.Keys)})");
}
