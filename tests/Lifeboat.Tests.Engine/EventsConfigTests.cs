using Lifeboat.Core.Config;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>The <c>events:</c> block of a bucket resource: <c>topic_arns</c>, the SNS topics whose messages the
/// webhook accepts.</summary>
public sealed class EventsConfigTests
{
    private static string Config(string events) => $$"""
        stores:
          share: { type: file, path: /srv/share }
        resources:
          - name: photos
            source: { store: share, bucket: a }
            target: { store: share, bucket: b }
            events: {{events}}
        """;

    [Fact]
    public void TopicArns_AreListed_AndNoneByDefault()
    {
        var cfg = ConfigLoader.Parse("c.yaml", Config("{ token: t, topic_arns: [arn:aws:sns:eu-west-1:123456789012:photos, arn:aws-cn:sns:cn-north-1:123456789012:p.fifo] }"));
        Assert.Equal(["arn:aws:sns:eu-west-1:123456789012:photos", "arn:aws-cn:sns:cn-north-1:123456789012:p.fifo"], cfg.Resources[0].Events!.TopicArns);
        Assert.Empty(ConfigLoader.Parse("c.yaml", Config("{ token: t }")).Resources[0].Events!.TopicArns ?? []);
    }

    [Theory]
    [InlineData("photos")]
    [InlineData("arn:aws:sns:eu-west-1:123:photos")]              // the account is 12 digits
    [InlineData("arn:aws:sqs:eu-west-1:123456789012:photos")]     // a queue, not a topic
    [InlineData("arn:aws:sns:default::photos")]                   // Ceph RGW's topics post raw S3 events, not SNS messages
    public void ATopicArnThatIsNotAnSnsTopic_IsALocatedError(string arn)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("c.yaml", Config($"{{ token: t, topic_arns: [\"{arn}\"] }}")));
        Assert.StartsWith("c.yaml:7:", e.Message);
        Assert.Contains("resources[0].events.topic_arns", e.Message);
        Assert.Contains("not an Amazon SNS topic ARN", e.Message);
    }
}
