using Lifeboat.Core.Storage;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Lifeboat.Abstractions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Lifeboat.Core.Config;

/// <summary>The recovery sections: <c>checks:</c>, <c>rules:</c>, <c>runbooks:</c> and <c>serve:</c>. Every reference
/// (runbook, step, check, store, resource) is resolved here, so a broken runbook fails at <c>validate</c> with file,
/// line and key, never half-way through a failover.</summary>
public static partial class ConfigLoader
{
    private static readonly Dictionary<string, StepKind> StepKinds = new()
    {
        ["probe"] = StepKind.Probe, ["exec"] = StepKind.Exec, ["http"] = StepKind.Http, ["dns"] = StepKind.Dns,
        ["replication"] = StepKind.Replication, ["restore"] = StepKind.Restore, ["approval"] = StepKind.Approval,
        ["notify"] = StepKind.Notify, ["wait"] = StepKind.Wait,
    };

    private static readonly string[] StepCommonKeys = ["name", "needs", "timeout", "retries", "backoff", "on_failure"];

    /// <summary>True for stores that hold DNS records (traffic switching): RFC 2136 zones, Route 53 hosted zones and
    /// local routing files. Compared by name so the store types added by the DNS providers need no change here.</summary>
    public static bool IsTrafficStore(StoreConfig s) => s.Type.ToString() is "Dns" or "Route53" or "Routes";

    /// <summary>The resource names, with each one's configuration (its kind and capabilities, ADR 0010).</summary>
    private sealed class ResourceNames() : HashSet<string>(StringComparer.Ordinal)
    {
        public Dictionary<string, ResourceConfig> Kinds { get; } = new(StringComparer.Ordinal);
    }

    private static string Past(ReplicationAction a) => a switch
    {
        ReplicationAction.Pause => "paused", ReplicationAction.Resume => "resumed", ReplicationAction.Stop => "stopped", _ => "reversed",
    };

    private static ResourceConfig? KindOf(IReadOnlySet<string> resources, string name) =>
        resources is ResourceNames { Kinds: var kinds } && kinds.TryGetValue(name, out var r) ? r : null;

    /// <summary>The resources that declare <paramref name="has"/>, for error messages.</summary>
    private static string Having(IReadOnlySet<string> resources, Func<ResourceCapabilities, bool> has) =>
        resources is ResourceNames { Kinds: var kinds } && kinds.Values.Where(r => has(r.Capabilities)).Select(r => $"{r.Name} ({r.Type})").ToList() is { Count: > 0 } l
            ? string.Join(", ", l) : "none";

    private static RecoveryConfig ReadRecovery(YamlMap root, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources)
    {
        var serve = RecoveryConfig.Empty.Serve;
        if (root.OptMap("serve") is { } sm)
        {
            var listen = ParseEndpoint(sm, "listen", required: false) ?? serve.Listen;
            var token = ReadToken(sm);
            var path = ReadPath(sm, "events_path");
            var insecure = ReadInsecure(sm, "listen", listen, token);
            sm.EnsureNoUnknownKeys();
            serve = new ServeConfig(listen, token, path) { Insecure = insecure, ListenWhere = sm.Location("listen"), PathWhere = sm.Location("events_path") };
        }

        // Runbook names first: checks and rules refer to them.
        var runbookMap = root.OptMap("runbooks");
        var runbookNames = runbookMap?.Keys.ToHashSet(StringComparer.Ordinal) ?? [];

        var checks = new List<CheckConfig>();
        var checkNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in root.OptListOfMaps("checks"))
        {
            var check = ReadCheck(c, stores, resources, runbookNames);
            if (!checkNames.Add(check.Name)) throw c.Error("name", $"duplicate check name '{check.Name}'");
            checks.Add(check);
        }

        var rules = new List<EventRuleConfig>();
        var ruleNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in root.OptListOfMaps("rules"))
        {
            var name = RecoveryName(r, "name");
            if (!ruleNames.Add(name)) throw r.Error("name", $"duplicate rule name '{name}'");
            var pattern = ReadEventPattern(r, "event_pattern");
            var actions = ReadActions(r, "action", runbookNames, required: true);
            rules.Add(new EventRuleConfig(name, pattern, actions, r.OptDuration("hold_down") ?? TimeSpan.FromMinutes(5), Where(r)));
            r.EnsureNoUnknownKeys();
        }

        var runbooks = new Dictionary<string, RunbookConfig>(StringComparer.Ordinal);
        if (runbookMap is not null)
            foreach (var name in runbookMap.Keys.ToList())
                runbooks[name] = ReadRunbook(name, runbookMap.Map(name), stores, resources, checks);
        return new RecoveryConfig(checks, rules, runbooks, serve);
    }

    private static ConfigLocation Where(YamlMap m) => new(m.File, m.Node.Start.Line, m.Path);

    private static string RecoveryName(YamlMap m, string key)
    {
        var name = m.String(key);
        if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw m.Error(key, $"'{name}' may only contain letters, digits, '-', '_' and '.'");
        return name;
    }

    private static CheckConfig ReadCheck(YamlMap c, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources, HashSet<string> runbooks)
    {
        var name = RecoveryName(c, "name");
        var probe = ReadProbe(c, stores, resources, required: true)!;
        var interval = c.OptDuration("interval", TimeSpan.FromMilliseconds(100)) ?? TimeSpan.FromSeconds(10);
        var timeout = c.OptDuration("timeout", TimeSpan.FromMilliseconds(10)) ?? TimeSpan.FromSeconds(Math.Min(5, interval.TotalSeconds));
        if (timeout > interval) throw c.Error("timeout", $"must not be longer than the interval ({Durations.Format(interval)})");
        var threshold = ReadThreshold(c, "failure_threshold") ?? new Threshold(3, 3);
        var recovery = c.OptInt("recovery_threshold", 1, 100) ?? 2;
        var holdDown = c.OptDuration("hold_down") ?? TimeSpan.FromMinutes(5);
        var actions = ReadActions(c, "on_failure", runbooks, required: false);
        c.EnsureNoUnknownKeys();
        return new CheckConfig(name, probe, interval, timeout, threshold, recovery, holdDown, actions, Where(c));
    }

    /// <summary><c>3</c> (3 consecutive failures) or <c>3 of 5</c> (3 failures among the last 5 results).</summary>
    private static Threshold? ReadThreshold(YamlMap m, string key)
    {
        var v = m.OptString(key);
        if (v is null) return null;
        var parts = v.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 1 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 100)
            return new Threshold(n, n);
        if (parts.Length == 3 && parts[1] == "of" &&
            int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var f) &&
            int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var w) && f >= 1 && w >= f && w <= 100)
            return new Threshold(f, w);
        throw m.Error(key, $"expected a count such as 3 (consecutive failures) or 'N of M' such as '3 of 5' (N <= M <= 100), got '{v}'");
    }

    private static readonly string[] ProbeKinds = ["http", "tcp", "dns", "alarm"];

    /// <summary>Reads the one probe kind key (http, tcp, dns, alarm) of <paramref name="m"/>.</summary>
    private static ProbeSpec? ReadProbe(YamlMap m, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources, bool required)
    {
        var present = ProbeKinds.Where(m.Has).ToList();
        if (present.Count == 0)
        {
            if (!required) return null;
            throw m.Error(m.Node, m.Path, "needs a probe: one of http, tcp, dns, alarm");
        }
        if (present.Count > 1) throw m.Error(present[1], $"give one probe kind, not {string.Join(" and ", present)}");
        var where = new ConfigLocation(m.File, m.Raw(present[0])!.Start.Line, m.Join(present[0]));
        switch (present[0])
        {
            case "http":
            {
                var h = m.Map("http");
                var url = ReadHttpUrl(h, "url");
                var method = (h.OptString("method") ?? "GET").ToUpperInvariant();
                var status = h.OptInt("expect_status", 100, 599) ?? 200;
                var body = h.OptString("body_contains");
                var insecure = h.OptBool("insecure") ?? false;
                h.EnsureNoUnknownKeys();
                return new ProbeSpec(new HttpProbeSpec(url, method, status, body, insecure), null, null, null, where);
            }
            case "tcp":
            {
                string host; int port;
                if (m.Raw("tcp") is YamlScalarNode)
                {
                    var v = m.String("tcp");
                    var i = v.LastIndexOf(':');
                    if (i <= 0 || !int.TryParse(v[(i + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                        throw m.Error("tcp", $"expected HOST:PORT, got '{v}'");
                    host = v[..i].Trim('[', ']');
                }
                else
                {
                    var t = m.Map("tcp");
                    host = t.String("host");
                    port = t.OptInt("port", 1, 65535) ?? throw t.Error("port", "is required");
                    t.EnsureNoUnknownKeys();
                }
                return new ProbeSpec(null, new TcpProbeSpec(host, port), null, null, where);
            }
            case "dns":
            {
                var d = m.Map("dns");
                var name = d.String("name").TrimEnd('.');
                var type = (d.OptString("type") ?? "A").ToUpperInvariant();
                string? store = null;
                if (d.Has("store"))
                {
                    store = ReadStoreRef(d, stores);
                    if (!IsTrafficStore(stores[store])) throw d.Error("store", $"store '{store}' is of type {stores[store].Type.ToString().ToLowerInvariant()}: a dns probe asks a dns, route53 or routes store");
                }
                else if (type is not ("A" or "AAAA"))
                    throw d.Error("type", "the system resolver answers A and AAAA only; name a store: to ask an authoritative server for other types");
                var expect = d.Raw("expect") is YamlScalarNode ? [d.String("expect")] : d.OptStringList("expect");
                d.EnsureNoUnknownKeys();
                return new ProbeSpec(null, null, new DnsProbeSpec(name, type, store, expect), null, where);
            }
            default:
            {
                var a = m.Map("alarm");
                var res = a.String("resource");
                if (!resources.Contains(res))
                    throw a.Error("resource", $"unknown resource '{res}' (resources: {string.Join(", ", resources)})");
                var kind = KindOf(resources, res);
                if (kind is not null && kind.Capabilities.Figures.Count == 0)
                    throw a.Error("resource", $"'{res}' is a {kind.Type} resource, which measures no figure an alarm can read (alarms can watch: " +
                                              $"{Having(resources, c => c.Figures.Count > 0)}); watch it with an http or tcp probe, or `lifeboat status`");
                var metric = a.String("metric");
                if (metric is not ("rpo" or "lag" or "backlog" or "failed"))
                    throw a.Error("metric", $"'{metric}' is not one of rpo (measured RPO), lag (last hour's p99 lag), backlog (changes not yet durable), failed (changes that failed)");
                if (kind is not null && !kind.Capabilities.Figures.Any(f => ResourceCapabilities.Name(f) == metric))
                    throw a.Error("metric", $"a {kind.Type} resource does not measure {metric} (it measures: {string.Join(", ", kind.Capabilities.Figures.Select(ResourceCapabilities.Name))})");
                TimeSpan? above = null; double? count = null;
                var av = a.OptString("above");
                if (metric is "rpo" or "lag")
                {
                    if (av is not null && av != "rpo")
                        above = a.OptDuration("above") ?? throw a.Error("above", "expected a duration");
                }
                else
                {
                    if (av is null || !double.TryParse(av, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || x < 0 || !double.IsFinite(x))
                        throw a.Error("above", $"a {metric} alarm needs a count: above: N");
                    count = x;
                }
                a.EnsureNoUnknownKeys();
                return new ProbeSpec(null, null, null, new AlarmSpec(res, metric, above, count), where);
            }
        }
    }

    private static Uri ReadHttpUrl(YamlMap m, string key)
    {
        var v = m.String(key);
        if (!Uri.TryCreate(v, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https"))
            throw m.Error(key, $"expected an http:// or https:// URL, got '{v}'");
        if (u.Port == 0) throw m.Error(key, "port 0 is not a port: give 1-65535, or no port for the scheme's default");
        return u;
    }

    private static NotifySpec ReadNotify(YamlMap m, string key)
    {
        if (m.Raw(key) is YamlScalarNode)
            return new NotifySpec(ReadHttpUrl(m, key), null, new ConfigLocation(m.File, m.Raw(key)!.Start.Line, m.Join(key)));
        var n = m.Map(key);
        var url = ReadHttpUrl(n, n.Has("webhook") ? "webhook" : "url");
        var text = n.OptString("text");
        n.EnsureNoUnknownKeys();
        return new NotifySpec(url, text, Where(n));
    }

    private static IReadOnlyList<ActionSpec> ReadActions(YamlMap m, string key, HashSet<string> runbooks, bool required)
    {
        var node = m.Raw(key);
        if (node is null)
        {
            if (required) throw m.Error(key, "is required: { runbook: NAME, approval: auto|manual } and/or { notify: URL }");
            return [];
        }
        var maps = node is YamlSequenceNode ? m.OptListOfMaps(key) : [m.Map(key)];
        var list = new List<ActionSpec>();
        foreach (var a in maps)
        {
            string? runbook = null;
            if (a.OptString("runbook") is { } rb)
            {
                if (!runbooks.Contains(rb))
                    throw a.Error("runbook", runbooks.Count == 0 ? $"runbook '{rb}' is not defined (the config has no runbooks: section)"
                        : $"runbook '{rb}' is not defined (runbooks: {string.Join(", ", runbooks)})");
                runbook = rb;
            }
            var approval = a.OneOf("approval", new Dictionary<string, ApprovalMode> { ["auto"] = ApprovalMode.Auto, ["manual"] = ApprovalMode.Manual }, ApprovalMode.Auto);
            if (runbook is null && a.Has("approval")) throw a.Error("approval", "approval applies to a runbook: add runbook: NAME");
            var notify = a.Has("notify") ? ReadNotify(a, "notify") : null;
            if (runbook is null && notify is null) throw a.Error(a.Node, a.Path, "an action needs runbook: NAME and/or notify: URL");
            a.EnsureNoUnknownKeys();
            list.Add(new ActionSpec(runbook, approval, notify, Where(a)));
        }
        return list;
    }

    /// <summary>An event pattern written as a YAML mapping or as a JSON string; returned as JSON text.</summary>
    private static string ReadEventPattern(YamlMap m, string key)
    {
        var node = m.Raw(key) ?? throw m.Error(key, "is required (an EventBridge event pattern, as YAML or a JSON string)");
        string json;
        if (node is YamlScalarNode s)
        {
            try
            {
                using var doc = JsonDocument.Parse(s.Value ?? "");
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw m.Error(key, "an event pattern is a JSON object");
                json = doc.RootElement.GetRawText();
            }
            catch (JsonException e) { throw m.Error(key, $"not valid JSON: {e.Message}"); }
        }
        else if (node is YamlMappingNode)
        {
            var sb = new StringBuilder();
            YamlToJson(node, sb);
            json = sb.ToString();
        }
        else throw m.Error(key, "expected a mapping (the event pattern)");
        try { Events.EventPattern.Parse(json, m.Join(key)); }
        catch (ConfigException e) { throw m.Error(key, $"invalid event pattern: {e.Message}"); }
        return json;
    }

    /// <summary>YAML to JSON: plain scalars that read as numbers, booleans or null become those; quoted ones stay strings.</summary>
    internal static void YamlToJson(YamlNode node, StringBuilder sb)
    {
        switch (node)
        {
            case YamlMappingNode map:
                sb.Append('{');
                var first = true;
                foreach (var (k, v) in map.Children)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(JsonText.Quote(((YamlScalarNode)k).Value ?? "", System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping));
                    sb.Append(':');
                    YamlToJson(v, sb);
                }
                sb.Append('}');
                break;
            case YamlSequenceNode seq:
                sb.Append('[');
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    YamlToJson(seq.Children[i], sb);
                }
                sb.Append(']');
                break;
            case YamlScalarNode sc:
                var v2 = sc.Value ?? "";
                if (sc.Style == ScalarStyle.Plain)
                {
                    if (v2 is "null" or "~" or "") { sb.Append("null"); break; }
                    if (v2 is "true" or "false") { sb.Append(v2); break; }
                    if (double.TryParse(v2, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsInfinity(d) && !double.IsNaN(d))
                    { sb.Append(v2.TrimStart('+')); break; }
                }
                sb.Append(JsonText.Quote(v2, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping));
                break;
        }
    }

    private static RunbookConfig ReadRunbook(string name, YamlMap rb, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources, List<CheckConfig> checks)
    {
        if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw rb.Error(rb.Node, rb.Path, $"runbook name '{name}' may only contain letters, digits, '-', '_' and '.'");
        var description = rb.OptString("description");
        var stepMaps = rb.OptListOfMaps("steps");
        if (stepMaps.Count == 0) throw rb.Error("steps", "a runbook needs at least one step");
        rb.EnsureNoUnknownKeys();

        var steps = new List<StepConfig>();
        var byName = new Dictionary<string, (StepConfig Step, YamlMap Map)>(StringComparer.Ordinal);
        foreach (var s in stepMaps)
        {
            var step = ReadStep(s, stores, resources, checks);
            if (byName.ContainsKey(step.Name)) throw s.Error("name", $"duplicate step name '{step.Name}'");
            byName[step.Name] = (step, s);
            steps.Add(step);
        }

        // References: needs and on_failure.run.
        var handlers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (step, map) in byName.Values)
        {
            foreach (var n in step.Needs)
            {
                if (!byName.ContainsKey(n)) throw map.Error("needs", $"unknown step '{n}' (steps: {string.Join(", ", byName.Keys)})");
                if (n == step.Name) throw map.Error("needs", $"step '{n}' needs itself");
            }
            if (step.OnFailureStep is { } h)
            {
                if (!byName.ContainsKey(h)) throw map.Error("on_failure", $"unknown step '{h}' (steps: {string.Join(", ", byName.Keys)})");
                if (h == step.Name) throw map.Error("on_failure", "a step cannot be its own failure handler");
                handlers.Add(h);
            }
        }
        foreach (var h in handlers)
        {
            var (step, map) = byName[h];
            if (step.Needs.Count > 0) throw map.Error("needs", $"step '{h}' is a failure handler (on_failure: run: {h}): it runs when a step fails and cannot have needs");
            if (step.OnFailureStep is not null) throw map.Error("on_failure", $"step '{h}' is a failure handler: it cannot run another handler");
            if (steps.FirstOrDefault(s => s.Needs.Contains(h)) is { } dep)
                throw byName[dep.Name].Map.Error("needs", $"'{h}' is a failure handler (only run by on_failure), so no step can need it");
        }

        // Cycles: depth-first search; the error names the step where the cycle closes and the path.
        var state = new Dictionary<string, int>(StringComparer.Ordinal);
        var path = new List<string>();
        void Visit(string n)
        {
            state[n] = 1;
            path.Add(n);
            foreach (var d in byName[n].Step.Needs)
            {
                if (state.GetValueOrDefault(d) == 1)
                {
                    var cycle = path.Skip(path.IndexOf(d)).Append(d);
                    throw byName[n].Map.Error("needs", $"cycle: {string.Join(" -> ", cycle.Reverse())} (each step needs the next)");
                }
                if (state.GetValueOrDefault(d) == 0) Visit(d);
            }
            path.RemoveAt(path.Count - 1);
            state[n] = 2;
        }
        foreach (var s in steps) if (state.GetValueOrDefault(s.Name) == 0) Visit(s.Name);

        // Topological order, declaration order among steps ready together.
        var order = new List<string>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        var normal = steps.Where(s => !handlers.Contains(s.Name)).ToList();
        while (order.Count < normal.Count)
        {
            var next = normal.First(s => !done.Contains(s.Name) && s.Needs.All(done.Contains));
            order.Add(next.Name);
            done.Add(next.Name);
        }

        // DNS gates: by default the probe steps the switch depends on, re-run at the moment of the switch.
        for (var i = 0; i < steps.Count; i++)
        {
            if (steps[i].Spec is not DnsStepSpec d || d.Ungated || d.Gate.Count > 0) continue;
            var probes = Ancestors(steps[i].Name, byName).Select(n => byName[n].Step).Where(s => s.Spec is ProbeStepSpec)
                .Select(s => (s.Name, ((ProbeStepSpec)s.Spec).Probe)).ToList();
            if (probes.Count == 0)
                throw byName[steps[i].Name].Map.Error("dns", "a traffic switch needs a gate (the checks the target must pass at that moment): " +
                                                            "depend on a probe step (needs:), list checks under gate:, or write gate: none");
            steps[i] = steps[i] with { Spec = d with { Gate = probes } };
        }
        return new RunbookConfig(name, description, steps, order, handlers, Where(rb));
    }

    private static IEnumerable<string> Ancestors(string step, Dictionary<string, (StepConfig Step, YamlMap Map)> byName)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(byName[step].Step.Needs);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (!seen.Add(n)) continue;
            foreach (var d in byName[n].Step.Needs) stack.Push(d);
        }
        return seen;
    }

    private static StepConfig ReadStep(YamlMap s, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources, List<CheckConfig> checks)
    {
        var name = RecoveryName(s, "name");
        var kinds = s.Keys.Where(StepKinds.ContainsKey).ToList();
        if (kinds.Count == 0)
        {
            var unknown = s.Keys.FirstOrDefault(k => !StepCommonKeys.Contains(k));
            if (unknown is not null)
                throw s.Error(unknown, $"unknown step kind '{unknown}' (kinds: {string.Join(", ", StepKinds.Keys)})");
            throw s.Error(s.Node, s.Path, $"step '{name}' has no kind: give one of {string.Join(", ", StepKinds.Keys)}");
        }
        if (kinds.Count > 1) throw s.Error(kinds[1], $"a step has one kind, not {string.Join(" and ", kinds)}");
        var kind = StepKinds[kinds[0]];
        var k = kinds[0];
        StepSpec spec = kind switch
        {
            StepKind.Probe => ReadProbeStep(s, k, stores, resources, checks),
            StepKind.Exec => ReadExec(s, k),
            StepKind.Http => ReadHttpStep(s, k),
            StepKind.Dns => ReadDnsStep(s, k, stores, resources, checks),
            StepKind.Replication => ReadReplicationStep(s, k, resources),
            StepKind.Restore => ReadRestoreStep(s, k, stores, resources),
            StepKind.Approval => new ApprovalStepSpec(s.Raw(k) is YamlScalarNode ? s.OptString(k) : s.OptMap(k) is { } am ? ReadOnly(am, "message") : null),
            StepKind.Notify => new NotifyStepSpec(ReadNotify(s, k)),
            _ => new WaitStepSpec(s.Raw(k) is YamlScalarNode ? s.OptDuration(k) ?? throw s.Error(k, "expected a duration such as 30s")
                : ReadWaitMap(s.Map(k))),
        };
        var needs = s.Raw("needs") is YamlScalarNode ? [s.String("needs")] : s.OptStringList("needs");
        if (needs.Distinct(StringComparer.Ordinal).Count() != needs.Count) throw s.Error("needs", "a step is listed twice");
        var timeout = s.OptDuration("timeout", TimeSpan.FromMilliseconds(1));
        var retries = s.OptInt("retries", 0, 100) ?? 0;
        var backoff = s.OptDuration("backoff") ?? TimeSpan.FromSeconds(1);
        var mode = FailureMode.Stop;
        string? handler = null;
        if (s.Raw("on_failure") is YamlMappingNode)
        {
            var of = s.Map("on_failure");
            handler = of.String("run");
            of.EnsureNoUnknownKeys();
            mode = FailureMode.Run;
        }
        else if (s.OptString("on_failure") is { } v)
        {
            mode = v switch
            {
                "stop" => FailureMode.Stop,
                "continue" => FailureMode.Continue,
                _ => throw s.Error("on_failure", $"expected stop, continue or {{ run: STEP }}, got '{v}'"),
            };
        }
        s.EnsureNoUnknownKeys();
        return new StepConfig(name, kind, spec, needs, timeout, retries, backoff, mode, handler, Where(s));
    }

    private static string? ReadOnly(YamlMap m, string key)
    {
        var v = m.OptString(key);
        m.EnsureNoUnknownKeys();
        return v;
    }

    private static TimeSpan ReadWaitMap(YamlMap m)
    {
        var d = m.OptDuration("duration") ?? throw m.Error("duration", "is required (e.g. 30s)");
        m.EnsureNoUnknownKeys();
        return d;
    }

    private static ProbeStepSpec ReadProbeStep(YamlMap s, string k, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources, List<CheckConfig> checks)
    {
        var p = s.Map(k);
        var every = p.OptDuration("every", TimeSpan.FromMilliseconds(50)) ?? TimeSpan.FromSeconds(1);
        ProbeStepSpec spec;
        if (p.OptString("check") is { } checkName)
        {
            var check = checks.FirstOrDefault(c => c.Name == checkName)
                        ?? throw p.Error("check", checks.Count == 0 ? $"check '{checkName}' is not defined (the config has no checks: section)"
                            : $"check '{checkName}' is not defined (checks: {string.Join(", ", checks.Select(c => c.Name))})");
            if (ProbeKinds.Any(p.Has)) throw p.Error("check", "give a check name or an inline probe, not both");
            spec = new ProbeStepSpec(checkName, check.Probe, every, p.OptDuration("probe_timeout", TimeSpan.FromMilliseconds(10)) ?? check.Timeout);
        }
        else
        {
            var probe = ReadProbe(p, stores, resources, required: false)
                        ?? throw p.Error(p.Node, p.Path, "needs check: NAME or an inline probe (http, tcp, dns, alarm)");
            spec = new ProbeStepSpec(null, probe, every, p.OptDuration("probe_timeout", TimeSpan.FromMilliseconds(10)) ?? TimeSpan.FromSeconds(2));
        }
        p.EnsureNoUnknownKeys();
        return spec;
    }

    private static ExecStepSpec ReadExec(YamlMap s, string k)
    {
        if (s.Raw(k) is YamlScalarNode) return new ExecStepSpec(s.String(k), null);
        var e = s.Map(k);
        var spec = new ExecStepSpec(e.String("command"), e.OptString("cwd"));
        e.EnsureNoUnknownKeys();
        return spec;
    }

    private static HttpStepSpec ReadHttpStep(YamlMap s, string k)
    {
        var h = s.Map(k);
        var url = ReadHttpUrl(h, "url");
        var method = (h.OptString("method") ?? (h.Has("body") ? "POST" : "GET")).ToUpperInvariant();
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (h.OptMap("headers") is { } hm)
        {
            foreach (var key in hm.Keys.ToList()) headers[key] = hm.String(key);
            hm.EnsureNoUnknownKeys();
        }
        var spec = new HttpStepSpec(url, method, h.OptString("body"), h.OptString("content_type"), h.OptInt("expect_status", 100, 599), headers);
        h.EnsureNoUnknownKeys();
        return spec;
    }

    private static DnsStepSpec ReadDnsStep(YamlMap s, string k, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources, List<CheckConfig> checks)
    {
        var d = s.Map(k);
        var store = ReadStoreRef(d, stores);
        if (!IsTrafficStore(stores[store]))
            throw d.Error("store", $"store '{store}' is of type {stores[store].Type.ToString().ToLowerInvariant()}: a dns step needs a dns, route53 or routes store");
        var record = d.String("record").TrimEnd('.');
        var type = (d.OptString("type") ?? "A").ToUpperInvariant();
        if (type is not ("A" or "AAAA" or "CNAME" or "TXT"))
            throw d.Error("type", $"'{type}' is not one of A, AAAA, CNAME, TXT");
        IReadOnlyList<string> values;
        if (d.Has("value") && d.Has("values")) throw d.Error("values", "give value or values, not both");
        if (d.Has("values")) values = d.OptStringList("values");
        else values = [d.String("value")];
        if (values.Count == 0) throw d.Error("values", "give at least one value");
        foreach (var v in values)
        {
            if (type == "A" && !(IPAddress.TryParse(v, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
                throw d.Error(d.Has("value") ? "value" : "values", $"'{v}' is not an IPv4 address (type A)");
            if (type == "AAAA" && !(IPAddress.TryParse(v, out var ip6) && ip6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6))
                throw d.Error(d.Has("value") ? "value" : "values", $"'{v}' is not an IPv6 address (type AAAA)");
        }
        var ttl = d.OptInt("ttl", 0, 86400 * 7) ?? 60;
        var holdDown = d.OptDuration("hold_down") ?? TimeSpan.FromSeconds(60);
        var gate = new List<(string, ProbeSpec)>();
        var ungated = false;
        if (d.Raw("gate") is YamlScalarNode gs && gs.Value == "none") { ungated = true; d.OptString("gate"); }
        else
        {
            foreach (var g in d.Raw("gate") is YamlScalarNode ? [d.String("gate")] : d.OptStringList("gate"))
            {
                var check = checks.FirstOrDefault(c => c.Name == g)
                            ?? throw d.Error("gate", $"check '{g}' is not defined (checks: {string.Join(", ", checks.Select(c => c.Name))})");
                gate.Add((g, check.Probe));
            }
        }
        d.EnsureNoUnknownKeys();
        return new DnsStepSpec(store, record, type, values, ttl, gate, ungated, holdDown);
    }

    private static ReplicationStepSpec ReadReplicationStep(YamlMap s, string k, IReadOnlySet<string> resources)
    {
        var r = s.Map(k);
        var res = r.String("resource");
        if (!resources.Contains(res)) throw r.Error("resource", $"unknown resource '{res}' (resources: {string.Join(", ", resources)})");
        var action = r.OneOf("action", new Dictionary<string, ReplicationAction>
        {
            ["pause"] = ReplicationAction.Pause, ["resume"] = ReplicationAction.Resume, ["stop"] = ReplicationAction.Stop, ["reverse"] = ReplicationAction.Reverse,
        }, required: true);
        if (KindOf(resources, res) is { } kind && !kind.Capabilities.Actions.Contains(action))
            throw r.Error("action", $"'{res}' is a {kind.Type} resource: its protection can be {string.Join(", ", kind.Capabilities.Actions.Select(Past))}, " +
                                    $"not {Past(action)}");
        r.EnsureNoUnknownKeys();
        return new ReplicationStepSpec(res, action);
    }

    /// <summary>The keys of a <c>restore:</c> step besides <c>resource</c>; each kind declares the ones it takes.</summary>
    private static readonly string[] RestoreStepKeys = ["prefix", "to_store", "to_bucket", "to_table", "overwrite", "point_in_time", "exact", "target_dir", "port"];

    private static RestoreStepSpec ReadRestoreStep(YamlMap s, string k, Dictionary<string, StoreConfig> stores, IReadOnlySet<string> resources)
    {
        var r = s.Map(k);
        var res = r.String("resource");
        if (!resources.Contains(res)) throw r.Error("resource", $"unknown resource '{res}' (resources: {string.Join(", ", resources)})");
        string? toStore = null;
        if (r.Has("to_store")) { toStore = r.String("to_store"); if (!stores.ContainsKey(toStore)) throw r.Error("to_store", $"store '{toStore}' is not defined (stores: {string.Join(", ", stores.Keys)})"); }
        var spec = new RestoreStepSpec(res, r.OptString("prefix"), toStore, r.OptString("to_bucket"), r.OptString("to_table"), r.OptBool("overwrite") ?? false, r.OptString("point_in_time"))
        {
            Exact = r.OptBool("exact") ?? false,
            // postgres resources: a point-in-time restore into a new data directory (relative to the config file),
            // started on `port` when given.
            TargetDir = r.OptString("target_dir") is { } dir ? System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(r.File)) ?? ".", dir)) : null,
            Port = r.OptInt("port", 1, 65535),
        };
        if (spec.PointInTime is { } pit && pit != "latest" && !DateTimeOffset.TryParse(pit, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out _))
            throw r.Error("point_in_time", $"expected 'latest' or a time like 2026-11-22T03:00:00Z, got '{pit}'");
        if (KindOf(resources, res) is { } kind)
        {
            // What the kind can restore, and with which keys, is checked here (its capabilities), so a failover never
            // finds out half-way (ADR 0010).
            var caps = kind.Capabilities;
            if (!caps.Restore)
                throw r.Error("resource", $"'{res}' is a {kind.Type} resource, which a restore step cannot restore (restorable: {Having(resources, c => c.Restore)})");
            foreach (var key in RestoreStepKeys)
                if (r.Has(key) && !caps.RestoreKeys.Contains(key))
                    throw r.Error(key, $"'{res}' is a {kind.Type} resource: {key} is for {(Having(resources, c => c.Restore && c.RestoreKeys.Contains(key)) is var h && h == "none" ? "other kinds (no resource of this config takes it)" : h)}" +
                                       (key is "point_in_time" or "exact" && kind.Type is "bucket" or "table" ? " (give the resource history: to restore it to a point in time)" : ""));
            if (caps.RestoreRequired.Where(k => !r.Has(k)).ToList() is { Count: > 0 } missing)
                throw r.Error(missing.Count == caps.RestoreRequired.Count ? "resource" : missing[0],
                    $"'{res}' is a {kind.Type} resource: its restore step needs {string.Join(" and ", caps.RestoreRequired)}" +
                    (caps.RestoreRequired.Contains("point_in_time") ? " (its restore is point in time: a time or 'latest')" : ""));
        }
        r.EnsureNoUnknownKeys();
        return spec;
    }
}
