using Lifeboat.Providers.DynamoDb;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>The <c>type: table</c> resources (DynamoDB replication, issue 3) and <c>type: dynamodb</c> stores.</summary>
public sealed class TableConfigTests
{
    private const string IssueExample = """
        stores:
          ddb-primary:  { type: dynamodb, region: us-east-1, endpoint: http://127.0.0.1:8000, profile: NAME }
          ddb-recovery: { type: dynamodb, region: us-west-2 }
          photos:       { type: s3, region: us-east-1 }
        resources:
          - name: orders
            type: table
            source: { store: ddb-primary, table: orders }
            target: { store: ddb-recovery, table: orders }
            create_target: true            # create the target with the same keys, GSIs/LSIs, billing mode if absent
            exclude_attributes: [big_blob] # optional projection
            deletes: propagate             # same policy vocabulary as buckets
            rpo: 30s
          - name: pictures
            source: { store: photos, bucket: a }
            target: { store: photos, bucket: b }
        """;

    [Fact]
    public void IssueExample_LoadsTablesBesideBuckets()
    {
        var cfg = Configs.Parse("/etc/lifeboat/lifeboat.yaml", IssueExample);
        Assert.Equal(StoreType.DynamoDb, cfg.Stores["ddb-primary"].Type);
        Assert.Equal("http://127.0.0.1:8000", cfg.Stores["ddb-primary"].Endpoint);
        Assert.Equal("NAME", cfg.Stores["ddb-primary"].Profile);
        Assert.Equal("us-west-2", cfg.Stores["ddb-recovery"].Region);
        Assert.Null(cfg.Stores["ddb-recovery"].Endpoint);

        var bucket = Assert.Single(cfg.Resources);
        Assert.Equal("pictures", bucket.Name);

        var t = Assert.Single(cfg.Tables);
        Assert.Equal("orders", t.Name);
        Assert.Equal(new[] { "ddb-primary", "orders" }, new[] { t.Source.Store, t.Source.Table });
        Assert.Equal(new[] { "ddb-recovery", "orders" }, new[] { t.Target.Store, t.Target.Table });
        Assert.True(t.CreateTarget);
        Assert.Equal(["big_blob"], t.ExcludeAttributes);
        Assert.Equal(DeleteMode.Propagate, t.Deletes.Mode);
        Assert.Equal(TimeSpan.FromSeconds(30), t.Rpo);
        Assert.Equal(4, t.Concurrency);
        Assert.Equal(6, t.Where.Line);
        Assert.Same(t, cfg.Table("orders"));
    }

    [Fact]
    public void TableDefaults_RetainDeletes_NoCreate_NoExclusions()
    {
        var text = IssueExample.Replace("    create_target: true            # create the target with the same keys, GSIs/LSIs, billing mode if absent\n", "")
            .Replace("    exclude_attributes: [big_blob] # optional projection\n", "")
            .Replace("    deletes: propagate             # same policy vocabulary as buckets\n", "")
            .Replace("    rpo: 30s\n", "");
        var t = Configs.Parse("c.yaml", text).Tables.Single();
        Assert.False(t.CreateTarget);
        Assert.Empty(t.ExcludeAttributes);
        Assert.Equal(DeleteMode.Retain, t.Deletes.Mode);
        Assert.Equal(TimeSpan.FromMinutes(15), t.Rpo);
    }

    [Theory]
    [InlineData("24h", DeleteMode.Delayed, 24 * 3600)]
    [InlineData("retain", DeleteMode.Retain, 0)]
    public void TableDeletes_UseTheBucketVocabulary(string value, DeleteMode mode, int seconds)
    {
        var t = Configs.Parse("c.yaml", IssueExample.Replace("deletes: propagate", $"deletes: {value}")).Tables.Single();
        Assert.Equal(mode, t.Deletes.Mode);
        Assert.Equal(TimeSpan.FromSeconds(seconds), t.Deletes.Delay);
    }

    [Theory]
    // what is wrong                  replace                                    with                                         line key                                  message part
    [InlineData("unknown table key", "rpo: 30s", "rpo_target: 30s", 13, "resources[0].rpo_target", "unknown key")]
    [InlineData("bucket key on table", "target: { store: ddb-recovery, table: orders }", "target: { store: ddb-recovery, table: orders, prefix: x }", 9, "resources[0].target.prefix", "unknown key")]
    [InlineData("missing table", "target: { store: ddb-recovery, table: orders }", "target: { store: ddb-recovery }", 9, "resources[0].target.table", "is required")]
    [InlineData("bad table name", "source: { store: ddb-primary, table: orders }", "source: { store: ddb-primary, table: \"or ders\" }", 8, "resources[0].source.table", "not a valid DynamoDB table name")]
    [InlineData("short table name", "source: { store: ddb-primary, table: orders }", "source: { store: ddb-primary, table: ab }", 8, "resources[0].source.table", "3 to 255")]
    [InlineData("undefined store", "target: { store: ddb-recovery, table: orders }", "target: { store: ddb-recovry, table: orders }", 9, "resources[0].target.store", "store 'ddb-recovry' is not defined")]
    [InlineData("table on s3 store", "target: { store: ddb-recovery, table: orders }", "target: { store: photos, table: orders }", 9, "resources[0].target.store", "a table resource needs a dynamodb store")]
    [InlineData("bucket on dynamodb store", "target: { store: photos, bucket: b }", "target: { store: ddb-recovery, bucket: b }", 16, "resources[1].target.store", "a bucket resource needs an s3 or file store")]
    [InlineData("same table", "target: { store: ddb-recovery, table: orders }", "target: { store: ddb-primary, table: orders }", 9, "resources[0].target", "same table")]
    [InlineData("bad create_target", "create_target: true", "create_target: maybe", 10, "resources[0].create_target", "true or false")]
    [InlineData("exclude not a list", "exclude_attributes: [big_blob]", "exclude_attributes: { a: b }", 11, "resources[0].exclude_attributes", "expected a list")]
    [InlineData("exclude twice", "exclude_attributes: [big_blob]", "exclude_attributes: [big_blob, big_blob]", 11, "resources[0].exclude_attributes", "listed twice")]
    [InlineData("bad deletes", "deletes: propagate", "deletes: never", 12, "resources[0].deletes", "retain, propagate or a duration")]
    [InlineData("bad rpo", "rpo: 30s", "rpo: soon", 13, "resources[0].rpo", "duration")]
    [InlineData("force_path_style on dynamodb", "ddb-recovery: { type: dynamodb, region: us-west-2 }", "ddb-recovery: { type: dynamodb, region: us-west-2, force_path_style: true }", 3, "stores.ddb-recovery.force_path_style", "unknown key")]
    [InlineData("bad dynamodb endpoint", "endpoint: http://127.0.0.1:8000", "endpoint: 127.0.0.1:8000", 2, "stores.ddb-primary.endpoint", "http://")]
    [InlineData("bad concurrency", "rpo: 30s", "rpo: 30s\n    concurrency: 0", 14, "resources[0].concurrency", "from 1 to 64")]
    public void InvalidTableConfig_ErrorNamesFileLineAndKey(string what, string find, string replace, int line, string key, string message)
    {
        var text = IssueExample.Replace(find, replace);
        Assert.NotEqual(IssueExample, text);
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("conf/lifeboat.yaml", text));
        Assert.True(e.Message.StartsWith($"conf/lifeboat.yaml:{line}:", StringComparison.Ordinal), $"{what}: {e.Message}");
        Assert.Contains($": {key}: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void DuplicateNames_AcrossTablesAndBuckets_AreRejected()
    {
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("d.yaml", IssueExample.Replace("name: pictures", "name: orders")));
        Assert.Contains("duplicate resource name 'orders'", e.Message);
        Assert.StartsWith("d.yaml:14:", e.Message);
    }

    [Fact]
    public void Validate_PrintsTableResources()
    {
        using var dir = new TempDir();
        var file = dir.File("lifeboat.yaml", IssueExample);
        var (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", file);
        Assert.True(code == 0, output);
        Assert.Contains("3 stores, 2 resources", output);
        Assert.Contains("orders (table): ddb-primary/orders -> ddb-recovery/orders; create target yes; exclude big_blob; deletes propagate; rpo 30s", output);
        Assert.Contains("pictures: photos/a/ -> photos/b/", output);

        var bad = dir.File("bad.yaml", IssueExample.Replace("table: orders }\n    create", "tabel: orders }\n    create"));
        (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", bad);
        Assert.Equal(2, code);
        Assert.Contains($"{bad}:9:", output);
        Assert.Contains("resources[0].target.table: is required", output);
    }
}
