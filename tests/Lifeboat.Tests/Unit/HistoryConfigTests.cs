using Lifeboat.Providers.DynamoDb;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary><c>history:</c> (issue 16, ADR 0011): where it is allowed, its defaults, and every refusal located.</summary>
public sealed class HistoryConfigTests
{
    private const string Stores = """
        stores:
          a: { type: file, path: a }
          b: { type: file, path: b }
          s3: { type: s3, endpoint: "http://127.0.0.1:7480" }
          d: { type: dynamodb, endpoint: "http://127.0.0.1:18000" }
        resources:

        """;

    private static string Bucket(string history) => Stores + $"""
          - name: photos
            source: {"{"} store: a, bucket: photos {"}"}
            target: {"{"} store: b, bucket: photos {"}"}
            history: {history}
        """;

    private static string Table(string history) => Stores + $"""
          - name: orders
            type: table
            source: {"{"} store: d, table: orders {"}"}
            target: {"{"} store: d, table: orders-dr {"}"}
            history: {history}
        """;

    private static void Fails(string text, string key, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("c.yaml", text));
        Assert.StartsWith("c.yaml:", e.Message);
        Assert.Contains($": {key}: ", e.Message);
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void ABucketHistory_DefaultsToTheReplicasReservedPrefix_AndMakesItPointInTime()
    {
        var cfg = Configs.Parse("c.yaml", Bucket("{ keep: 30d }"));
        var r = cfg.Resources[0];
        Assert.Equal(TimeSpan.FromDays(30), r.History!.Keep);
        Assert.Equal(HistoryLock.None, r.History.Lock);
        Assert.Null(r.History.Place);
        Assert.Equal(new[] { "b", "photos", ".lifeboat/history/" }, new[] { r.History.For(r).Store, r.History.For(r).Bucket, r.History.For(r).Prefix });
        Assert.True(r.Capabilities.PointInTime);
        Assert.False(Configs.Parse("c.yaml", Stores + "  - name: x\n    source: { store: a, bucket: x }\n    target: { store: b, bucket: x }\n").Resources[0].Capabilities.PointInTime);
    }

    [Fact]
    public void ATableHistory_NeedsAnObjectStore_AndHasASnapshotPeriod()
    {
        var t = Configs.Parse("c.yaml", Table("{ keep: 14d, store: s3, bucket: orders-history }")).Tables[0];
        Assert.Equal(TimeSpan.FromHours(24), t.History!.SnapshotEvery);
        Assert.Equal("orders-history", t.History.Place!.Bucket);
        Assert.True(t.Capabilities.PointInTime);
        Assert.Equal(TimeSpan.FromHours(6), Configs.Parse("c.yaml", Table("{ keep: 14d, store: s3, bucket: h, snapshot_every: 6h }")).Tables[0].History!.SnapshotEvery);
    }

    [Fact]
    public void ALockedHistory_IsKeptInASeparateS3Bucket()
    {
        var r = Configs.Parse("c.yaml", Bucket("{ keep: 7d, lock: compliance, store: s3, bucket: vault }")).Resources[0];
        Assert.Equal(HistoryLock.Compliance, r.History!.Lock);
        Assert.Equal("vault", r.History.For(r).Bucket);
    }

    [Theory]
    [InlineData("{ lock: governance }", "resources[0].history.keep", "is required")]
    [InlineData("{ keep: 5m }", "resources[0].history.keep", "at least")]
    [InlineData("{ keep: 7d, lock: always }", "resources[0].history.lock", "governance")]
    [InlineData("{ keep: 7d, lock: compliance }", "resources[0].history.lock", "separate history bucket")]
    [InlineData("{ keep: 7d, lock: compliance, store: a, bucket: v }", "resources[0].history.lock", "cannot lock")]
    [InlineData("{ keep: 7d, store: d, bucket: v }", "resources[0].history.store", "s3 or file store")]
    [InlineData("{ keep: 7d, store: nope, bucket: v }", "resources[0].history.store", "not defined")]
    [InlineData("{ keep: 7d, snapshot_every: 1h }", "resources[0].history.snapshot_every", "table resources")]
    [InlineData("{ keep: 7d, store: b, bucket: photos }", "resources[0].history.prefix", "overlaps the replica")]
    [InlineData("{ keep: 7d, versions: 3 }", "resources[0].history.versions", "")]
    public void BadBucketHistories_AreLocated(string history, string key, string message) => Fails(Bucket(history), key, message);

    [Theory]
    [InlineData("{ keep: 14d }", "resources[0].history.store", "object store")]
    [InlineData("{ keep: 14d, store: s3, bucket: h, snapshot_every: 10s }", "resources[0].history.snapshot_every", "at least")]
    public void BadTableHistories_AreLocated(string history, string key, string message) => Fails(Table(history), key, message);

    [Fact]
    public void HistoryOnPostgresOrRds_IsRefused_SayingWhereTheirHistoryIs()
    {
        Fails(Stores + "  - name: db\n    type: postgres\n    connection: { user: postgres }\n    target: { store: b, bucket: pg/ }\n    history: { keep: 7d }\n",
            "resources[0].history", "base backups and WAL");
        Fails(Stores + "  - name: db\n    type: rds\n    instance: db1\n    history: { keep: 7d }\n", "resources[0].history", "snapshots");
    }

    [Fact]
    public void PointInTime_ParsesRfc3339_AndRefusesTheFuture()
    {
        var now = DateTimeOffset.Parse("2026-12-03T12:00:00Z");
        Assert.Equal(DateTimeOffset.Parse("2026-12-03T07:03:17Z"), PointInTime.Parse("2026-12-03T07:03:17Z", now));
        Assert.Equal(DateTimeOffset.Parse("2026-12-03T07:03:17.250Z"), PointInTime.Parse("2026-12-03T08:03:17.25+01:00", now));
        Assert.Contains("is not a time", Assert.Throws<UserErrorException>(() => PointInTime.Parse("yesterday", now)).Message);
        Assert.Contains("in the future", Assert.Throws<UserErrorException>(() => PointInTime.Parse("2026-12-04T00:00:00Z", now)).Message);
        Assert.Equal("2026-12-03T07:03:17.250Z", PointInTime.Format(DateTimeOffset.Parse("2026-12-03T07:03:17.25Z")));
    }
}
