using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Xunit;

namespace Lifeboat.Tests.Aws;

public sealed class AwsConfigTests
{
    private const string Stores = """
        stores:
          aws: { type: s3, region: us-east-1, profile: dr }
          r53: { type: route53, hosted_zone_id: Z123, profile: NAME }
        """;

    [Fact]
    public void RdsResourceAndRoute53Store_AreRead()
    {
        var cfg = Configs.Parse("c.yaml", Stores + """

            resources:
              - name: billing-rds
                type: rds
                instance: billing-prod
                source_region: us-east-1
                target_region: us-west-2
                schedule: "0 */6 * * *"
                keep: 14
                kms_key_id: arn:aws:kms:us-west-2:123456789012:key/abc
                store: aws
            """);
        var r = Assert.Single(cfg.Rds);
        Assert.Equal(("billing-prod", "us-east-1", "us-west-2", 14, "aws"), (r.Instance, r.SourceRegion, r.TargetRegion, r.Keep, r.Store));
        Assert.Equal("0 */6 * * *", r.Schedule.Expression);
        Assert.Equal("arn:aws:kms:us-west-2:123456789012:key/abc", r.KmsKeyId);
        Assert.Equal(TimeSpan.FromSeconds(30), r.PollEvery);
        var z = cfg.Stores["r53"];
        Assert.Equal((StoreType.Route53, "Z123", "NAME"), (z.Type, z.HostedZoneId, z.Profile));
        Assert.Empty(cfg.Resources);
    }

    [Theory]
    [InlineData("schedule: \"0 */6 * *\"", "c.yaml:9:15: resources[0].schedule: expected 5 fields")]
    [InlineData("schedule: \"0 0 30 2 *\"", "resources[0].schedule: '0 0 30 2 *' never matches")]
    [InlineData("schedule: \"0 3 * * *\"\n    target_region: us-east-1", "resources[0].target_region: is the same as source_region")]
    [InlineData("schedule: \"0 3 * * *\"\n    keep: 0", "resources[0].keep:")]
    [InlineData("schedule: \"0 3 * * *\"\n    store: nope", "resources[0].store: store 'nope' is not defined")]
    [InlineData("schedule: \"0 3 * * *\"\n    store: aws\n    profile: x", "resources[0].profile: give store or profile")]
    [InlineData("schedule: \"0 3 * * *\"\n    colour: red", "colour")]
    public void RdsErrors_NameFileLineAndKey(string extra, string message)
    {
        var text = Stores + $"""

            resources:
              - name: billing-rds
                type: rds
                instance: billing-prod
                source_region: us-east-1
                {extra}
            """;
        if (!text.Contains("target_region", StringComparison.Ordinal)) text += "\n    target_region: us-west-2";
        if (!text.Contains("keep:", StringComparison.Ordinal)) text += "\n    keep: 3";
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("c.yaml", text));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("c.yaml:", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("r53: { type: route53 }", "stores.r53.hosted_zone_id: is required")]
    [InlineData("r53: { type: route53, hosted_zone_id: \"Z 1\" }", "is not a Route 53 hosted zone id")]
    [InlineData("r53: { type: route53, hosted_zone_id: Z1, endpoint: ftp://x }", "stores.r53.endpoint: expected an http")]
    [InlineData("r53: { type: route53, hosted_zone_id: Z1, bucket: x }", "bucket")]
    public void Route53StoreErrors(string store, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("c.yaml", "stores:\n  " + store + "\n"));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Route53Store_AcceptsTheHostedZonePrefix()
    {
        var cfg = Configs.Parse("c.yaml", "stores:\n  r53: { type: route53, hosted_zone_id: /hostedzone/Z9 }\n");
        Assert.Equal("Z9", cfg.Stores["r53"].HostedZoneId);
    }
}
