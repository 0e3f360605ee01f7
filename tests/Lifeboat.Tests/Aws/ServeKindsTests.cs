using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// <c>lifeboat serve</c> runs every resource of every kind through one supervisor (issue 15, ADR 0010): it lists each
/// with its kind at start-up, and a runbook's <c>replication: stop</c> on an rds resource is acknowledged (such a step
/// used to wait for its 30-minute timeout, and serve did not run rds resources at all). A config with only runbooks
/// keeps serve up: its API is what starts them (serve used to exit at once). The rds resource is an instance in moto's
/// RDS (an independent implementation of the API).
/// </summary>
public sealed class ServeKindsTests : IAsyncLifetime
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly TempDir _dir = new();
    private readonly string _instance = "billing-" + Guid.NewGuid().ToString("N")[..8];

    public Task InitializeAsync() => MotoServer.Instance.CreateDbInstanceAsync("us-east-1", _instance, TimeProvider.System);

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    private static async Task<long> StartRunbookAsync(string api, string runbook)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, $"{api}/api/failover?runbook={runbook}");
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
        using var resp = await Http.SendAsync(req);
        var body = await resp.Content.ReadAsStringAsync();
        Assert.True((int)resp.StatusCode == 202, body);
        using var created = JsonDocument.Parse(body);
        return created.RootElement.GetProperty("execution").GetInt64();
    }

    private static async Task<string> FinalStatusAsync(string api, long id, Func<string> output)
    {
        string? final = null;
        await Eventually.TrueAsync(async () =>
        {
            using var e = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/executions/{id}"));
            final = e.RootElement.GetProperty("execution").GetProperty("status").GetString();
            return final is "succeeded" or "failed";
        }, TimeSpan.FromSeconds(45), () => $"execution {id} ends\n{output()}");
        return final!;
    }

    [Fact]
    public async Task Serve_ListsEveryKind_AndARunbookStopsAnRdsResource()
    {
        Directory.CreateDirectory(Path.Combine(_dir.Path, "a", "photos"));
        Directory.CreateDirectory(Path.Combine(_dir.Path, "b", "photos-dr"));
        var port = RecordingHttpServer.FreePort();
        var cfg = _dir.File("lifeboat.yaml", $"""
            state: state.db
            stores:
              a: {"{"} type: file, path: a {"}"}
              b: {"{"} type: file, path: b {"}"}
              aws: {"{"} type: s3, region: us-east-1, access_key_env: LB_TEST_AK, secret_key_env: LB_TEST_SK {"}"}
            resources:
              - name: photos
                source: {"{"} store: a, bucket: photos {"}"}
                target: {"{"} store: b, bucket: photos-dr {"}"}
              - name: billing-rds
                type: rds
                instance: {_instance}
                source_region: us-east-1
                target_region: us-west-2
                schedule: "0 */6 * * *"
                keep: 1
                store: aws
                poll_every: 1s
                source_endpoint: {MotoServer.Instance.Endpoint}
                target_endpoint: {MotoServer.Instance.Endpoint}
            serve: {"{"} listen: 127.0.0.1:{port}, token: s3cret {"}"}
            runbooks:
              stop-all:
                steps:
                  - name: stop-rds
                    replication: {"{"} resource: billing-rds, action: stop {"}"}
                    timeout: 60s
                  - name: stop-photos
                    replication: {"{"} resource: photos, action: stop {"}"}
                    timeout: 60s
            """);
        var env = new Dictionary<string, string?> { ["LB_TEST_AK"] = MotoServer.Instance.AccessKey, ["LB_TEST_SK"] = MotoServer.Instance.SecretKey };
        var output = new StringBuilder();
        string Out() { lock (output) return output.ToString(); }
        using var serve = LifeboatCli.Start(_dir.Path, env, output, "serve", "-c", cfg);
        var api = $"http://127.0.0.1:{port}";
        try
        {
            await Eventually.TrueAsync(() => Out().Contains("2 resources (1 bucket, 1 rds)"), TimeSpan.FromSeconds(60), () => "serve starts\n" + Out());
            Assert.Contains("protecting photos (bucket a/photos/ -> b/photos-dr/)", Out());
            Assert.Contains($"protecting billing-rds (rds {_instance}: snapshots us-east-1 -> us-west-2, schedule \"0 */6 * * *\", keep 1)", Out());

            var id = await StartRunbookAsync(api, "stop-all");
            Assert.True(await FinalStatusAsync(api, id, Out) == "succeeded", Out());
            using var status = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/status"));
            var modes = status.RootElement.GetProperty("replication").EnumerateArray()
                .ToDictionary(r => r.GetProperty("resource").GetString()!, r => (r.GetProperty("type").GetString(), r.GetProperty("mode").GetString()));
            Assert.Equal(("bucket", "stopped"), modes["photos"]);
            Assert.Equal(("rds", "stopped"), modes["billing-rds"]);
            Assert.False(serve.HasExited, Out());
        }
        finally
        {
            if (!serve.HasExited) { serve.Kill(); await serve.WaitForExitAsync(); }
        }
    }

    [Fact]
    public async Task Serve_WithOnlyARunbook_StaysUpAndRunsItThroughTheApi()
    {
        var port = RecordingHttpServer.FreePort();
        var cfg = _dir.File("only-runbooks.yaml", $"""
            state: state.db
            serve: {"{"} listen: 127.0.0.1:{port}, token: s3cret {"}"}
            runbooks:
              announce:
                steps:
                  - name: say
                    exec: echo failing over
            """);
        var output = new StringBuilder();
        string Out() { lock (output) return output.ToString(); }
        using var serve = LifeboatCli.Start(_dir.Path, null, output, "serve", "-c", cfg);
        var api = $"http://127.0.0.1:{port}";
        try
        {
            await Eventually.TrueAsync(async () =>
            {
                Assert.False(serve.HasExited, "serve exited:\n" + Out());
                try { await Http.GetStringAsync($"{api}/api/status"); return true; }
                catch (HttpRequestException) { return false; }
            }, TimeSpan.FromSeconds(60), () => "serve answers\n" + Out());
            Assert.Contains("0 resources (none)", Out());
            var id = await StartRunbookAsync(api, "announce");
            Assert.True(await FinalStatusAsync(api, id, Out) == "succeeded", Out());
            Assert.False(serve.HasExited, Out());
        }
        finally
        {
            if (!serve.HasExited) { serve.Kill(); await serve.WaitForExitAsync(); }
        }
    }
}
