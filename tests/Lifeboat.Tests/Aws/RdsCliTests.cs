using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// The CLI on rds resources, as a separate lifeboat process, against <see cref="FakeRds"/> (documented RDS response
/// shapes; no real RDS is reachable here) through the source_endpoint/target_endpoint overrides. The fake's clock
/// follows real time (the CLI runs on the system clock) and its snapshots are ready at once.
/// </summary>
public sealed class RdsCliTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly FakeTimeProvider _time = new(TimeProvider.System.GetUtcNow());
    private FakeRds _rds = null!;

    public async Task InitializeAsync()
    {
        _rds = await FakeRds.StartAsync(_time, "us-east-1", "us-west-2");
        _rds.CreateTakes = TimeSpan.Zero;
        _rds.CopyTakes = TimeSpan.Zero;
    }

    public async Task DisposeAsync()
    {
        await _rds.DisposeAsync();
        _dir.Dispose();
    }

    private Dictionary<string, string?> Env => new() { ["LB_TEST_AK"] = FakeAwsServer.AccessKey, ["LB_TEST_SK"] = FakeAwsServer.SecretKey };

    /// <summary>The config (in <paramref name="dir"/>, else the test's folder), with the fake's endpoints unless told otherwise.</summary>
    private string Config(int keep = 1, string schedule = "0 */6 * * *", string? sourceEndpoint = null, string? targetEndpoint = null, string? dir = null)
    {
        var file = Path.Combine(dir ?? _dir.Path, "lifeboat.yaml");
        File.WriteAllText(file, $"""
        state: state.db
        stores:
          aws: {"{"} type: s3, region: us-east-1, access_key_env: LB_TEST_AK, secret_key_env: LB_TEST_SK {"}"}
        resources:
          - name: billing-rds
            type: rds
            instance: billing-prod
            source_region: us-east-1
            target_region: us-west-2
            schedule: "{schedule}"
            keep: {keep}
            store: aws
            poll_every: 1s
            source_endpoint: {sourceEndpoint ?? _rds.Endpoint("us-east-1").ToString().TrimEnd('/')}
            target_endpoint: {targetEndpoint ?? _rds.Endpoint("us-west-2").ToString().TrimEnd('/')}
        """);
        return file;
    }

    [Fact]
    public void RdsSnapshot_OnDemand_CreatesCopiesAndStatusShowsIt()
    {
        var cfg = Config();
        var (code, output) = LifeboatCli.Run(_dir.Path, Env, "validate", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("billing-rds (rds): billing-prod snapshots in us-east-1", output, StringComparison.Ordinal);

        // verify covers rds resources too (every kind, every command): nothing copied yet is a problem, named.
        (code, output) = LifeboatCli.Run(_dir.Path, Env, "verify", "-c", cfg);
        Assert.True(code == 1, output);
        Assert.Contains("billing-rds (rds): PROBLEMS", output, StringComparison.Ordinal);
        Assert.Contains("no snapshot was copied yet", output, StringComparison.Ordinal);
        // restore names the way an rds snapshot is restored instead of "no resource".
        (code, output) = LifeboatCli.Run(_dir.Path, Env, "restore", "-c", cfg, "--resource", "billing-rds");
        Assert.True(code == 2, output);
        Assert.Contains("'billing-rds' is an rds resource: its snapshots are copied to us-west-2", output, StringComparison.Ordinal);

        (code, output) = LifeboatCli.Run(_dir.Path, Env, "rds", "snapshot", "-c", cfg, "--resource", "billing-rds");
        Assert.True(code == 0, output);
        Assert.Contains("billing-rds: snapshot lifeboat-billing-rds-", output, StringComparison.Ordinal);
        var snapshotOutput = output;
        (code, output) = LifeboatCli.Run(_dir.Path, Env, "verify", "-c", cfg, "--resource", "billing-rds");
        Assert.True(code == 0, output);
        Assert.Contains("billing-rds (rds): OK: last copy lifeboat-billing-rds-", output, StringComparison.Ordinal);
        Assert.Contains(": available", output, StringComparison.Ordinal);
        (code, output) = LifeboatCli.Run(_dir.Path, Env, "verify", "-c", cfg, "--json");
        Assert.True(code == 0, output);
        Assert.Contains("\"type\": \"rds\"", output, StringComparison.Ordinal);
        output = snapshotOutput;
        Assert.Contains("copied us-east-1 -> us-west-2", output, StringComparison.Ordinal);
        Assert.Single(_rds.Calls, c => c.Action == "CopyDBSnapshot");
        Assert.Empty(_rds.Problems);

        // A second run: retention keeps 1, deleting the first (both Lifeboat's) in each region.
        (code, output) = LifeboatCli.Run(_dir.Path, Env, "replicate", "-c", cfg, "--once", "-r", "billing-rds");
        Assert.True(code == 0, output);
        Assert.Contains("expired 1 copies in us-west-2 and 1 snapshots in us-east-1", output, StringComparison.Ordinal);
        Assert.Single(_rds.Snapshots["us-west-2"]);

        (code, output) = LifeboatCli.Run(_dir.Path, Env, "status", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("billing-rds (rds: billing-prod us-east-1 -> us-west-2", output, StringComparison.Ordinal);
        Assert.Contains("last snapshot     lifeboat-billing-rds-", output, StringComparison.Ordinal);
        Assert.Contains("copied", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replicate_Continuous_RunsTheScheduleAndStopsCleanly()
    {
        // Every minute: the first tick after start runs a cycle (the fake's snapshots are ready at once).
        var cfg = Config(schedule: "* * * * *");
        var output = new System.Text.StringBuilder();
        using var p = LifeboatCli.Start(_dir.Path, Env, output, "replicate", "-c", cfg);
        try
        {
            await Eventually.TrueAsync(() => output.ToString().Contains("cycle lifeboat-billing-rds-", StringComparison.Ordinal) &&
                                             output.ToString().Contains(" done: copied to us-west-2", StringComparison.Ordinal),
                TimeSpan.FromSeconds(100), "a scheduled cycle; output: " + output);
        }
        finally
        {
            Lifeboat.Tests.EndToEnd.Mono.Unix.Signal(p.Id, 15);
        }
        Assert.True(p.WaitForExit(30_000), output.ToString());
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, output.ToString());
        Assert.Contains("stopped cleanly", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("protecting billing-rds (rds billing-prod: snapshots us-east-1 -> us-west-2, schedule \"* * * * *\"", output.ToString(), StringComparison.Ordinal);
        Assert.Single(_rds.Calls, c => c.Action == "CopyDBSnapshot");
        Assert.Empty(_rds.Problems);

        var (code, json) = LifeboatCli.Run(_dir.Path, Env, "status", "-c", cfg, "--json");
        Assert.True(code == 0, json);
        Assert.Contains("\"type\": \"rds\"", json, StringComparison.Ordinal);
        Assert.Contains("\"last_snapshot\": \"lifeboat-billing-rds-", json, StringComparison.Ordinal);
    }

    [Fact]
    public void RdsSnapshot_QuotaExceeded_ExitsOneWithTheReason()
    {
        _rds.ManualSnapshotQuota = 0;
        var (code, output) = LifeboatCli.Run(_dir.Path, Env, "rds", "snapshot", "-c", Config(), "--resource", "billing-rds");
        Assert.Equal(1, code);
        Assert.Contains("FAILED", output, StringComparison.Ordinal);
        Assert.Contains("RDS manual snapshot quota reached in us-east-1", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        (code, output) = LifeboatCli.Run(_dir.Path, Env, "status", "-c", Config());
        Assert.Equal(1, code);
        Assert.Contains("last error", output, StringComparison.Ordinal);
    }

    [Fact]
    public void RdsSnapshot_UnknownResource_IsAUserError()
    {
        var (code, output) = LifeboatCli.Run(_dir.Path, Env, "rds", "snapshot", "-c", Config(), "--resource", "nope");
        Assert.Equal(2, code);
        Assert.Contains("no rds resource named 'nope' (rds resources: billing-rds)", output, StringComparison.Ordinal);
    }

    /// <summary>
    /// An endpoint that cannot be reached at all ends a one-shot run after the client's retries, exit 2 with one line
    /// naming it (it used to wait on it forever): a source endpoint whose name does not resolve for `rds snapshot`, a
    /// target endpoint where nothing listens (connection refused, reached once the source snapshot exists) for
    /// `replicate --once`. The cycle stays in flight: once the endpoint is right, the next run finishes it.
    /// </summary>
    [Fact]
    public async Task UnreachableEndpoint_EndsOneShotRuns_ExitTwoWithOneLineNamingIt()
    {
        var dns = _dir.Sub("dns");
        var refused = _dir.Sub("refused");
        var dnsCfg = Config(sourceEndpoint: "http://no-such-host.invalid:1", dir: dns);
        var refusedCfg = Config(targetEndpoint: "http://127.0.0.1:9", dir: refused);
        // Both at once: each spends the client's retries (seconds of backoff) before giving up.
        var timeout = TimeSpan.FromMinutes(2);
        var runs = await Task.WhenAll(
            Task.Run(() => LifeboatCli.Run(dns, Env, timeout, "rds", "snapshot", "-c", dnsCfg, "--resource", "billing-rds")),
            Task.Run(() => LifeboatCli.Run(refused, Env, timeout, "replicate", "-c", refusedCfg, "--once")));
        foreach (var ((code, output), endpoint) in runs.Zip(["http://no-such-host.invalid:1", "http://127.0.0.1:9"]))
        {
            Assert.True(code == 2, output);
            var error = Assert.Single(output.Split('\n'), l => l.StartsWith("lifeboat: ", StringComparison.Ordinal));
            Assert.Contains("rds resource 'billing-rds'", error, StringComparison.Ordinal);
            Assert.Contains($"cannot reach {endpoint}", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        }
        Assert.DoesNotContain(_rds.CallsTo("us-west-2"), c => c.Action == "CopyDBSnapshot");
        var created = Assert.Single(_rds.Snapshots["us-east-1"]).Key; // by the second run, before its copy failed

        // status shows why; with the target endpoint corrected, the cycle in flight is finished (no second snapshot).
        var (scode, status) = LifeboatCli.Run(refused, Env, "status", "-c", refusedCfg);
        Assert.True(scode == 1, status);
        Assert.Contains("cannot reach http://127.0.0.1:9", status, StringComparison.Ordinal);
        var (rcode, rerun) = LifeboatCli.Run(refused, Env, "rds", "snapshot", "-c", Config(dir: refused), "--resource", "billing-rds");
        Assert.True(rcode == 0, rerun);
        Assert.Contains($"billing-rds: snapshot {created} of billing-prod copied", rerun, StringComparison.Ordinal);
        Assert.Single(_rds.Snapshots["us-east-1"]);
        Assert.Empty(_rds.Problems);
    }
}
