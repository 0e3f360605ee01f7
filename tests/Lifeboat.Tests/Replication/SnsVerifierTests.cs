using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Lifeboat.Hosting;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Replication;

/// <summary>
/// SNS signature checks. The canonical string and RSA check are proven on a message Amazon SNS itself signed, with the
/// SNS certificate of the time (RecordedResponses/, see SOURCE.md). The webhook paths use messages signed here with a
/// test key whose certificate the injected fetcher returns: no SNS endpoint is reachable from here (a stand-in,
/// said so).
/// </summary>
public sealed class SnsVerifierTests
{
    private static string Recorded(string name) => File.ReadAllText(Path.Combine(Repo.Root, "tests", "Lifeboat.Tests", "Aws", "RecordedResponses", name));

    [Fact]
    public void AMessageSnsSigned_Verifies_AndAnyAlteredFieldDoesNot()
    {
        var cert = X509CertificateLoader.LoadCertificate(Encoding.ASCII.GetBytes(Recorded("sns-signing-cert-2015.pem")));
        using var doc = JsonDocument.Parse(Recorded("sns-signed-notification.json"));
        Assert.True(SnsVerifier.Verify(doc.RootElement, cert));
        foreach (var (field, value) in new[] { ("Message", "boo!"), ("Subject", "this is not raw"), ("Timestamp", "2015-09-20T01:22:14.002Z"), ("TopicArn", "arn:aws:sns:us-east-1:810605503585:other") })
        {
            var altered = JsonNodeWith(Recorded("sns-signed-notification.json"), field, value);
            using var bad = JsonDocument.Parse(altered);
            Assert.False(SnsVerifier.Verify(bad.RootElement, cert), field);
        }
    }

    [Theory]
    [InlineData("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", true)]
    [InlineData("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", true)]
    [InlineData("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", false)]
    [InlineData("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", false)]
    [InlineData("https://evil.example/sns.us-east-1.amazonaws.com.pem", false)]
    [InlineData("https://sns.us-east-1.amazonaws.com:8443/x.pem", false)]
    [InlineData("https://sns.us-east-1.amazonaws.com/x.txt", false)]
    [InlineData(null, false)]
    [InlineData("https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-abc.pem", true)]
    [InlineData("https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem", true)]
    [InlineData("https://sns.s3.amazonaws.com/SimpleNotificationService-abc.pem", false)]      // not a region
    [InlineData("https://sns.evil-host.amazonaws.com/SimpleNotificationService-abc.pem", false)]
    [InlineData("https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", false)] // .cn only for cn- regions
    [InlineData("https://sns.cn-north-1.amazonaws.com/SimpleNotificationService-abc.pem", false)]
    [InlineData("https://u:p@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", false)]
    public void CertificateUrl_MustBeAnSnsHostOverHttps(string? url, bool ok) => Assert.Equal(ok, SnsVerifier.IsSnsCertificateUrl(url));

    [Theory]
    [InlineData("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t", "arn:aws:sns:eu-west-1:123456789012:photos", null)]
    [InlineData("https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription", "arn:aws-cn:sns:cn-north-1:123456789012:photos", null)]
    [InlineData("https://sns.eu-west-1.amazonaws.com:8443/?Action=ConfirmSubscription", "arn:aws:sns:eu-west-1:123456789012:photos", "not an AWS SNS endpoint")]
    [InlineData("http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription", "arn:aws:sns:eu-west-1:123456789012:photos", "not an AWS SNS endpoint")]
    [InlineData("https://sns.s3.amazonaws.com/?Action=ConfirmSubscription", "arn:aws:sns:eu-west-1:123456789012:photos", "not an AWS SNS endpoint")]
    [InlineData("https://sns.eu-west-1.amazonaws.com.evil.example/", "arn:aws:sns:eu-west-1:123456789012:photos", "not an AWS SNS endpoint")]
    [InlineData("https://x@sns.eu-west-1.amazonaws.com/", "arn:aws:sns:eu-west-1:123456789012:photos", "not an AWS SNS endpoint")]
    [InlineData("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", "arn:aws:sns:eu-west-1:123456789012:photos", "the topic in eu-west-1")]
    [InlineData("https://sns.eu-west-1.amazonaws.com/", "photos", "not an Amazon SNS topic ARN")]
    [InlineData("not a url", "arn:aws:sns:eu-west-1:123456789012:photos", "not an AWS SNS endpoint")]
    public void SubscribeUrl_MustBeTheTopicsRegionalSnsEndpoint_OnPort443(string url, string topic, string? problem)
    {
        var got = SnsVerifier.SubscribeUrlProblem(url, topic);
        if (problem is null) Assert.Null(got);
        else Assert.Contains(problem, got);
    }

    private static string JsonNodeWith(string json, string field, string value)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node[field] = value;
        return node.ToJsonString();
    }

    /// <summary>A test signer: an RSA key and a self-signed certificate, served by the verifier's injected fetcher.</summary>
    private sealed class TestSns : IDisposable
    {
        private readonly RSA _key = RSA.Create(2048);
        public const string CertUrl = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem";
        public byte[] Certificate { get; }
        public int Fetches;

        public TestSns()
        {
            var req = new CertificateRequest("CN=sns.amazonaws.com", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
            Certificate = req.CreateSelfSigned(now, now.AddYears(5)).Export(X509ContentType.Cert);
        }

        /// <param name="confirm">Answers the confirmation GET (a stand-in for SNS, which is not reachable from here).</param>
        public SnsVerifier Verifier(Func<Uri, Task<HttpResponseMessage>>? confirm = null) => new((url, _) =>
        {
            Interlocked.Increment(ref Fetches);
            return url.ToString() == CertUrl ? Task.FromResult(Certificate) : throw new HttpRequestException($"no certificate at {url}");
        }, (url, _) =>
        {
            Interlocked.Increment(ref Confirms);
            return confirm?.Invoke(url) ?? throw new InvalidOperationException("no confirmation expected");
        });

        public int Confirms;

        public string Sign(Dictionary<string, string> fields, string version = "2")
        {
            fields["SignatureVersion"] = version;
            fields["SigningCertURL"] = CertUrl;
            using var doc = JsonDocument.Parse(JsonSerializer.Serialize(fields));
            var text = SnsVerifier.StringToSign(doc.RootElement)!;
            var sig = _key.SignData(Encoding.UTF8.GetBytes(text), version == "1" ? HashAlgorithmName.SHA1 : HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            fields["Signature"] = Convert.ToBase64String(sig);
            return JsonSerializer.Serialize(fields);
        }

        public void Dispose() => _key.Dispose();
    }

    private static Dictionary<string, string> Notification(string message) => new()
    {
        ["Type"] = "Notification", ["MessageId"] = "m-1", ["TopicArn"] = "arn:aws:sns:eu-west-1:123456789012:photos",
        ["Message"] = message, ["Timestamp"] = "2026-11-22T07:00:00.000Z",
    };

    [Fact]
    public async Task Webhook_QueuesSignedSnsEvents_RefusesUnsignedForgedOrForeignlyCertifiedOnes()
    {
        using var sns = new TestSns();
        var (h, _, server, port) = await WebhookTests.StartAsync(token: null, verifySns: true, sns: sns.Verifier(), topicArns: [WebhookTests.Topic]);
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        async Task<HttpResponseMessage> Post(string body) => await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(body));

        var signed = sns.Sign(Notification(WebhookTests.AwsEvent("b", "signed.txt")));
        Assert.Equal(HttpStatusCode.OK, (await Post(signed)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Post(sns.Sign(Notification(WebhookTests.AwsEvent("b", "v1.txt")), version: "1"))).StatusCode);
        Assert.Equal(["signed.txt", "v1.txt"], h.State.OpenChanges("res").Select(c => c.Key).Order().ToArray());
        Assert.Equal(1, sns.Fetches); // the certificate is fetched once per URL

        // Unsigned, altered after signing, or a certificate URL that is not an SNS host: 403, nothing queued.
        var unsigned = JsonSerializer.Serialize(Notification(WebhookTests.AwsEvent("b", "unsigned.txt")));
        var forged = signed.Replace("signed.txt", "forged.txt", StringComparison.Ordinal);
        var foreign = JsonNodeWith(signed, "SigningCertURL", "https://evil.example/cert.pem");
        foreach (var (body, why) in new[] { (unsigned, "without a signature"), (forged, "does not verify"), (foreign, "not an HTTPS .pem URL of an Amazon SNS host") })
        {
            var resp = await Post(body);
            Assert.Equal(HttpStatusCode.Forbidden, resp.StatusCode);
            Assert.Contains(why, await resp.Content.ReadAsStringAsync());
            Assert.Contains("SNS message refused", await resp.Content.ReadAsStringAsync());
        }
        Assert.Equal(2, h.State.OpenChanges("res").Count);
        Assert.Equal(3, h.Metrics.Read("lifeboat_webhook_rejected_total", ("reason", "sns-signature")));

        // A raw S3 event (as Ceph RGW and MinIO POST them) is not SNS-shaped: no signature needed.
        Assert.Equal(HttpStatusCode.OK, (await Post(WebhookTests.AwsEvent("b", "raw.txt"))).StatusCode);
        Assert.Equal(3, h.State.OpenChanges("res").Count);
    }

    private static Dictionary<string, string> Confirmation(string topic, string subscribeUrl) => new()
    {
        ["Type"] = "SubscriptionConfirmation", ["MessageId"] = "m-2", ["TopicArn"] = topic, ["Token"] = "tok",
        ["Message"] = "You have chosen to subscribe", ["SubscribeURL"] = subscribeUrl, ["Timestamp"] = "2026-11-22T07:00:00.000Z",
    };

    private const string SubscribeUrl = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:photos&Token=tok";

    [Fact]
    public async Task WithoutTopicArns_EverySnsMessageIsRefused_EvenValidlySigned_AndNothingIsFetched()
    {
        using var sns = new TestSns();
        using var captured = new CapturedLogs();
        var (h, _, server, port) = await WebhookTests.StartAsync(token: null, verifySns: true, sns: sns.Verifier(), logs: captured.Factory);
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        foreach (var body in new[] { sns.Sign(Notification(WebhookTests.AwsEvent("b", "k"))), sns.Sign(Confirmation(WebhookTests.Topic, SubscribeUrl)) })
        {
            var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(body));
            Assert.Equal(HttpStatusCode.Forbidden, resp.StatusCode);
            Assert.Contains("none is listed", await resp.Content.ReadAsStringAsync());
        }
        Assert.Equal(0, sns.Fetches);
        Assert.Equal(0, sns.Confirms);
        Assert.Empty(h.State.OpenChanges("res"));
        Assert.Equal(2, h.Metrics.Read("lifeboat_webhook_rejected_total", ("reason", "sns-topic")));
        Assert.Contains("events.topic_arns", captured.Text);
        // Raw S3 events (RGW, MinIO) are not SNS messages: unaffected.
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(WebhookTests.AwsEvent("b", "raw.txt")))).StatusCode);
    }

    [Fact]
    public async Task OnlyListedTopics_AreConfirmedOrQueued()
    {
        using var sns = new TestSns();
        using var captured = new CapturedLogs();
        var asked = new List<Uri>();
        var (h, _, server, port) = await WebhookTests.StartAsync(token: null, verifySns: true, topicArns: [WebhookTests.Topic], logs: captured.Factory,
            sns: sns.Verifier(url => { lock (asked) asked.Add(url); return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)); }));
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        async Task<(HttpStatusCode, string)> Post(string body)
        {
            var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(body));
            return (resp.StatusCode, await resp.Content.ReadAsStringAsync());
        }
        const string other = "arn:aws:sns:eu-west-1:123456789012:someone-elses";
        var foreign = Notification(WebhookTests.AwsEvent("b", "foreign.txt"));
        foreign["TopicArn"] = other;
        var (code, text) = await Post(sns.Sign(foreign));
        Assert.Equal(HttpStatusCode.Forbidden, code);
        Assert.Contains("not in this webhook's events.topic_arns", text);
        (code, _) = await Post(sns.Sign(Confirmation(other, SubscribeUrl.Replace("photos", "someone-elses", StringComparison.Ordinal))));
        Assert.Equal(HttpStatusCode.Forbidden, code);
        Assert.Empty(asked);

        (code, text) = await Post(sns.Sign(Confirmation(WebhookTests.Topic, SubscribeUrl)));
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("confirmed\n", text);
        Assert.Equal(SubscribeUrl, Assert.Single(asked).ToString());
        Assert.Contains("confirmed the SNS subscription to " + WebhookTests.Topic, captured.Text);
        (code, _) = await Post(sns.Sign(Notification(WebhookTests.AwsEvent("b", "mine.txt"))));
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("mine.txt", Assert.Single(h.State.OpenChanges("res")).Key);
    }

    [Theory]
    [InlineData("unreachable", "cannot be reached")]
    [InlineData("403", "HTTP 403")]
    [InlineData("timeout", "did not answer")]
    public async Task FailedConfirmation_Answers502_IsLoggedOnceAsFailed_NeverAsConfirmed(string how, string why)
    {
        using var sns = new TestSns();
        using var captured = new CapturedLogs();
        var (h, _, server, port) = await WebhookTests.StartAsync(token: null, verifySns: true, topicArns: [WebhookTests.Topic], logs: captured.Factory,
            sns: sns.Verifier(url => how switch
            {
                "unreachable" => throw new HttpRequestException($"Name or service not known ({url.Host}:443)"),
                "timeout" => throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 10 seconds elapsing."),
                _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.Forbidden)),
            }));
        await using var _h = h;
        await using var _s = server;
        using var http = new HttpClient();
        var resp = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent(sns.Sign(Confirmation(WebhookTests.Topic, SubscribeUrl))));
        Assert.Equal(HttpStatusCode.BadGateway, resp.StatusCode);
        Assert.Contains(why, await resp.Content.ReadAsStringAsync());
        var lines = captured.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines, l => l.Contains("SNS subscription", StringComparison.Ordinal));
        Assert.Contains("failed", line);
        Assert.Contains(why, line);
        Assert.DoesNotContain("confirmed", captured.Text);
        Assert.DoesNotContain("   at ", captured.Text);
        Assert.DoesNotContain("Token=tok", captured.Text);
    }
}
