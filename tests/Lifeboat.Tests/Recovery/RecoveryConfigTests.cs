using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Xunit;

namespace Lifeboat.Tests.Recovery;

public sealed class RecoveryConfigTests
{
    // The issue's example, with a local routing file instead of the RFC 2136 zone (that store type comes with the DNS client).
    private const string Example = """
        stores:
          zone: { type: routes, path: routing.json }
          primary: { type: file, path: primary }
          recovery: { type: file, path: recovery }
        resources:
          - name: photos
            source: { store: primary, bucket: photos }
            target: { store: recovery, bucket: photos-dr }
        checks:
          - name: primary-app
            http: { url: http://127.0.0.1:8081/health, expect_status: 200 }
            interval: 2s
            timeout: 1s
            failure_threshold: 3
            on_failure: { runbook: failover-app, approval: auto }
        runbooks:
          failover-app:
            steps:
              - name: recovery-healthy
                probe: { http: { url: http://127.0.0.1:8082/health } }
              - name: switch
                needs: [recovery-healthy]
                dns: { store: zone, record: app.example.internal, type: A, value: 127.0.0.2, ttl: 5 }
        """;

    [Fact]
    public void IssueExample_Loads()
    {
        var cfg = Configs.Parse("/etc/lb/c.yaml", Example);
        var c = Assert.Single(cfg.Recovery.Checks);
        Assert.Equal(new Threshold(3, 3), c.Threshold);
        Assert.Equal(TimeSpan.FromSeconds(2), c.Interval);
        Assert.Equal("failover-app", c.OnFailure[0].Runbook);
        var rb = cfg.Recovery.Runbooks["failover-app"];
        Assert.Equal(["recovery-healthy", "switch"], rb.Order);
        var dns = Assert.IsType<DnsStepSpec>(rb.Step("switch").Spec);
        Assert.Equal("recovery-healthy", Assert.Single(dns.Gate).Name); // the gate defaults to the probe steps it needs
        Assert.Equal(5, dns.Ttl);
        Assert.Equal("127.0.0.1:8095", cfg.Recovery.Serve.Listen.ToString());
    }

    [Fact]
    public void NOfM_Threshold()
    {
        var cfg = Configs.Parse("c.yaml", Example.Replace("failure_threshold: 3", "failure_threshold: 3 of 5"));
        Assert.Equal(new Threshold(3, 5), cfg.Recovery.Checks[0].Threshold);
    }

    private static ConfigException Bad(string text) => Assert.Throws<ConfigException>(() => Configs.Parse("bad.yaml", text));

    [Fact]
    public void Cycle_IsRejectedWithLineAndKey()
    {
        var e = Bad(Example.Replace("""
                  - name: recovery-healthy
                    probe: { http: { url: http://127.0.0.1:8082/health } }
            """, """
                  - name: recovery-healthy
                    needs: [switch]
                    probe: { http: { url: http://127.0.0.1:8082/health } }
            """));
        Assert.Contains("cycle", e.Message);
        Assert.Contains("runbooks.failover-app.steps[", e.Key);
        Assert.EndsWith(".needs", e.Key);
        Assert.StartsWith("bad.yaml:", e.Message);
        Assert.Equal(23, e.Line);
    }

    [Theory]
    [InlineData("needs: [recovery-healthy]", "needs: [recovery-healty]", 22, "steps[1].needs", "unknown step 'recovery-healty'")]
    [InlineData("dns: { store: zone,", "dnz: { store: zone,", 23, "steps[1].dnz", "unknown step kind 'dnz'")]
    [InlineData("dns: { store: zone,", "dns: { store: primary,", 23, "steps[1].dns.store", "needs a dns, route53 or routes store")]
    [InlineData("on_failure: { runbook: failover-app", "on_failure: { runbook: failover", 15, "checks[0].on_failure.runbook", "runbook 'failover' is not defined")]
    [InlineData("failure_threshold: 3", "failure_threshold: 5 of 3", 14, "checks[0].failure_threshold", "'N of M'")]
    [InlineData("value: 127.0.0.2", "value: not-an-ip", 23, "steps[1].dns.value", "not an IPv4 address")]
    [InlineData("timeout: 1s", "timeout: 5s", 13, "checks[0].timeout", "longer than the interval")]
    public void BadRecoveryConfig_NamesLineAndKey(string replace, string with, int line, string keyEnd, string message)
    {
        var e = Bad(Example.Replace(replace, with));
        Assert.Contains(message, e.Message);
        Assert.EndsWith(keyEnd, e.Key);
        Assert.Equal(line, e.Line);
    }

    [Fact]
    public void UnknownResource_InReplicationStep_IsRejected()
    {
        var e = Bad(Example + "\n      - name: pause\n        replication: { resource: fotos, action: pause }\n");
        Assert.Contains("unknown resource 'fotos'", e.Message);
        Assert.EndsWith("replication.resource", e.Key);
    }

    [Fact]
    public void PointInTimeRestoreStep_NeedsATimeAndATargetDir_RelativeToTheConfig()
    {
        var step = "\n      - name: db\n        restore: { resource: db, point_in_time: latest, target_dir: restored/db, port: 15499 }\n";
        var example = Example.Replace("checks:", OtherKinds + "\nchecks:");
        var ok = Configs.Parse("/etc/lb/c.yaml", example + step);
        var spec = Assert.IsType<RestoreStepSpec>(ok.Recovery.Runbooks["failover-app"].Step("db").Spec);
        Assert.Equal("/etc/lb/restored/db", spec.TargetDir);
        Assert.Equal(15499, spec.Port);
        var e = Bad(example + step.Replace(", target_dir: restored/db", ""));
        Assert.Contains("its restore step needs point_in_time and target_dir", e.Message);
        e = Bad(example + step.Replace("latest", "yesterday"));
        Assert.EndsWith("restore.point_in_time", e.Key);
    }

    [Fact]
    public void DnsStep_WithoutAnyGate_IsRejected()
    {
        var e = Bad(Example.Replace("        needs: [recovery-healthy]\n", ""));
        Assert.Contains("gate", e.Message);
        var ok = Configs.Parse("c.yaml", Example.Replace("        needs: [recovery-healthy]\n", "").Replace("ttl: 5 }", "ttl: 5, gate: none }"));
        Assert.True(((DnsStepSpec)ok.Recovery.Runbooks["failover-app"].Step("switch").Spec).Ungated);
    }

    [Fact]
    public void MalformedEventPattern_IsRejected()
    {
        var e = Bad(Example + "\nrules:\n  - name: health\n    event_pattern: '{\"source\": [\"aws.health\"'\n    action: { runbook: failover-app }\n");
        Assert.Contains("not valid JSON", e.Message);
        Assert.EndsWith("rules[0].event_pattern", e.Key);
    }

    [Fact]
    public void InvalidEventPattern_IsRejectedAtTheRule()
    {
        var e = Bad(Example + "\nrules:\n  - name: health\n    event_pattern: { source: aws.health }\n    action: { runbook: failover-app }\n");
        Assert.Contains("invalid event pattern", e.Message);
        Assert.EndsWith("rules[0].event_pattern", e.Key);
        Assert.Equal(26, e.Line);
    }

    [Fact]
    public void EventPattern_AsYaml_BecomesJson()
    {
        var cfg = Configs.Parse("c.yaml", Example + """

            rules:
              - name: s3-errors
                event_pattern:
                  source: [aws.health]
                  detail: { service: [S3], eventTypeCategory: [issue], count: [{ numeric: [">", 5] }] }
                action: { runbook: failover-app, approval: manual }
            """);
        var r = Assert.Single(cfg.Recovery.Rules);
        Assert.Equal("""{"source":["aws.health"],"detail":{"service":["S3"],"eventTypeCategory":["issue"],"count":[{"numeric":[">",5]}]}}""", r.PatternJson);
        Assert.Equal(ApprovalMode.Manual, r.Actions[0].Approval);
    }

    [Fact]
    public void OnFailureHandler_IsNotInTheNormalOrder()
    {
        var cfg = Configs.Parse("c.yaml", Example.Replace("ttl: 5 }", "ttl: 5 }\n        on_failure: { run: rollback }") +
                                               "\n      - name: rollback\n        exec: echo rollback\n");
        var rb = cfg.Recovery.Runbooks["failover-app"];
        Assert.Equal(["recovery-healthy", "switch"], rb.Order);
        Assert.Contains("rollback", rb.Handlers);
    }

    [Theory]
    [InlineData("rpo")]
    [InlineData("lag")]
    [InlineData("backlog")]
    public void Alarm_OnAResourceKindWithoutMeasurements_IsALocatedError(string metric)
    {
        // Alarms read the journal's measurements, which bucket and table resources have; a postgres or rds resource has
        // none, so its alarm could never see a figure (it never fires, or never passes): rejected where it is written.
        var extra = OtherKinds;
        var above = metric is "backlog" ? ", above: 10" : "";
        foreach (var (res, kind) in new[] { ("db", "postgres"), ("billing-rds", "rds") })
        {
            var text = Example.Replace("checks:", extra + "\nchecks:").Replace("http: { url: http://127.0.0.1:8081/health, expect_status: 200 }",
                $"alarm: {{ resource: {res}, metric: {metric}{above} }}");
            var e = Bad(text);
            Assert.Contains($"'{res}' is a {kind} resource", e.Message);
            Assert.EndsWith("checks[0].alarm.resource", e.Key);
            Assert.Equal(22, e.Line); // the alarm line of the check
            // In a runbook's inline probe too.
            e = Bad(Example.Replace("checks:", extra + "\nchecks:") + $"\n      - name: db-ok\n        probe: {{ alarm: {{ resource: {res}, metric: {metric}{above} }} }}\n");
            Assert.Contains($"'{res}' is a {kind} resource", e.Message);
            Assert.EndsWith("probe.alarm.resource", e.Key);
        }
        // Buckets (and tables) are measured: accepted.
        Assert.NotNull(Configs.Parse("c.yaml", Example.Replace("http: { url: http://127.0.0.1:8081/health, expect_status: 200 }",
            $"alarm: {{ resource: photos, metric: {metric}{above} }}")));
    }

    private const string OtherKinds = """
          - name: db
            type: postgres
            connection: { host: 127.0.0.1, port: 5432, user: lifeboat, database: postgres }
            target: { store: recovery, bucket: db-backups, prefix: db/ }
          - name: billing-rds
            type: rds
            instance: billing-prod
            source_region: us-east-1
            target_region: us-west-2
            schedule: "0 */6 * * *"
            keep: 3
        """;

    /// <summary>A runbook step asks a kind only for what it declares (ADR 0010): what it cannot do is refused by
    /// validate at the step's file:line:key. A <c>replication: reverse</c> on a postgres resource used to be accepted and
    /// then waited 30 minutes for an acknowledgement nobody gives; a restore of an rds resource failed only during the
    /// failover.</summary>
    [Theory]
    [InlineData("replication: { resource: db, action: reverse }", "steps[2].replication.action", "'db' is a postgres resource: its protection can be paused, resumed, stopped, not reversed")]
    [InlineData("replication: { resource: billing-rds, action: reverse }", "steps[2].replication.action", "'billing-rds' is a rds resource: its protection can be paused, resumed, stopped, not reversed")]
    [InlineData("restore: { resource: billing-rds }", "steps[2].restore.resource", "'billing-rds' is a rds resource, which a restore step cannot restore (restorable: photos (bucket), db (postgres))")]
    [InlineData("restore: { resource: db }", "steps[2].restore.resource", "its restore step needs point_in_time and target_dir (its restore is point in time")]
    [InlineData("restore: { resource: photos, point_in_time: latest, target_dir: x }", "steps[2].restore.point_in_time", "point_in_time is for db (postgres) (give the resource history: to restore it to a point in time)")]
    [InlineData("restore: { resource: db, point_in_time: latest, target_dir: x, to_bucket: b }", "steps[2].restore.to_bucket", "to_bucket is for photos (bucket)")]
    [InlineData("restore: { resource: photos, to_table: t }", "steps[2].restore.to_table", "to_table is for other kinds (no resource of this config takes it)")]
    public void RunbookStep_AskingAKindForWhatItCannotDo_IsALocatedError(string step, string key, string message)
    {
        var text = Example.Replace("checks:", OtherKinds + "\nchecks:") + $"\n      - name: extra\n        {step}\n";
        var e = Bad(text);
        Assert.Contains(message, e.Message);
        Assert.EndsWith(key, e.Key);
        Assert.Equal(text.Split('\n').Length - 1, e.Line); // the step's line
    }

    [Theory]
    [InlineData("replication: { resource: db, action: stop }")]
    [InlineData("replication: { resource: db, action: pause }")]
    [InlineData("replication: { resource: billing-rds, action: stop }")]
    [InlineData("replication: { resource: billing-rds, action: resume }")]
    [InlineData("replication: { resource: photos, action: reverse }")]
    [InlineData("restore: { resource: db, point_in_time: latest, target_dir: restored }")]
    [InlineData("restore: { resource: photos, prefix: a/ }")]
    public void RunbookStep_TheKindCanDo_IsAccepted(string step)
    {
        var cfg = Configs.Parse("c.yaml", Example.Replace("checks:", OtherKinds + "\nchecks:") + $"\n      - name: extra\n        {step}\n");
        Assert.Equal(3, cfg.Recovery.Runbooks["failover-app"].Order.Count);
        Assert.Equal(["photos", "db", "billing-rds"], cfg.All.Select(r => r.Name));
        Assert.Equal(["bucket", "postgres", "rds"], cfg.All.Select(r => r.Type));
    }
}
