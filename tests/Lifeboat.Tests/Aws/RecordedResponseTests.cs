using Amazon.Runtime;
using Lifeboat.Core.Traffic;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Providers.Aws.Route53;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>The clients read AWS's published sample responses (RecordedResponses/, verbatim; see SOURCE.md), served by
/// a local endpoint that still verifies each request's SigV4 signature.</summary>
public sealed class RecordedResponseTests
{
    private static string Recorded(string name) => File.ReadAllText(Path.Combine(Repo.Root, "tests", "Lifeboat.Tests", "Aws", "RecordedResponses", name));

    private static AwsClientOptions Options(FakeAwsServer s, string region, string service) => new()
    {
        Endpoint = s.Endpoint,
        Region = region,
        Service = service,
        Credentials = () => new BasicAWSCredentials(FakeAwsServer.AccessKey, FakeAwsServer.SecretKey),
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 3, 0, 0, TimeSpan.Zero)),
    };

    [Fact]
    public async Task DescribeDBSnapshots_DocumentedSample()
    {
        await using var s = await FakeAwsServer.StartAsync("us-west-2", "rds", _ => new FakeAwsServer.Response(200, Recorded("rds-describe-db-snapshots.xml")));
        using var rds = new RdsClient(Options(s, "us-west-2", "rds"));
        var list = await rds.DescribeSnapshotsAsync("my-mysqlexampledb", null, CancellationToken.None);
        Assert.Equal(["my-test-restore-snapshot", "rds:my-mysqlexampledb-2021-04-19-10-08", "rds:my-mysqlexampledb-2021-04-20-10-09"], list.Select(x => x.Id).ToArray());
        var auto = list[1];
        Assert.Equal(("available", "automated", "my-mysqlexampledb", 100), (auto.Status, auto.SnapshotType, auto.InstanceId, auto.PercentProgress));
        Assert.Equal(new DateTimeOffset(2021, 4, 27, 8, 16, 5, 356, TimeSpan.Zero), auto.TakenAt); // the original time
        Assert.Empty(auto.Tags);
        Assert.False(auto.IsCopyInProgress);
        Assert.Empty(s.Problems);
    }

    [Fact]
    public async Task CopyDBSnapshot_DocumentedSample()
    {
        await using var s = await FakeAwsServer.StartAsync("us-east-1", "rds", _ => new FakeAwsServer.Response(200, Recorded("rds-copy-db-snapshot.xml")));
        using var rds = new RdsClient(Options(s, "us-east-1", "rds"));
        var copy = await rds.CopySnapshotAsync("arn:aws:rds:us-west-2:123456789012:snapshot:mysqldb", "us-west-2", new Uri("https://rds.us-west-2.amazonaws.com/"),
            "mysqldb-copy", null, null, CancellationToken.None);
        Assert.Equal(("mysqldb-copy", "mysqldb", "available"), (copy.Id, copy.InstanceId, copy.Status));
        Assert.Empty(s.Problems);
    }

    [Fact]
    public async Task InvalidChangeBatch_DocumentedSample()
    {
        await using var s = await FakeAwsServer.StartAsync("us-east-1", "route53", _ => new FakeAwsServer.Response(400, Recorded("route53-invalid-change-batch.xml")));
        using var client = new Route53Client(Options(s, "us-east-1", "route53"));
        var e = await Assert.ThrowsAsync<AwsServiceException>(() =>
            client.ChangeAsync("Z1", "UPSERT", new DnsRecordSet("duplicate.example.com", "A", ["192.0.2.1"], 60), null, CancellationToken.None));
        Assert.Equal("InvalidChangeBatch", e.Code);
        Assert.Equal("b25f48e8-84fd-11e6-80d9-574e0c4664cb", e.RequestId);
        Assert.Contains("Tried to create resource record set duplicate.example.com. type A, but it already exists", e.Message, StringComparison.Ordinal);
        Assert.Empty(s.Problems);
    }
}
