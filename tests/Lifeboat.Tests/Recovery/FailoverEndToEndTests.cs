using System.Globalization;
using System.Text;
using System.Text.Json;
using Lifeboat.Abstractions;
using Lifeboat.Providers.S3;
using Lifeboat.Recovery;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Recovery;

/// <summary>
/// The whole loop on real parts: two HTTP services stand for the application in the primary and recovery regions,
/// a real BIND 9 serves the zone (RFC 2136 + TSIG), Ceph RGW holds the replicated bucket, and `lifeboat serve`
/// (a separate process) replicates, probes and runs the runbook. The primary stops; DNS (asked with dig) must answer
/// the recovery address, replication must run reversed (a write in the recovery bucket reaches the primary bucket),
/// the report must show each phase. Then `lifeboat failback` lists what was written during the outage, re-syncs it,
/// verifies, switches back and resumes forward replication.
/// </summary>
public sealed class FailoverEndToEndTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private static async Task PutTextAsync(IObjectStore s, string bucket, string key, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await s.PutAsync(bucket, key, new MemoryStream(bytes), bytes.Length,
            new ObjectMetadata("text/plain", null, null, new Dictionary<string, string>(), new Dictionary<string, string>()),
            new PartLayout(long.MaxValue, 8 << 20), CancellationToken.None);
    }

    [Fact]
    public async Task PrimaryStops_ServeSwitchesDnsAndReversesReplication_ThenFailback()
    {
        var bind = BindServer.Instance;
        var rgw = RgwServer.Instance;
        using var dir = new TempDir();
        await using var s3 = rgw.CreateStore();
        var src = RgwServer.NewBucketName("e2e-primary");
        var dst = RgwServer.NewBucketName("e2e-recovery");
        await s3.CreateBucketAsync(src, CancellationToken.None);
        await s3.CreateBucketAsync(dst, CancellationToken.None);
        await PutTextAsync(s3, src, "orders/1.json", "{\"order\":1}");

        using var primary = new RecordingHttpServer(name: "primary");
        using var recovery = new RecordingHttpServer(name: "recovery");
        var record = BindServer.NewName("app") + "." + bind.Zone;
        var servePort = RecordingHttpServer.FreePort();
        var env = new Dictionary<string, string?> { ["LIFEBOAT_TEST_AK"] = rgw.AccessKey, ["LIFEBOAT_TEST_SK"] = rgw.SecretKey };
        var cfg = dir.File("lifeboat.yaml", $"""
            state: state.db
            stores:
              primary:  {'{'} type: s3, endpoint: {rgw.Endpoint}, force_path_style: true, access_key_env: LIFEBOAT_TEST_AK, secret_key_env: LIFEBOAT_TEST_SK {'}'}
              recovery: {'{'} type: s3, endpoint: {rgw.Endpoint}, force_path_style: true, access_key_env: LIFEBOAT_TEST_AK, secret_key_env: LIFEBOAT_TEST_SK {'}'}
              zone:     {'{'} type: dns, server: {bind.Server}, zone: {bind.Zone}, tsig_key_file: {bind.KeyFile} {'}'}
            resources:
              - name: orders
                source: {'{'} store: primary, bucket: {src} {'}'}
                target: {'{'} store: recovery, bucket: {dst} {'}'}
                reconcile_every: 1s
            serve: {'{'} listen: 127.0.0.1:{servePort}, token: s3cret {'}'}
            checks:
              - name: primary-app
                http: {'{'} url: {primary.Url}health, expect_status: 200 {'}'}
                interval: 1s
                timeout: 1s
                failure_threshold: 3
                on_failure: {'{'} runbook: failover-app, approval: auto {'}'}
              - name: recovery-app
                http: {'{'} url: {recovery.Url}health {'}'}
                interval: 2s
                timeout: 1s
            rules:
              - name: s3-errors
                event_pattern: {'{'} source: [aws.health], detail: {'{'} service: [S3], eventTypeCategory: [issue] {'}'} {'}'}
                action: {'{'} runbook: failover-app, approval: manual {'}'}
            runbooks:
              failover-app:
                steps:
                  - name: recovery-healthy
                    probe: {'{'} check: recovery-app {'}'}
                    timeout: 20s
                  - name: reverse-replication
                    needs: [recovery-healthy]
                    replication: {'{'} resource: orders, action: reverse {'}'}
                    timeout: 30s
                  - name: switch
                    needs: [reverse-replication]
                    dns: {'{'} store: zone, record: {record}, type: A, value: 127.0.0.2, ttl: 5, hold_down: 1s {'}'}
                  - name: verify
                    needs: [switch]
                    probe: {'{'} http: {'{'} url: {recovery.Url}health, body_contains: recovery {'}'} {'}'}
              failback-app:
                steps:
                  - name: primary-healthy
                    probe: {'{'} check: primary-app {'}'}
                    timeout: 20s
                  - name: switch-back
                    needs: [primary-healthy]
                    dns: {'{'} store: zone, record: {record}, type: A, value: 127.0.0.1, ttl: 5, hold_down: 0s {'}'}
            """);
        // The primary's probe allows 1 s (its interval): a healthy primary on a busy machine is not taken for a failing one.
        // No hold-down on the way back: this test fails back as soon as the failover is done, which the ahead-of-time
        // compiled CLI does within a second of the switch, and a hold-down would rightly refuse that (it has its own
        // test: RunbookEngineTests.DnsHoldDown_RefusesASecondChangeTooSoon).
        var (vc, vout) = LifeboatCli.Run(dir.Path, env, "validate", "-c", cfg);
        Assert.True(vc == 0, vout);

        // The record points at the primary before the outage.
        var zone = Providers.Dns.DnsStores.Create(Hosting.Configs.Load(cfg).Stores["zone"], TimeProvider.System);
        await zone.SetAsync(new Core.Traffic.DnsRecordSet(record, "A", ["127.0.0.1"], 5), CancellationToken.None);
        Assert.Equal(["127.0.0.1"], bind.Dig(record, "A"));

        var output = new StringBuilder();
        var serve = LifeboatCli.Start(dir.Path, env, output, "serve", "-c", cfg);
        var api = $"http://127.0.0.1:{servePort}";
        try
        {
            // Forward replication runs.
            await Eventually.TrueAsync(async () => await s3.HeadAsync(dst, "orders/1.json", CancellationToken.None) is not null,
                TimeSpan.FromSeconds(60), "forward replication copies orders/1.json\n" + output);

            // State-changing requests need the token; an event matching no rule is recorded.
            using (var noToken = await Http.PostAsync($"{api}/events", new StringContent("{\"source\":\"other\"}")))
                Assert.Equal(401, (int)noToken.StatusCode);
            using (var inQuery = await Http.PostAsync($"{api}/api/failover?runbook=failover-app&token=s3cret", null))
                Assert.Equal(401, (int)inQuery.StatusCode); // tokens only in headers, never in the URL
            using (var req = new HttpRequestMessage(HttpMethod.Post, $"{api}/events") { Content = new StringContent("{\"source\":\"aws.ec2\",\"detail\":{}}") })
            {
                req.Headers.TryAddWithoutValidation("Authorization", "bearer s3cret"); // the scheme in any case
                using var resp = await Http.SendAsync(req);
                var body = await resp.Content.ReadAsStringAsync();
                Assert.True(resp.IsSuccessStatusCode, body);
                Assert.Contains("\"matched\": []", body);
            }

            // The outage.
            var stopped = DateTimeOffset.UtcNow;
            primary.Stop();
            await Eventually.TrueAsync(() => bind.Dig(record, "A").SequenceEqual(["127.0.0.2"]), TimeSpan.FromSeconds(60),
                "BIND answers the recovery address\n" + output);
            var switchedAfter = DateTimeOffset.UtcNow - stopped;

            using var status = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/status"));
            Assert.Equal("reversed", status.RootElement.GetProperty("replication")[0].GetProperty("mode").GetString());
            Assert.True(status.RootElement.GetProperty("checks")[0].GetProperty("failing").GetBoolean());

            // Reversed: a write in the recovery region reaches the primary bucket.
            await PutTextAsync(s3, dst, "orders/during-outage-1.json", "{\"order\":2}");
            await Eventually.TrueAsync(async () => await s3.HeadAsync(src, "orders/during-outage-1.json", CancellationToken.None) is not null,
                TimeSpan.FromSeconds(60), "reverse replication copies the outage write to the primary\n" + output);

            // The report shows each phase.
            using var list = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/executions"));
            var id = list.RootElement[0].GetProperty("id").GetInt64();
            await Eventually.TrueAsync(async () =>
            {
                using var e = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/executions/{id}"));
                return e.RootElement.GetProperty("execution").GetProperty("status").GetString() == ExecutionStore.Succeeded;
            }, TimeSpan.FromSeconds(30), "the execution succeeds\n" + output);
            var (rc, report) = LifeboatCli.Run(dir.Path, env, "report", id.ToString(CultureInfo.InvariantCulture), "-c", cfg);
            Assert.True(rc == 0, report);
            foreach (var phase in new[] { "FAULT", "DETECTED", "DECISION", "step start", "step end", "TRAFFIC SWITCHED", "SERVICE VERIFIED", "RTO (measured)" })
                Assert.Contains(phase, report);
            Assert.Contains("check:primary-app", report);
            // The same as JSON: the report and the list of executions (the CLI's own serialisation, which the release
            // package compiles ahead of time).
            var (jc, jreport) = LifeboatCli.Run(dir.Path, env, "report", id.ToString(CultureInfo.InvariantCulture), "-c", cfg, "--json");
            Assert.True(jc == 0, jreport);
            using (var j = JsonDocument.Parse(jreport))
            {
                Assert.Equal(id, j.RootElement.GetProperty("execution").GetProperty("id").GetInt64());
                Assert.Equal(ExecutionStore.Succeeded, j.RootElement.GetProperty("execution").GetProperty("status").GetString());
                Assert.True(j.RootElement.GetProperty("rto").GetProperty("total_ms").GetInt64() > 0, jreport);
                Assert.True(j.RootElement.GetProperty("timeline").GetArrayLength() > 0, jreport);
            }
            var (ec, execs) = LifeboatCli.Run(dir.Path, env, "executions", "-c", cfg, "--json");
            Assert.True(ec == 0, execs);
            using (var j = JsonDocument.Parse(execs))
            {
                Assert.Equal(id, j.RootElement[0].GetProperty("id").GetInt64());
                Assert.Equal(ExecutionStore.Succeeded, j.RootElement[0].GetProperty("status").GetString());
                Assert.True(j.RootElement[0].GetProperty("rto_seconds").GetDouble() > 0, execs);
            }
            var rep = Reports.Build(new ExecutionStore(Path.Combine(dir.Path, "state.db")), id);
            Assert.True(rep.Rto.TotalMs > 0 && rep.Rto.TotalMs < switchedAfter.TotalMilliseconds + 5000, $"RTO {rep.Rto.TotalMs} ms, switch seen after {switchedAfter}");
            Assert.True(rep.Rto.DetectionMs >= 1900, "3 failures 1 s apart: detection takes at least ~2 s"); // the first failure and the third are 2 s apart
        }
        finally
        {
            serve.Kill(entireProcessTree: false);
            await serve.WaitForExitAsync();
        }

        // Written while nothing replicates: failback must find and copy it.
        await PutTextAsync(s3, dst, "orders/during-outage-2.json", "{\"order\":3}");
        using var primaryAgain = new RecordingHttpServer(port: primary.Port, name: "primary");
        var (fc, fout) = LifeboatCli.Run(dir.Path, env, "failback", "-c", cfg, "--yes");
        Assert.True(fc == 0, fout);
        Assert.Contains("1 objects written or changed in the recovery region during the outage", fout);
        Assert.Contains("orders/during-outage-2.json", fout);
        Assert.Contains("verify: OK", fout);
        Assert.Contains("orders: forward replication resumed", fout);
        Assert.Equal(["127.0.0.1"], bind.Dig(record, "A"));
        Assert.NotNull(await s3.HeadAsync(src, "orders/during-outage-2.json", CancellationToken.None));
        using var st = new Core.State.StateStore(Path.Combine(dir.Path, "state.db"));
        Assert.Equal(Core.Replication.ReplicationMode.Forward, Core.Replication.ReplicationControl.Get(st, "orders"));
    }
}
