using System.Net;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Tests.EndToEnd;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Replication;

/// <summary>
/// Hostile webhook bodies (property-based, <see cref="Fuzz"/>): random JSON shapes, S3 events and SNS envelopes with
/// fields of the wrong type or odd values, huge strings, deep nesting, bytes that are not UTF-8 and truncated bodies,
/// posted to a real <see cref="WebhookServer"/> over HTTP. Every answer is 2xx or 4xx, never 5xx; the server stays up
/// and logs no stack trace. SNS certificates and confirmations go to a stand-in (no SNS endpoint is reachable from
/// here) that confirms every subscription, so no 502 is expected from a failed confirmation.
/// </summary>
public sealed class WebhookFuzzTests
{
    private const string Token = "fuzz-token";

    private static string Quote(string s) => JsonSerializer.Serialize(s);

    private static readonly string[] FieldNames =
    [
        "Records", "eventName", "eventSource", "eventTime", "s3", "bucket", "name", "object", "key", "sequencer", "Type", "Message",
        "TopicArn", "SubscribeURL", "Signature", "SignatureVersion", "SigningCertURL", "MessageId", "Timestamp", "Token", "Event", "x",
    ];

    private static readonly Gen<string> Strings = Gen.Frequency(
        (6, Gen.Elements("", "b", "k", "ObjectCreated:Put", "ObjectRemoved:Delete", "s3:TestEvent", "aws:s3", "ceph:s3", "Notification",
            "SubscriptionConfirmation", "UnsubscribeConfirmation", "2000-01-01T00:00:00Z", "2999-12-31T23:59:59Z", "not a date",
            "../../etc/passwd", "a//b", "%00", "a%2", "%FF%FE", "+", "\u0000", "\u0001\n\r", "\ud800", "\udfff\ud800", "é/ü/😀",
            WebhookTests.Topic, "arn:aws:sns:eu-west-1:123456789012:other", "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://sns.eu-west-1.amazonaws.com:1/", "http://127.0.0.1:1/", "https://u:p@sns.eu-west-1.amazonaws.com/", "https://[::1]/",
            "https://sns.s3.amazonaws.com/x.pem", "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", "file:///etc/passwd",
            "{\"Records\":[1]}", "{\"Type\":\"Notification\",\"Message\":\"{}\"}", "AAAA", "!!!", "1", "2")),
        (1, Gen.Choose(0, 70_000).Select(n => new string('x', n))),
        (1, Gen.Choose(1000, 1100).Select(n => new string('k', n))),
        (2, Gen.ArrayOf(Gen.Choose(0x20, 0x7e).Select(c => (char)c), 12).Select(cs => new string(cs))));

    private static readonly Gen<string> Scalars = Gen.OneOf(
        Gen.Elements("null", "true", "false", "0", "-0", "1e400", "-1", "123456789012345678901234567890", "3.14"),
        Gen.Choose(-1000, 1000).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        Strings.Select(Quote));

    /// <summary>Any JSON value up to <paramref name="depth"/> levels of arrays and objects.</summary>
    private static Gen<string> Json(int depth)
    {
        if (depth <= 0) return Scalars;
        var inner = Json(depth - 1);
        var array = Gen.Choose(0, 4).SelectMany(n => Gen.ListOf(inner, n)).Select(items => "[" + string.Join(",", items) + "]");
        var member = from k in Gen.Frequency((3, Gen.Elements(FieldNames)), (1, Strings)) from v in inner select Quote(k) + ":" + v;
        var obj = Gen.Choose(0, 5).SelectMany(n => Gen.ListOf(member, n)).Select(ms => "{" + string.Join(",", ms) + "}");
        return Gen.Frequency((3, Scalars), (2, array), (2, obj));
    }

    private static readonly Gen<string> AnyJson = Json(3);

    /// <summary>A value that is usually right for the field, sometimes any JSON.</summary>
    private static Gen<string> Field(Gen<string> right) => Gen.Frequency((4, right), (1, AnyJson));

    private static readonly Gen<string> Records =
        from name in Field(Gen.Elements("ObjectCreated:Put", "ObjectRemoved:Delete", "s3:ObjectCreated:Copy").Select(Quote))
        from source in Field(Gen.Elements("aws:s3", "ceph:s3", "minio:s3").Select(Quote))
        from time in Field(Gen.Elements("2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "2026-11-21T10:00:00Z", "").Select(Quote))
        from bucket in Field(Gen.Elements("b", "other", "").Select(Quote))
        from key in Field(Strings.Select(Quote))
        from bucketObj in Field(Gen.Constant("{\"name\":" + "BUCKET" + "}"))
        from raw in AnyJson
        from shape in Gen.Choose(0, 5)
        select shape switch
        {
            0 => raw, // a record that is any JSON value: "Records":[1] and the like
            _ => "{\"eventSource\":" + source + ",\"eventTime\":" + time + ",\"eventName\":" + name + ",\"s3\":{\"bucket\":" +
                 bucketObj.Replace("BUCKET", bucket, StringComparison.Ordinal) + ",\"object\":{\"key\":" + key + ",\"sequencer\":\"0A\"}}}",
        };

    private static readonly Gen<string> S3Event =
        Gen.Choose(0, 3).SelectMany(n => Gen.ListOf(Records, n)).Select(rs => "{\"Records\":[" + string.Join(",", rs) + "]}");

    private static readonly Gen<string> Sns =
        from type in Field(Gen.Frequency((3, Gen.Elements("Notification", "SubscriptionConfirmation")),
            (1, Gen.Elements("UnsubscribeConfirmation", "Weird", ""))).Select(Quote))
        from topic in Field(Gen.Frequency((4, Gen.Constant(WebhookTests.Topic)),
            (1, Gen.Elements("arn:aws:sns:eu-west-1:123456789012:other", "", "x"))).Select(Quote))
        from message in Gen.Frequency((3, S3Event.Select(Quote)), (1, AnyJson.Select(Quote)), (1, AnyJson))
        from url in Field(Gen.Frequency((1, Gen.Constant("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t")), (2, Strings)).Select(Quote))
        from cert in Field(Gen.Elements("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", "https://sns.s3.amazonaws.com/x.pem",
            "http://127.0.0.1:1/x.pem", "https://sns.eu-west-1.amazonaws.com:8443/x.pem", "").Select(Quote))
        from sig in Field(Gen.Elements("AAAA", "!!!", "", Convert.ToBase64String(new byte[256])).Select(Quote))
        from version in Field(Gen.Elements("1", "2", "3", "").Select(Quote))
        from extra in Gen.Frequency((3, Gen.Constant("")), (1, Gen.Elements(FieldNames).SelectMany(f => AnyJson.Select(v => "," + Quote(f) + ":" + v))))
        select "{\"Type\":" + type + ",\"TopicArn\":" + topic + ",\"Message\":" + message + ",\"SubscribeURL\":" + url + ",\"Token\":\"t\"" +
               ",\"MessageId\":\"m\",\"Timestamp\":\"2026-11-22T07:00:00.000Z\",\"SigningCertURL\":" + cert + ",\"Signature\":" + sig +
               ",\"SignatureVersion\":" + version + extra + "}";

    private static readonly Gen<string> Deep =
        from n in Gen.Choose(1, 3000)
        from open in Gen.Elements("[", "{\"Records\":", "{\"a\":[")
        select string.Concat(Enumerable.Repeat(open, n)) + "1" + new string(']', n);

    private static readonly Gen<string> Texts = Gen.Frequency((2, AnyJson), (4, S3Event), (4, Sns), (1, Deep));

    private static readonly byte[][] BadUtf8 = [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf], [0xe2, 0x82]];

    /// <summary>The body as sent: the text's UTF-8, sometimes with bytes that are not UTF-8 put in, sometimes cut short.</summary>
    private static readonly Gen<byte[]> Bodies =
        from text in Texts
        from damage in Gen.Choose(0, 5)
        from at in Gen.Choose(0, 1_000_000)
        from bad in Gen.Elements(BadUtf8)
        select Damage(Encoding.UTF8.GetBytes(text), damage, at, bad);

    private static byte[] Damage(byte[] body, int damage, int at, byte[] bad)
    {
        var pos = body.Length == 0 ? 0 : at % body.Length;
        return damage switch
        {
            0 => body[..pos],                                    // truncated
            1 => [.. body[..pos], .. bad, .. body[pos..]],        // not UTF-8 (inside a string, often)
            _ => body,
        };
    }

    public sealed record Case(byte[] Body, bool Signed)
    {
        public override string ToString() => $"{(Signed ? "/signed" : "/raw")} {Body.Length} bytes: " +
            Encoding.UTF8.GetString(Body.Length > 600 ? Body[..600] : Body);
    }

    [Fact]
    public async Task HostileBodies_NeverAnswer5xx_TheServerStaysUp_AndLogsNoStackTrace()
    {
        using var captured = new CapturedLogs();
        await using var h = await Harness.FilesAsync(DeletePolicy.Propagate);
        var rep = new ObjectReplicator(h.Resource, h.Source, h.Target, h.State, h.Time, h.Metrics, captured.Factory.CreateLogger("lifeboat.res"), Harness.FastRetry);
        var sns = new SnsVerifier((url, _) => url.AbsolutePath.Length % 2 == 0 ? Task.FromResult(new byte[] { 1, 2, 3 }) : throw new HttpRequestException("unreachable"),
            (_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)));
        var port = S3ReplicationTests.FreePort();
        await using var server = await WebhookServer.StartAsync(new IPEndPoint(IPAddress.Loopback, port),
            [new("/raw", Token, [rep], VerifySns: false, TopicArns: [WebhookTests.Topic]), new("/signed", Token, [rep], VerifySns: true, TopicArns: [WebhookTests.Topic])],
            h.Metrics, captured.Factory, h.Time, CancellationToken.None, sns: sns);
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Lifeboat-Token", Token);

        var cases = from body in Bodies from signed in Gen.Elements(false, true) select new Case(body, signed);
        var posted = 0;
        Fuzz.Check(cases, c =>
        {
            // Synchronous send: FsCheck runs the property synchronously.
            using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/{(c.Signed ? "signed" : "raw")}") { Content = new ByteArrayContent(c.Body) };
            using var resp = http.Send(req);
            var code = (int)resp.StatusCode;
            using var reader = new StreamReader(resp.Content.ReadAsStream());
            Assert.True(code is >= 200 and < 500, $"HTTP {code}: {reader.ReadToEnd()}");
            posted++;
        }, runs: 400);
        Assert.True(posted >= 400);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/healthz")).StatusCode);
        // A well-formed event is still taken after all that.
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"http://127.0.0.1:{port}/raw", new StringContent(WebhookTests.AwsEvent("b", "after-the-fuzz.txt")))).StatusCode);
        Assert.Contains(h.State.OpenChanges("res"), c => c.Key == "after-the-fuzz.txt");
        Assert.DoesNotContain("   at ", captured.Text);
        Assert.DoesNotContain("unhandled", captured.Text, StringComparison.OrdinalIgnoreCase);
    }
}
