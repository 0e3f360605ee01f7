using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Providers.DynamoDb;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>When a stream record counts as seen (the journal's seen_at: lag and RPO are measured from it), and the
/// <c>canary:</c> setting of a table resource.</summary>
public sealed class TableSeenTimeTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    [Fact]
    public void RecordReadWhileKeepingUp_CountsFromItsRead_NotFromAMinuteTruncatedTimestamp()
    {
        // DynamoDB Local: written at 12:00:40.300, timestamp truncated to 12:00:00, read at 12:00:40.500.
        Assert.Equal(Ms(T0.AddSeconds(40.5)), TableReplicator.SeenAtMs(T0, Ms(T0.AddSeconds(40.5))));
        // AWS: timestamp rounded down to the second.
        Assert.Equal(Ms(T0.AddSeconds(40.5)), TableReplicator.SeenAtMs(T0.AddSeconds(40), Ms(T0.AddSeconds(40.5))));
    }

    [Fact]
    public void RecordThatWaitedInTheStream_CountsFromTheLatestTimeItsTimestampAllows()
    {
        // Lifeboat was stopped: read 5 minutes after a whole-minute (maybe DynamoDB Local) timestamp: seen at most a
        // minute after it.
        Assert.Equal(Ms(T0.AddMinutes(1)), TableReplicator.SeenAtMs(T0, Ms(T0.AddMinutes(5))));
        // A timestamp with seconds (AWS precision): at most a second after it.
        Assert.Equal(Ms(T0.AddSeconds(21)), TableReplicator.SeenAtMs(T0.AddSeconds(20), Ms(T0.AddMinutes(5))));
    }

    [Fact]
    public void TimestampOutOfReason_OrMissing_FallsBackToTheReadTime()
    {
        var read = Ms(T0);
        Assert.Equal(read, TableReplicator.SeenAtMs(null, read));
        Assert.Equal(read, TableReplicator.SeenAtMs(T0.AddHours(1), read));   // in the future: clock skew
        Assert.Equal(read, TableReplicator.SeenAtMs(T0.AddDays(-3), read));   // older than the 24 h retention
        Assert.Equal(Ms(T0.AddHours(-23)) + 60_000, TableReplicator.SeenAtMs(T0.AddHours(-23), read));
    }

    [Fact]
    public void CoveredBySync_OnlyRecordsCertainlyMadeBeforeTheScanStarted()
    {
        var start = Ms(T0.AddMinutes(10));
        Assert.True(TableReplicator.CoveredBySync(T0, start));                                  // 10 minutes before
        Assert.True(TableReplicator.CoveredBySync(T0.AddMinutes(8), start));                    // whole minute: + 60 s + margin still before
        Assert.False(TableReplicator.CoveredBySync(T0.AddMinutes(9), start));                   // may have been made at 9:59.9
        Assert.True(TableReplicator.CoveredBySync(T0.AddMinutes(9).AddSeconds(57), start));     // second precision: 9:58 + 2 s margin
        Assert.False(TableReplicator.CoveredBySync(T0.AddMinutes(9).AddSeconds(58), start));
        Assert.False(TableReplicator.CoveredBySync(T0.AddMinutes(11), start));                  // after
        Assert.False(TableReplicator.CoveredBySync(null, start));                               // no timestamp: apply
        Assert.False(TableReplicator.CoveredBySync(T0, long.MinValue));                         // start unknown: apply
    }

    [Fact]
    public void MayBeInCopy_RecordsNotCertainlyMadeAfterTheScanEnded()
    {
        var done = Ms(T0.AddMinutes(10).AddSeconds(30));
        Assert.True(TableReplicator.MayBeInCopy(T0.AddMinutes(10), done));                      // DynamoDB Local's minute of the scan's end
        Assert.True(TableReplicator.MayBeInCopy(T0.AddMinutes(10).AddSeconds(32), done));       // within the 2 s clock margin
        Assert.False(TableReplicator.MayBeInCopy(T0.AddMinutes(10).AddSeconds(33), done));      // certainly after: written without a read
        Assert.False(TableReplicator.MayBeInCopy(T0.AddMinutes(11), done));
        Assert.True(TableReplicator.MayBeInCopy(null, done));                                   // no timestamp: compare
        Assert.False(TableReplicator.MayBeInCopy(T0, long.MinValue));                           // end unknown (an older state): write
    }

    private const string Table = """
        stores:
          a: { type: dynamodb, region: us-east-1 }
          b: { type: dynamodb, region: us-west-2 }
        resources:
          - name: orders
            type: table
            source: { store: a, table: orders }
            target: { store: b, table: orders }
        """;

    [Fact]
    public void Canary_ShortForm_AndLongFormWithKey()
    {
        var t = Configs.Parse("c.yaml", Table + "\n    canary: 10s\n").Tables.Single();
        Assert.Equal(TimeSpan.FromSeconds(10), t.Canary!.Every);
        Assert.Null(t.Canary.Key);
        Assert.Equal(9, t.Canary.Where.Line);

        t = Configs.Parse("c.yaml", Table + "\n    canary: { every: 2s, key: { pk: lifeboat-canary, sk: \"0\" } }\n").Tables.Single();
        Assert.Equal(TimeSpan.FromSeconds(2), t.Canary!.Every);
        Assert.Equal("lifeboat-canary", t.Canary.Key!["pk"]);
        Assert.Equal("0", t.Canary.Key["sk"]);
        Assert.Null(Configs.Parse("c.yaml", Table).Tables.Single().Canary);
    }

    [Theory]
    [InlineData("canary: often", "resources[0].canary", "duration")]
    [InlineData("canary: 100ms", "resources[0].canary", "at least 1s")]
    [InlineData("canary: { key: { pk: x } }", "resources[0].canary.every", "is required")]
    [InlineData("canary: { every: 5s, when: always }", "resources[0].canary.when", "unknown key")]
    [InlineData("canary: { every: 5s, key: { a: 1, b: 2, c: 3 } }", "resources[0].canary.key", "one or two")]
    public void Canary_Errors_NameFileLineAndKey(string line, string key, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("c.yaml", Table + "\n    " + line + "\n"));
        Assert.StartsWith("c.yaml:9:", e.Message);
        Assert.Contains($": {key}: ", e.Message);
        Assert.Contains(message, e.Message);
    }
}
