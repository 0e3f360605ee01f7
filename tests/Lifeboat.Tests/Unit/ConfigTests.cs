using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Xunit;

namespace Lifeboat.Tests.Unit;

public sealed class ConfigTests
{
    private const string IssueExample = """
        state: .lifeboat/state.db        # SQLite state store (default path)
        stores:
          primary:  { type: s3, endpoint: http://127.0.0.1:7480, region: us-east-1, force_path_style: true, profile: NAME }
          recovery: { type: s3, region: us-west-2 }          # endpoint omitted = AWS; credentials from the default AWS chain or `profile`
          share:    { type: file, path: /srv/share }         # a local folder; `bucket` below names a sub-folder
        resources:
          - name: photos
            type: bucket
            source: { store: primary, bucket: photos, prefix: "" }
            target: { store: recovery, bucket: photos-dr, prefix: "" }
            deletes: retain          # retain (default) | propagate | a duration like 24h (propagate after that delay)
            rpo: 5m                  # target; status compares the measured figure to it
            events: { listen: 127.0.0.1:8099 }   # optional webhook for S3 event notifications
            reconcile_every: 10m
        """;

    [Fact]
    public void IssueExample_LoadsWithEveryKey()
    {
        var cfg = Configs.Parse("/etc/lifeboat/lifeboat.yaml", IssueExample);
        Assert.Equal("/etc/lifeboat/.lifeboat/state.db", cfg.StatePath);
        Assert.Equal(3, cfg.Stores.Count);
        Assert.Equal("http://127.0.0.1:7480", cfg.Stores["primary"].Endpoint);
        Assert.True(cfg.Stores["primary"].ForcePathStyle);
        Assert.Equal("NAME", cfg.Stores["primary"].Profile);
        Assert.Null(cfg.Stores["recovery"].Endpoint);
        Assert.Equal("/srv/share", cfg.Stores["share"].Path);
        var r = Assert.Single(cfg.Resources);
        Assert.Equal(DeleteMode.Retain, r.Deletes.Mode);
        Assert.Equal(TimeSpan.FromMinutes(5), r.Rpo);
        Assert.Equal(TimeSpan.FromMinutes(10), r.ReconcileEvery);
        Assert.Equal("127.0.0.1:8099", r.Events!.Listen.ToString());
    }

    [Theory]
    [InlineData("propagate", DeleteMode.Propagate, 0)]
    [InlineData("24h", DeleteMode.Delayed, 24 * 3600)]
    [InlineData("1h30m", DeleteMode.Delayed, 5400)]
    public void Deletes_AcceptsPolicyOrDelay(string value, DeleteMode mode, int seconds)
    {
        var cfg = Configs.Parse("c.yaml", IssueExample.Replace("deletes: retain", $"deletes: {value}"));
        Assert.Equal(mode, cfg.Resources[0].Deletes.Mode);
        Assert.Equal(TimeSpan.FromSeconds(seconds), cfg.Resources[0].Deletes.Delay);
    }

    [Theory]
    [InlineData(null, 24 * 3600)]                // default: a deep pass a day
    [InlineData("deep_reconcile_every: 6h", 6 * 3600)]
    [InlineData("deep_reconcile_every: 7d", 7 * 24 * 3600)]
    [InlineData("deep_reconcile_every: off", -1)] // no deep pass in continuous mode
    public void DeepReconcileEvery_DefaultsToADay_TakesADuration_OrOff(string? line, int seconds)
    {
        var text = line is null ? IssueExample : IssueExample.Replace("reconcile_every: 10m", "reconcile_every: 10m\n    " + line);
        var r = Configs.Parse("c.yaml", text).Resources[0];
        Assert.Equal(seconds < 0 ? null : TimeSpan.FromSeconds(seconds), r.DeepReconcileEvery);
        Assert.Equal(TimeSpan.FromMinutes(10), r.ReconcileEvery);
    }

    [Theory]
    [InlineData("sometimes", "expected a duration such as 12h or 7d, or off, got 'sometimes'")]
    [InlineData("30s", "must be at least 1m")]
    [InlineData("50d", "too long")]
    [InlineData("{ every: 1h }", "expected a")]
    public void DeepReconcileEvery_BadValue_IsLocated(string value, string message)
    {
        var text = IssueExample.Replace("reconcile_every: 10m", "reconcile_every: 10m\n    deep_reconcile_every: " + value);
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("conf/lifeboat.yaml", text));
        Assert.StartsWith("conf/lifeboat.yaml:15:27: resources[0].deep_reconcile_every: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    // what is wrong                                   replace                                   with                                          line  key                               message part
    [InlineData("unknown key", "reconcile_every: 10m", "reconcile_evry: 10m", 14, "resources[0].reconcile_evry", "unknown key")]
    [InlineData("undefined store", "target: { store: recovery", "target: { store: recovry", 10, "resources[0].target.store", "store 'recovry' is not defined")]
    [InlineData("bad deletes", "deletes: retain", "deletes: sometimes", 11, "resources[0].deletes", "retain, propagate or a duration")]
    [InlineData("bad duration", "rpo: 5m", "rpo: five", 12, "resources[0].rpo", "duration")]
    [InlineData("bad listen", "listen: 127.0.0.1:8099", "listen: somewhere", 13, "resources[0].events.listen", "HOST:PORT")]
    [InlineData("bad store type", "type: file", "type: nfs", 5, "stores.share.type", "'nfs' is not one of s3, file")]
    [InlineData("bad endpoint", "endpoint: http://127.0.0.1:7480", "endpoint: ftp://x", 3, "stores.primary.endpoint", "http://")]
    [InlineData("missing bucket", "bucket: photos-dr, ", "", 10, "resources[0].target.bucket", "is required")]
    [InlineData("unsupported type", "type: bucket", "type: queue", 8, "resources[0].type", "not supported")]
    [InlineData("bad bool", "force_path_style: true", "force_path_style: maybe", 3, "stores.primary.force_path_style", "true or false")]
    [InlineData("sts_endpoint without role_arn", "profile: NAME }", "profile: NAME, sts_endpoint: http://127.0.0.1:7481 }", 3, "stores.primary.sts_endpoint", "only used with role_arn")]
    [InlineData("bad sts_endpoint", "profile: NAME }", "profile: NAME, role_arn: r, sts_endpoint: sts.example }", 3, "stores.primary.sts_endpoint", "http://")]
    public void InvalidConfig_ErrorNamesFileLineAndKey(string what, string find, string replace, int line, string key, string message)
    {
        var text = IssueExample.Replace(find, replace);
        Assert.NotEqual(IssueExample, text);
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("conf/lifeboat.yaml", text));
        Assert.True(e.Message.StartsWith($"conf/lifeboat.yaml:{line}:", StringComparison.Ordinal), $"{what}: {e.Message}");
        Assert.Contains($": {key}: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void RoleArn_AssumesThroughTheStoresOwnEndpoint_UnlessStsEndpointSaysOtherwise()
    {
        var cfg = Configs.Parse("c.yaml", IssueExample.Replace("profile: NAME }", "profile: NAME, role_arn: arn:aws:iam::1:role/dr }")
            .Replace("recovery: { type: s3, region: us-west-2 }", "recovery: { type: s3, region: us-west-2, role_arn: arn:aws:iam::1:role/dr, sts_endpoint: https://sts.example/ }"));
        Assert.Equal("http://127.0.0.1:7480", cfg.Stores["primary"].StsEndpoint); // an S3-compatible server answers STS itself
        Assert.Equal("https://sts.example", cfg.Stores["recovery"].StsEndpoint);
        Assert.Null(Configs.Parse("c.yaml", IssueExample).Stores["primary"].StsEndpoint);
        var aws = Configs.Parse("c.yaml", IssueExample.Replace("recovery: { type: s3, region: us-west-2 }", "recovery: { type: s3, region: us-west-2, role_arn: arn:aws:iam::1:role/dr }"));
        Assert.Null(aws.Stores["recovery"].StsEndpoint); // AWS: the SDK's STS
    }

    [Fact]
    public void SnsSignatures_AreCheckedUnlessTurnedOff()
    {
        Assert.True(Configs.Parse("c.yaml", IssueExample).Resources[0].Events!.VerifySns);
        var off = Configs.Parse("c.yaml", IssueExample.Replace("listen: 127.0.0.1:8099 }", "listen: 127.0.0.1:8099, verify_sns: false }"));
        Assert.False(off.Resources[0].Events!.VerifySns);
    }

    [Fact]
    public void MalformedYaml_ErrorNamesLine()
    {
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("x.yaml", "stores:\n  a: { type: s3\nresources: []\n"));
        Assert.StartsWith("x.yaml:", e.Message);
        Assert.Contains("(yaml)", e.Message);
    }

    [Fact]
    public void DuplicateResourceName_IsRejected()
    {
        var text = IssueExample + "\n  - name: photos\n    source: { store: share, bucket: a }\n    target: { store: share, bucket: b }\n";
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("d.yaml", text));
        Assert.Contains("duplicate resource name 'photos'", e.Message);
        Assert.StartsWith("d.yaml:15:", e.Message);
    }

    [Fact]
    public void OverlappingSourceAndTarget_IsRejected()
    {
        var text = """
            stores: { s: { type: file, path: /tmp } }
            resources:
              - name: loop
                source: { store: s, bucket: a, prefix: "" }
                target: { store: s, bucket: a, prefix: "copy/" }
            """;
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("o.yaml", text));
        Assert.Contains("overlap", e.Message);
    }

    [Fact]
    public void MissingFile_IsAUserErrorNamingTheFile()
    {
        var e = Assert.Throws<UserErrorException>(() => Configs.Load("/nonexistent/lifeboat.yaml"));
        Assert.Contains("/nonexistent/lifeboat.yaml", e.Message);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("7d", 604_800_000)]
    public void Durations_Parse(string text, long ms)
    {
        Assert.True(Durations.TryParse(text, out var t));
        Assert.Equal(ms, (long)t.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5 m")]
    [InlineData("-5m")]
    [InlineData("m5")]
    public void Durations_RejectNonsense(string text) => Assert.False(Durations.TryParse(text, out _));
}
