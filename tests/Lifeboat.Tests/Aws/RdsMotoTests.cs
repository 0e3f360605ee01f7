using System.Text;
using Amazon.Runtime;
using Lifeboat.Core.Config;
using Lifeboat.Core.Scheduling;
using Lifeboat.Core.State;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// The RDS snapshot cycle against moto, an independent implementation of RDS's API (the faults moto cannot produce:
/// lost requests, copy limits, quota and throttling answers, restarts mid-copy, stay with <see cref="FakeRds"/> in
/// <see cref="RdsSnapshotTests"/>): a snapshot of a real (moto) instance in the source region, copied to the target
/// region, tagged there, and retention that expires only Lifeboat's own older snapshots in both regions.
/// </summary>
public sealed class RdsMotoTests : IDisposable
{
    private const string Src = "us-east-1";
    private const string Dst = "us-west-2";
    private readonly SleepAwareTimeProvider _time = new(new DateTimeOffset(2026, 11, 22, 5, 50, 0, TimeSpan.Zero));
    private readonly TempDir _dir = new();
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => _dir.Dispose();

    private AwsClientOptions Options(string region) => new()
    {
        Endpoint = new Uri(MotoServer.Instance.Endpoint + "/"),
        Region = region,
        Service = RdsClient.Service,
        Credentials = () => new BasicAWSCredentials(MotoServer.Instance.AccessKey, MotoServer.Instance.SecretKey),
        Time = _time,
        BaseDelay = TimeSpan.FromMilliseconds(10),
    };

    private Task CallAsync(string region, string action, params (string, string)[] p) => MotoServer.Instance.RdsCallAsync(region, action, _time, p);

    [Fact]
    public async Task TwoCycles_SnapshotCopyTagAndExpireOnlyLifeboatsOwn_InBothRegions()
    {
        var instance = $"billing-{_suffix}";
        var name = $"rds-{_suffix}";
        await MotoServer.Instance.CreateDbInstanceAsync(Src, instance, _time);
        var manual = $"manual-{_suffix}";
        await CallAsync(Src, "CreateDBSnapshot", ("DBInstanceIdentifier", instance), ("DBSnapshotIdentifier", manual));

        var res = new RdsResource(name, instance, Src, Dst, Cron.Parse("0 */6 * * *"), 1, null, null, null, null, null,
            TimeSpan.FromSeconds(30), new ConfigLocation("test.yaml", 1, "resources[0]"));
        using var state = new StateStore(Path.Combine(_dir.Path, "state.db"));
        using var src = new RdsClient(Options(Src));
        using var dst = new RdsClient(Options(Dst));
        var runner = new RdsSnapshotRunner(res, src, dst, state, _time, NullLogger.Instance);

        var first = await DriveAsync(runner, startNow: true);
        var copy = await dst.DescribeSnapshotAsync(first.SnapshotId, CancellationToken.None);
        Assert.NotNull(copy);
        Assert.Equal("available", copy!.Status);
        Assert.Equal(name, copy.Tags["lifeboat"]);
        Assert.NotNull(await src.DescribeSnapshotAsync(first.SnapshotId, CancellationToken.None));

        _time.Advance(TimeSpan.FromHours(6));
        var second = await DriveAsync(runner, startNow: false);
        Assert.NotEqual(first.SnapshotId, second.SnapshotId);
        // keep: 1: the first cycle's snapshot is gone from both regions; the new one and the manual one stay.
        Assert.Null(await dst.DescribeSnapshotAsync(first.SnapshotId, CancellationToken.None));
        Assert.Null(await src.DescribeSnapshotAsync(first.SnapshotId, CancellationToken.None));
        Assert.NotNull(await dst.DescribeSnapshotAsync(second.SnapshotId, CancellationToken.None));
        Assert.NotNull(await src.DescribeSnapshotAsync(manual, CancellationToken.None));
        Assert.Equal((1, 1), (second.ExpiredTarget, second.ExpiredSource));
    }

    private async Task<RdsLast> DriveAsync(RdsSnapshotRunner r, bool startNow)
    {
        var start = startNow;
        for (var i = 0; i < 200; i++)
        {
            var s = await r.StepAsync(start, CancellationToken.None);
            start = false;
            if (s.Kind == RdsStepKind.Done) return s.Completed!;
            if (s.Kind is RdsStepKind.Wait or RdsStepKind.Idle) _time.Advance(s.WakeAt!.Value - _time.GetUtcNow());
        }
        throw new Xunit.Sdk.XunitException("the cycle did not finish in 200 steps");
    }

    /// <summary>The CLI on an rds resource whose instance lives in moto: <c>rds snapshot</c>, <c>verify</c>,
    /// <c>replicate --once</c> (through the kinds' contract) and <c>status</c>, as a user runs them.</summary>
    [Fact]
    public async Task TheCli_SnapshotsVerifiesReplicatesOnceAndShowsStatus()
    {
        var instance = $"cli-{_suffix}";
        await MotoServer.Instance.CreateDbInstanceAsync(Src, instance, TimeProvider.System);
        var cfg = _dir.File("lifeboat.yaml", $"""
            state: state.db
            stores:
              aws: {"{"} type: s3, region: us-east-1, access_key_env: LB_TEST_AK, secret_key_env: LB_TEST_SK {"}"}
            resources:
              - name: billing-rds
                type: rds
                instance: {instance}
                source_region: {Src}
                target_region: {Dst}
                schedule: "0 */6 * * *"
                keep: 1
                store: aws
                poll_every: 1s
                source_endpoint: {MotoServer.Instance.Endpoint}
                target_endpoint: {MotoServer.Instance.Endpoint}
            """);
        var env = new Dictionary<string, string?> { ["LB_TEST_AK"] = MotoServer.Instance.AccessKey, ["LB_TEST_SK"] = MotoServer.Instance.SecretKey };
        var (code, output) = LifeboatCli.Run(_dir.Path, env, "rds", "snapshot", "-c", cfg, "--resource", "billing-rds");
        Assert.True(code == 0, output);
        Assert.Contains($"billing-rds: snapshot lifeboat-billing-rds-", output, StringComparison.Ordinal);
        Assert.Contains($"copied {Src} -> {Dst}", output, StringComparison.Ordinal);
        (code, output) = LifeboatCli.Run(_dir.Path, env, "verify", "-c", cfg, "--resource", "billing-rds");
        Assert.True(code == 0, output);
        Assert.Contains("billing-rds (rds): OK: last copy lifeboat-billing-rds-", output, StringComparison.Ordinal);
        (code, output) = LifeboatCli.Run(_dir.Path, env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains($"expired 1 copies in {Dst} and 1 snapshots in {Src} (keep 1)", output, StringComparison.Ordinal);
        (code, output) = LifeboatCli.Run(_dir.Path, env, "status", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains($"billing-rds (rds: {instance} {Src} -> {Dst}", output, StringComparison.Ordinal);
        (code, output) = LifeboatCli.Run(_dir.Path, env, "windows", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("billing-rds (rds): no point-in-time history: its history is kept by the provider (rds snapshots, restored with the provider's own tools)", output, StringComparison.Ordinal);
    }
}
