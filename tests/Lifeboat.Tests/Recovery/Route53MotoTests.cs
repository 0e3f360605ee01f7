using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Route53;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Recovery;

/// <summary>
/// Route 53 through moto, an independent implementation of AWS's API: the record store works against it, and the
/// errors Route 53 answers (NoSuchHostedZone, InvalidChangeBatch) fail the runbook step that met them: retries and
/// on_failure apply, the execution ends failed with the error on its timeline, and the next failover starts anew.
/// </summary>
public sealed class Route53MotoTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Creates a hosted zone in moto (which checks no signatures) and returns its id.</summary>
    private static async Task<string> CreateZoneAsync(string name)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, MotoServer.Instance.Endpoint + "/2013-04-01/hostedzone")
        {
            Content = new StringContent($"""<?xml version="1.0"?><CreateHostedZoneRequest xmlns="{Route53Client.Ns}"><Name>{name}</Name><CallerReference>{Guid.NewGuid():N}</CallerReference></CreateHostedZoneRequest>""",
                Encoding.UTF8, "application/xml"),
        };
        req.Headers.TryAddWithoutValidation("Authorization", "AWS4-HMAC-SHA256 Credential=lifeboat/20261203/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=0");
        using var resp = await Http.SendAsync(req);
        var body = await resp.Content.ReadAsStringAsync();
        Assert.True(resp.IsSuccessStatusCode, body);
        return Regex.Match(body, "<Id>/hostedzone/([A-Z0-9]+)</Id>").Groups[1].Value;
    }

    private static StoreConfig Store(string zoneId)
    {
        var (ak, sk) = MotoServer.Instance.CredentialEnv();
        return new StoreConfig("zone", StoreType.Route53, new ConfigLocation("test", 1, "stores.zone"), Endpoint: MotoServer.Instance.Endpoint,
            Region: "us-east-1", AccessKeyEnv: ak, SecretKeyEnv: sk) { HostedZoneId = zoneId, ChangeTimeout = TimeSpan.FromSeconds(30) };
    }

    [Fact]
    public async Task RecordStore_SetsAndReadsARecord()
    {
        var zoneName = $"z{Guid.NewGuid():N}"[..12] + ".example.";
        var zone = await CreateZoneAsync(zoneName);
        using var store = Route53RecordStore.ForStore(Store(zone), TimeProvider.System);
        await store.SetAsync(new DnsRecordSet("app." + zoneName, "A", ["10.0.0.7"], 30), CancellationToken.None);
        var got = await store.GetAsync("app." + zoneName, "A", CancellationToken.None);
        Assert.NotNull(got);
        Assert.Equal(["10.0.0.7"], got.Values);
        Assert.Equal(30, got.Ttl);
    }

    [Fact]
    public async Task RecordStore_UnknownZoneAndRefusedBatch_AreNamedAwsErrors()
    {
        using var missing = Route53RecordStore.ForStore(Store("ZNOSUCHZONE0001"), TimeProvider.System);
        var e = await Assert.ThrowsAsync<AwsServiceException>(() => missing.SetAsync(new DnsRecordSet("a.example.", "A", ["10.0.0.1"], 5), CancellationToken.None));
        Assert.Equal("NoSuchHostedZone", e.Code);
        Assert.False(e.Transient);
        var zoneName = $"z{Guid.NewGuid():N}"[..12] + ".example.";
        using var store = Route53RecordStore.ForStore(Store(await CreateZoneAsync(zoneName)), TimeProvider.System);
        var refused = await Assert.ThrowsAsync<AwsServiceException>(() => store.SetAsync(new DnsRecordSet("app.elsewhere.example.", "A", ["10.0.0.1"], 5), CancellationToken.None));
        Assert.Equal("InvalidChangeBatch", refused.Code);
        Assert.Contains("not permitted", refused.Message);
    }

    [Fact]
    public async Task FailoverCli_Route53Errors_FailTheStep_RetriesAndOnFailureApply_ExecutionEndsFailed()
    {
        using var dir = new TempDir();
        var zoneName = $"z{Guid.NewGuid():N}"[..12] + ".example";
        var zone = await CreateZoneAsync(zoneName + ".");
        var (ak, sk) = MotoServer.Instance.CredentialEnv();
        var env = new Dictionary<string, string?> { [ak] = MotoServer.Instance.AccessKey, [sk] = MotoServer.Instance.SecretKey };
        var cfg = dir.File("lifeboat.yaml", $$"""
            state: state.db
            stores:
              missing: { type: route53, hosted_zone_id: ZNOSUCHZONE0001, endpoint: {{MotoServer.Instance.Endpoint}}, access_key_env: {{ak}}, secret_key_env: {{sk}} }
              zone:    { type: route53, hosted_zone_id: {{zone}}, endpoint: {{MotoServer.Instance.Endpoint}}, access_key_env: {{ak}}, secret_key_env: {{sk}} }
            runbooks:
              unknown-zone:
                steps:
                  - name: switch
                    dns: { store: missing, record: app.{{zoneName}}, type: A, value: 10.0.0.2, ttl: 5, gate: none }
                    retries: 1
                    backoff: 10ms
                    on_failure: { run: page }
                  - name: after
                    needs: [switch]
                    exec: { command: "echo must-not-run > after.txt" }
                  - name: page
                    exec: { command: "echo paged > paged.txt" }
              refused-batch:
                steps:
                  - name: switch
                    dns: { store: zone, record: app.elsewhere.example, type: A, value: 10.0.0.2, ttl: 5, gate: none }
            """);

        var (code, output) = LifeboatCli.Run(dir.Path, env, "failover", "-c", cfg, "--runbook", "unknown-zone", "--yes");
        Assert.True(code == 1, $"exit {code}: {output}");
        Assert.Contains("NoSuchHostedZone", output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "paged.txt")), "on_failure's handler did not run:\n" + output);
        Assert.False(File.Exists(Path.Combine(dir.Path, "after.txt")), "a step that needs the failed one ran:\n" + output);

        var (jc, json) = LifeboatCli.Run(dir.Path, env, "executions", "-c", cfg, "--json");
        Assert.True(jc == 0, json);
        using (var doc = JsonDocument.Parse(json))
        {
            var exec = doc.RootElement.EnumerateArray().Single();
            Assert.Equal("failed", exec.GetProperty("status").GetString());
        }
        var (rc, report) = LifeboatCli.Run(dir.Path, env, "report", "1", "-c", cfg);
        Assert.True(rc is 0 or 1, report);
        Assert.Contains("attempt 1 failed", report);
        Assert.Contains("NoSuchHostedZone", report);

        // Nothing is left running: the next failover starts a new execution instead of resuming into the same error.
        var (code2, output2) = LifeboatCli.Run(dir.Path, env, "failover", "-c", cfg, "--runbook", "unknown-zone", "--yes");
        Assert.True(code2 == 1, output2);
        Assert.DoesNotContain("resuming", output2);
        Assert.Contains("execution 2", output2);

        var (code3, output3) = LifeboatCli.Run(dir.Path, env, "failover", "-c", cfg, "--runbook", "refused-batch", "--yes");
        Assert.True(code3 == 1, output3);
        Assert.Contains("InvalidChangeBatch", output3);
        var (_, json3) = LifeboatCli.Run(dir.Path, env, "executions", "-c", cfg, "--json");
        using var doc3 = JsonDocument.Parse(json3);
        Assert.All(doc3.RootElement.EnumerateArray(), e => Assert.Equal("failed", e.GetProperty("status").GetString()));
    }
}
