using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Lifeboat.Cli.Hosting;
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
    public void CertificateUrl_MustBeAnSnsHostOverHttps(string? url, bool ok) => Assert.Equal(ok, SnsVerifier.IsSnsCertificateUrl(url));

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

        public SnsVerifier Verifier() => new((url, _) =>
        {
            Interlocked.Increment(ref Fetches);
            return url.ToString() == CertUrl ? Task.FromResult(Certificate) : throw new HttpRequestException($"no certificate at {url}");
        });

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
        var (h, _, server, port) = await WebhookTests.StartAsync(token: null, verifySns: true, sns: sns.Verifier());
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
        }
        Assert.Equal(2, h.State.OpenChanges("res").Count);
        Assert.Equal(3, h.Metrics.Read("lifeboat_webhook_rejected_total", ("reason", "sns-signature")));

        // A raw S3 event (as Ceph RGW and MinIO POST them) is not SNS-shaped: no signature needed.
        Assert.Equal(HttpStatusCode.OK, (await Post(WebhookTests.AwsEvent("b", "raw.txt"))).StatusCode);
        Assert.Equal(3, h.State.OpenChanges("res").Count);
    }
}
