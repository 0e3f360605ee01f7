using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Lifeboat.Cli.Hosting;

/// <summary>
/// Checks that a message posted to the webhook in SNS's shape really comes from Amazon SNS, as AWS documents it
/// ("Verifying the signatures of Amazon SNS messages"): the signing certificate must be served over HTTPS by an SNS
/// host (sns.REGION.amazonaws.com[.cn], a .pem path; fetched once per URL and cached, the TLS connection to that host is
/// what vouches for it), and the Signature (SignatureVersion 1: RSA SHA1, 2: RSA SHA256, PKCS#1 v1.5) must verify over
/// the canonical string of the message's fields. No AWS SNS package is in the mirror, so this is written here (see
/// <see cref="StringToSign"/>); it is checked against a message Amazon SNS signed (tests/Lifeboat.Tests/Aws/RecordedResponses).
/// Without it, anyone who can reach the webhook could make Lifeboat confirm subscriptions and queue keys (a queued key
/// only makes Lifeboat look at the source again, but it costs requests).
/// </summary>
public sealed partial class SnsVerifier(Func<Uri, CancellationToken, Task<byte[]>> fetchCertificate)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly ConcurrentDictionary<string, X509Certificate2> _certs = new(StringComparer.Ordinal);

    /// <summary>Fetches certificates from the SNS host named in the message (production).</summary>
    public static SnsVerifier Default { get; } = new(async (url, ct) => await Http.GetByteArrayAsync(url, ct).ConfigureAwait(false));

    [GeneratedRegex(@"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")]
    private static partial Regex SnsHost();

    public static bool IsSnsCertificateUrl(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme == Uri.UriSchemeHttps && u.IsDefaultPort &&
        SnsHost().IsMatch(u.Host) && u.AbsolutePath.EndsWith(".pem", StringComparison.Ordinal);

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
        if (text is null || !m.TryGetProperty("Signature", out var sigProp) || sigProp.GetString() is not { } sig64) return false;
        var hash = (m.TryGetProperty("SignatureVersion", out var ver) ? ver.GetString() : null) switch
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
        using var doc = TryParse(body);
        if (doc is null || doc.RootElement.ValueKind != JsonValueKind.Object ||
            !doc.RootElement.TryGetProperty("Type", out var type) || type.ValueKind != JsonValueKind.String) return null;
        var m = doc.RootElement;
        var certUrl = m.TryGetProperty("SigningCertURL", out var c) ? c.GetString() : null;
        if (!m.TryGetProperty("Signature", out _)) return "an SNS message without a signature";
        if (!IsSnsCertificateUrl(certUrl)) return $"SigningCertURL '{certUrl}' is not an HTTPS .pem URL of an Amazon SNS host";
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
            return $"cannot get the SNS signing certificate {certUrl}: {e.Message}";
        }
        return Verify(m, cert) ? null : "the SNS signature does not verify (forged or altered message)";
    }

    private static JsonDocument? TryParse(byte[] body)
    {
        try { return JsonDocument.Parse(body); }
        catch (JsonException) { return null; }
    }
}
