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

    /// <summary>An RDS call the runner never makes (creating the instance and a snapshot of someone else's).</summary>
    private async Task CallAsync(string region, string action, params (string, string)[] p)
    {
        using var http = new AwsHttp(Options(region));
        var body = Encoding.UTF8.GetBytes(RdsClient.Form(action, p.Select(x => new KeyValuePair<string, string>(x.Item1, x.Item2))));
        await http.SendAsync(HttpMethod.Post, "/", body, "application/x-www-form-urlencoded; charset=utf-8", action, CancellationToken.None);
    }

    [Fact]
    public async Task TwoCycles_SnapshotCopyTagAndExpireOnlyLifeboatsOwn_InBothRegions()
    {
        var instance = $"billing-{_suffix}";
        var name = $"rds-{_suffix}";
        await CallAsync(Src, "CreateDBInstance", ("DBInstanceIdentifier", instance), ("DBInstanceClass", "db.t3.micro"), ("Engine", "postgres"),
            ("AllocatedStorage", "20"), ("MasterUsername", "dba"), ("MasterUserPassword", "not-a-secret-1"));
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
}
