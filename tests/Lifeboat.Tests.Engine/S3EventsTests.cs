using System.Text;
using Lifeboat.Abstractions;
using Lifeboat.Core.Replication;
using Xunit;

namespace Lifeboat.Tests.Unit;

public sealed class S3EventsTests
{
    // As AWS S3 sends it (keys URL-encoded, space as '+').
    private const string AwsEvent = """
        {"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-21T10:00:00.123Z",
         "eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"photos"},"object":{"key":"2025/my+photo+%2B1%25.jpg","size":5,"sequencer":"0055AED6DCD90281E5"}}},
         {"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"2026-11-21T10:00:01Z","eventName":"ObjectRemoved:Delete",
          "s3":{"bucket":{"name":"photos"},"object":{"key":"old.txt","sequencer":"0055AED6DCD90281E6"}}}]}
        """;

    // As Ceph RGW 16.2 pushes it (captured on this machine): the key is not encoded.
    private const string CephEvent = """
        {"Records":[{"eventVersion":"2.2","eventSource":"ceph:s3","awsRegion":"","eventTime":"2026-11-21T23:40:22.082726Z","eventName":"ObjectCreated:Put",
         "s3":{"s3SchemaVersion":"1.0","configurationId":"x","bucket":{"name":"dbgev"},"object":{"key":"a b+c%.txt","size":3,"eTag":"764efa883dda1e11db47671c4a3bbd9e","sequencer":"E62B026BB45F1005"}}}]}
        """;

    [Fact]
    public void AwsEvent_DecodesKeysOnce_AndReadsNamesTimesAndSequencers()
    {
        var n = Assert.IsType<S3Notification>(S3Events.Parse(Encoding.UTF8.GetBytes(AwsEvent)));
        Assert.Equal(2, n.Records.Count);
        Assert.Equal("2025/my photo +1%.jpg", n.Records[0].Key);
        Assert.Equal("photos", n.Records[0].Bucket);
        Assert.False(n.Records[0].IsRemoval);
        Assert.True(n.Records[1].IsRemoval);
        Assert.Equal(new DateTimeOffset(2026, 11, 21, 10, 0, 0, 123, TimeSpan.Zero), n.Records[0].EventTime);
        Assert.True(S3Events.CompareSequencers(n.Records[1].Sequencer!, n.Records[0].Sequencer!) > 0);
    }

    [Fact]
    public void CephEvent_KeepsTheRawKey()
    {
        var n = Assert.IsType<S3Notification>(S3Events.Parse(Encoding.UTF8.GetBytes(CephEvent)));
        Assert.Equal("a b+c%.txt", Assert.Single(n.Records).Key);
    }

    [Fact]
    public void SnsWrappedNotification_IsUnwrapped()
    {
        var wrapped = System.Text.Json.JsonSerializer.Serialize(new { Type = "Notification", MessageId = "1", TopicArn = "arn:aws:sns:us-east-1:1:t", Message = AwsEvent });
        var n = Assert.IsType<S3Notification>(S3Events.Parse(Encoding.UTF8.GetBytes(wrapped)));
        Assert.Equal("2025/my photo +1%.jpg", n.Records[0].Key);
    }

    [Fact]
    public void SnsSubscriptionConfirmation_IsRecognised()
    {
        var body = """{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:us-east-1:1:t","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"}""";
        var c = Assert.IsType<SnsSubscriptionConfirmation>(S3Events.Parse(Encoding.UTF8.GetBytes(body)));
        Assert.StartsWith("https://sns.us-east-1.amazonaws.com/", c.SubscribeUrl);
    }

    [Fact]
    public void S3TestEvent_IsAcknowledged() =>
        Assert.IsType<S3TestEvent>(S3Events.Parse(Encoding.UTF8.GetBytes("""{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}""")));

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("[1,2]", "JSON object")]
    [InlineData("""{"hello":"world"}""", "no Records array")]
    [InlineData("""{"Records":[{"eventName":"ObjectCreated:Put"}]}""", "Records[0] has no s3 section")]
    [InlineData("""{"Type":"Weird"}""", "unknown SNS message type")]
    public void NotAnS3Event_IsRejectedWithAReason(string body, string reason)
    {
        var e = Assert.Throws<EventFormatException>(() => S3Events.Parse(Encoding.UTF8.GetBytes(body)));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void OversizedBody_IsRejected()
    {
        var e = Assert.Throws<EventFormatException>(() => S3Events.Parse(new byte[S3Events.MaxBodyBytes + 1]));
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public void KeyComparer_OrdersByUtf8Bytes()
    {
        // U+FF21 (3 UTF-8 bytes, EF BC A1) sorts before U+1F600 (4 bytes, F0 9F 98 80) in UTF-8, after it in UTF-16.
        var a = "\uFF21";
        var b = char.ConvertFromUtf32(0x1F600);
        Assert.True(string.CompareOrdinal(a, b) > 0);
        Assert.True(KeyComparer.Instance.Compare(a, b) < 0);
        Assert.True(KeyComparer.Instance.Compare("a/1", "a/10") < 0);
        Assert.Equal(0, KeyComparer.Instance.Compare("x", "x"));
    }

    [Fact]
    public void MultipartETag_MatchesTheKnownFormula()
    {
        var data = new byte[11 << 20];
        new Random(3).NextBytes(data);
        using var hs = new HashingStream(new MemoryStream(data), 5 << 20);
        hs.CopyTo(Stream.Null);
        var parts = new[] { data[..(5 << 20)], data[(5 << 20)..(10 << 20)], data[(10 << 20)..] }.Select(p => System.Security.Cryptography.MD5.HashData(p)).ToArray();
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(parts.SelectMany(p => p).ToArray())) + "-3";
        Assert.Equal(expected, hs.MultipartETag());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data)), hs.Md5Hex());
        Assert.True(ETags.IsMultipart(expected, out var n) && n == 3);
    }
}
