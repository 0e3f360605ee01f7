using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lifeboat.Core.Replication;

namespace Lifeboat.Hosting;

/// <summary>
/// Checks that a message posted to the webhook in SNS's shape really comes from Amazon SNS, as AWS documents it
/// ("Verifying the signatures of Amazon SNS messages"): the signing certificate must be served over HTTPS by an SNS
/// host (exactly sns.REGION.amazonaws.com, or sns.cn-REGION.amazonaws.com.cn, port 443, a .pem path; fetched once per
/// URL and cached, the TLS connection to that host is what vouches for it), and the Signature (SignatureVersion 1: RSA SHA1, 2: RSA SHA256, PKCS#1 v1.5) must verify over
/// the canonical string of the message's fields. No AWS SNS package is in the mirror, so this is written here (see
/// <see cref="StringToSign"/>); it is checked against a message Amazon SNS signed (tests/Lifeboat.Tests/Aws/RecordedResponses).
/// Without it, anyone who can reach the webhook could make Lifeboat confirm subscriptions and queue keys (a queued key
/// only makes Lifeboat look at the source again, but it costs requests). It also confirms subscriptions
/// (<see cref="ConfirmAsync"/>), only at an SNS endpoint of the topic's own region (<see cref="SubscribeUrlProblem"/>).
/// </summary>
/// <param name="fetchCertificate">Gets a signing certificate's bytes (production: HTTPS GET).</param>
/// <param name="get">Sends the confirmation GET (production: HTTPS GET with a 10 s timeout); tests inject a stand-in,
/// since no SNS endpoint is reachable from the test machines.</param>
public sealed partial class SnsVerifier(Func<Uri, CancellationToken, Task<byte[]>> fetchCertificate,
    Func<Uri, CancellationToken, Task<HttpResponseMessage>>? get = null)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly ConcurrentDictionary<string, X509Certificate2> _certs = new(StringComparer.Ordinal);
    private readonly Func<Uri, CancellationToken, Task<HttpResponseMessage>> _get = get ?? ((url, ct) => Http.GetAsync(url, ct));

    /// <summary>Fetches certificates from the SNS host named in the message (production).</summary>
    public static SnsVerifier Default { get; } = new(async (url, ct) => await Http.GetByteArrayAsync(url, ct).ConfigureAwait(false));

    // AWS region names (us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, ...); China's regions under amazonaws.com.cn.
    [GeneratedRegex(@"^sns\.(?<region>[a-z]{2}(-gov)?-[a-z]+-[0-9]{1,2})\.amazonaws\.com(?<cn>\.cn)?$")]
    private static partial Regex SnsHost();

    /// <summary>The region of an Amazon SNS endpoint URL: HTTPS, port 443, no user-info, host exactly
    /// <c>sns.REGION.amazonaws.com</c> (<c>.com.cn</c> for, and only for, the cn- regions); null for anything else.</summary>
    public static string? SnsEndpointRegion(Uri u)
    {
        if (u.Scheme != Uri.UriSchemeHttps || u.Port != 443 || u.UserInfo.Length > 0 || u.HostNameType != UriHostNameType.Dns) return null;
        var m = SnsHost().Match(u.Host);
        if (!m.Success) return null;
        var region = m.Groups["region"].Value;
        return region.StartsWith("cn-", StringComparison.Ordinal) == m.Groups["cn"].Success ? region : null;
    }

    public static bool IsSnsCertificateUrl(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) && SnsEndpointRegion(u) is not null &&
        u.AbsolutePath.EndsWith(".pem", StringComparison.Ordinal);

    /// <summary>Why Lifeboat will not GET <paramref name="subscribeUrl"/> to confirm a subscription to
    /// <paramref name="topicArn"/>, or null: it must be an SNS endpoint (see <see cref="SnsEndpointRegion"/>) of the
    /// topic's own region.</summary>
    public static string? SubscribeUrlProblem(string subscribeUrl, string topicArn)
    {
        if (!Uri.TryCreate(subscribeUrl, UriKind.Absolute, out var u) || SnsEndpointRegion(u) is not { } region)
            return "SubscribeURL is not an AWS SNS endpoint (https://sns.REGION.amazonaws.com, port 443)";
        var arn = S3Events.SnsTopicArn().Match(topicArn);
        if (!arn.Success) return "TopicArn is not an Amazon SNS topic ARN";
        return arn.Groups["region"].Value == region ? null : $"SubscribeURL is in {region}, the topic in {arn.Groups["region"].Value}";
    }

    /// <summary>Confirms a subscription (GET of its SubscribeURL, checked by <see cref="SubscribeUrlProblem"/> first):
    /// null when SNS answered 2xx, else why not, in one line.</summary>
    public async Task<string?> ConfirmAsync(SnsSubscriptionConfirmation c, CancellationToken ct)
    {
        try
        {
            using var resp = await _get(new Uri(c.SubscribeUrl), ct).ConfigureAwait(false);
            return resp.IsSuccessStatusCode ? null : $"{new Uri(c.SubscribeUrl).Host} answered HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}";
        }
        catch (HttpRequestException e)
        {
            return $"{new Uri(c.SubscribeUrl).Host} cannot be reached: {e.Message.ReplaceLineEndings(" ")}";
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"{new Uri(c.SubscribeUrl).Host} did not answer within 10 s";
        }
    }

    /// <summary>The string SNS signs: the listed fields, in this order, each as "Name\nValue\n" (Subject only when
    /// present), for Notification; SubscribeURL and Token instead of Subject for the two confirmation types.</summary>
    public static string? StringToSign(JsonElement m)
    {
        string? S(string name) => m.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        string[] fields = S("Type") switch
        {
            "Notification" => ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
            "SubscriptionConfirmation" or "UnsubscribeConfirmation" => ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
            _ => [],
        };
        if (fields.Length == 0) return null;
        var sb = new StringBuilder();
        foreach (var f in fields)
        {
            var v = S(f);
            if (v is null && f == "Subject") continue;
            if (v is null) return null;
            sb.Append(f).Append('\n').Append(v).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Whether <paramref name="m"/> is signed by the key of <paramref name="cert"/>.</summary>
    public static bool Verify(JsonElement m, X509Certificate2 cert)
    {
        var text = StringToSign(m);
        if (text is null || !m.TryGetProperty("Signature", out var sigProp) || sigProp.ValueKind != JsonValueKind.String || sigProp.GetString() is not { } sig64) return false;
        var hash = (m.TryGetProperty("SignatureVersion", out var ver) && ver.ValueKind == JsonValueKind.String ? ver.GetString() : null) switch
        {
            "1" => HashAlgorithmName.SHA1,
            "2" => HashAlgorithmName.SHA256,
            _ => default,
        };
        if (hash == default) return false;
        byte[] sig;
        try { sig = Convert.FromBase64String(sig64); }
        catch (FormatException) { return false; }
        using var rsa = cert.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(Encoding.UTF8.GetBytes(text), sig, hash, RSASignaturePadding.Pkcs1);
    }

    /// <summary>Null when <paramref name="body"/> is not an SNS message (a raw S3 event) or is a correctly signed one;
    /// otherwise why it is refused.</summary>
    public async Task<string?> CheckAsync(byte[] body, CancellationToken ct)
    {
        try
        {
            return await CheckCoreAsync(body, ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            // A field that is not valid UTF-8 (JsonElement.GetString).
            return $"an unreadable SNS message: {e.Message.ReplaceLineEndings(" ")}";
        }
    }

    private async Task<string?> CheckCoreAsync(byte[] body, CancellationToken ct)
    {
        using var doc = TryParse(body);
        if (doc is null || doc.RootElement.ValueKind != JsonValueKind.Object ||
            !doc.RootElement.TryGetProperty("Type", out var type) || type.ValueKind != JsonValueKind.String) return null;
        var m = doc.RootElement;
        var certUrl = m.TryGetProperty("SigningCertURL", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        if (!m.TryGetProperty("Signature", out _)) return "an SNS message without a signature";
        if (!IsSnsCertificateUrl(certUrl)) return $"SigningCertURL '{S3Events.Shown(Lifeboat.Abstractions.Redact.Url(certUrl))}' is not an HTTPS .pem URL of an Amazon SNS host";
        X509Certificate2 cert;
        try
        {
            if (!_certs.TryGetValue(certUrl!, out cert!))
            {
                cert = X509CertificateLoader.LoadCertificate(await fetchCertificate(new Uri(certUrl!), ct).ConfigureAwait(false));
                _certs[certUrl!] = cert;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or CryptographicException)
        {
            return $"cannot get the SNS signing certificate {certUrl}: {e.Message.ReplaceLineEndings(" ")}";
        }
        return Verify(m, cert) ? null : "the SNS signature does not verify (forged or altered message)";
    }

    private static JsonDocument? TryParse(byte[] body)
    {
        try { return JsonDocument.Parse(body); }
        catch (JsonException) { return null; }
    }
}
