using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>What SigV4 signs: method, URL, headers (Host included) and the payload.</summary>
public sealed record SigV4Request(string Method, Uri Url, IReadOnlyList<KeyValuePair<string, string>> Headers, ReadOnlyMemory<byte> Payload);

/// <summary>Every intermediate of a signature, so tests can compare each step with AWS's published vectors.</summary>
public sealed record SigV4Signature(
    string AmzDate,
    string CanonicalRequest,
    string StringToSign,
    string Signature,
    string Authorization,
    string SignedHeaders);

/// <summary>
/// AWS Signature Version 4 (header form, "AWS4-HMAC-SHA256"), for services other than S3: the canonical URI is the
/// request's (already percent-encoded) path with each segment encoded once more, as AWS requires for every service
/// except S3; empty paths become "/".
/// Steps, as in AWS's "Create a signed AWS API request" guide:
/// 1. canonical request = METHOD \n URI \n sorted query \n lower-case sorted headers (values trimmed, inner spaces
///    collapsed, duplicates joined with ',') \n \n signed header names \n hex(SHA256(payload));
/// 2. string to sign = "AWS4-HMAC-SHA256" \n amz-date \n date/region/service/aws4_request \n hex(SHA256(canonical));
/// 3. key = HMAC chain "AWS4"+secret → date → region → service → "aws4_request"; signature = hex(HMAC(key, sts)).
/// </summary>
public static class SigV4Signer
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>Signs <paramref name="request"/> at <paramref name="time"/>. The request's headers must include Host
    /// and X-Amz-Date (see <see cref="AmzDate"/>); X-Amz-Security-Token, when a session token is used, must be among
    /// them too (it is signed, as DynamoDB requires).</summary>
    public static SigV4Signature Sign(SigV4Request request, string accessKey, string secretKey, string region, string service, DateTimeOffset time)
    {
        var amzDate = AmzDate(time);
        var date = amzDate[..8];
        var (canonicalHeaders, signedHeaders) = CanonicalHeaders(request.Headers);
        var canonical = string.Join('\n',
            request.Method.ToUpperInvariant(),
            CanonicalUri(request.Url),
            CanonicalQuery(request.Url.Query),
            canonicalHeaders,
            signedHeaders,
            Hex(SHA256.HashData(request.Payload.Span)));
        var scope = $"{date}/{region}/{service}/aws4_request";
        var stringToSign = string.Join('\n', Algorithm, amzDate, scope, Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))));
        var key = SigningKey(secretKey, date, region, service);
        var signature = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        var authorization = $"{Algorithm} Credential={accessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new SigV4Signature(amzDate, canonical, stringToSign, signature, authorization, signedHeaders);
    }

    /// <summary>The X-Amz-Date value: UTC, basic ISO 8601 (20150830T123600Z).</summary>
    public static string AmzDate(DateTimeOffset time) => time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    public static byte[] SigningKey(string secretKey, string date, string region, string service)
    {
        var k = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretKey), Encoding.UTF8.GetBytes(date));
        k = HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(region));
        k = HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(k, "aws4_request"u8);
    }

    private static string CanonicalUri(Uri url)
    {
        var path = url.AbsolutePath; // percent-encoded as sent on the wire
        if (path.Length == 0) return "/";
        var segments = path.Split('/');
        return string.Join('/', segments.Select(s => Encode(s)));
    }

    private static string CanonicalQuery(string query)
    {
        if (query.StartsWith('?')) query = query[1..];
        if (query.Length == 0) return "";
        var pairs = new List<(string Key, string Value)>();
        foreach (var part in query.Split('&'))
        {
            if (part.Length == 0) continue;
            var i = part.IndexOf('=');
            var k = i < 0 ? part : part[..i];
            var v = i < 0 ? "" : part[(i + 1)..];
            pairs.Add((Encode(Uri.UnescapeDataString(k)), Encode(Uri.UnescapeDataString(v))));
        }
        pairs.Sort((a, b) =>
        {
            var c = string.CompareOrdinal(a.Key, b.Key);
            return c != 0 ? c : string.CompareOrdinal(a.Value, b.Value);
        });
        return string.Join('&', pairs.Select(p => $"{p.Key}={p.Value}"));
    }

    private static (string Canonical, string Signed) CanonicalHeaders(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        var byName = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, value) in headers)
        {
            var n = name.Trim().ToLowerInvariant();
            if (!byName.TryGetValue(n, out var list)) byName[n] = list = [];
            list.Add(CollapseSpaces(value));
        }
        var sb = new StringBuilder();
        foreach (var (n, values) in byName) sb.Append(n).Append(':').Append(string.Join(',', values)).Append('\n');
        return (sb.ToString(), string.Join(';', byName.Keys));
    }

    private static string CollapseSpaces(string value)
    {
        var sb = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c is ' ' or '\t')
            {
                if (!space) sb.Append(' ');
                space = true;
            }
            else
            {
                sb.Append(c);
                space = false;
            }
        }
        return sb.ToString();
    }

    /// <summary>RFC 3986 percent-encoding of everything except the unreserved characters A-Z a-z 0-9 - _ . ~.</summary>
    public static string Encode(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var b in Encoding.UTF8.GetBytes(s))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~') sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
