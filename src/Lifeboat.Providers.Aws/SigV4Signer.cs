using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Lifeboat.Providers.Aws;

/// <summary>What SigV4 signs: method, URL, headers (Host included) and the payload. <see cref="RawPath"/> and
/// <see cref="RawQuery"/> override the URL's path and query as written on the request line (for AWS's test suite,
/// whose request lines carry unescaped paths such as <c>/example space/</c>); by default the URL's percent-encoded
/// path and query are used, as sent on the wire.</summary>
public sealed record SigV4Request(string Method, Uri Url, IReadOnlyList<KeyValuePair<string, string>> Headers, ReadOnlyMemory<byte> Payload)
{
    public string? RawPath { get; init; }
    public string? RawQuery { get; init; }
}

/// <summary>Every intermediate of a signature, so tests can compare each step with AWS's published vectors.</summary>
public sealed record SigV4Signature(
    string AmzDate,
    string CanonicalRequest,
    string StringToSign,
    string Signature,
    string Authorization,
    string SignedHeaders);

/// <summary>
/// AWS Signature Version 4 ("AWS4-HMAC-SHA256"), header form and query (pre-signed URL) form, for services other than
/// S3 (RDS, Route 53, DynamoDB Streams): the canonical URI is the request's path as sent, normalized (RFC 3986 dot
/// segments removed) and with each segment percent-encoded once more, as AWS requires for every service except S3;
/// an empty path becomes "/". Written here because AWSSDK.RDS / AWSSDK.Route53 / a Streams client are not in the
/// reachable NuGet copy; checked against AWS's published test suite (tests/Lifeboat.Tests/Aws/SigV4Vectors).
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
        var (canonicalHeaders, signedHeaders) = CanonicalHeaders(request.Headers);
        var canonical = string.Join('\n',
            request.Method.ToUpperInvariant(),
            CanonicalUri(request.RawPath ?? request.Url.AbsolutePath),
            CanonicalQuery(request.RawQuery ?? request.Url.Query),
            canonicalHeaders,
            signedHeaders,
            Hex(SHA256.HashData(request.Payload.Span)));
        var (sts, signature) = Finish(canonical, amzDate, secretKey, region, service);
        var authorization = $"{Algorithm} Credential={accessKey}/{Scope(amzDate, region, service)}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new SigV4Signature(amzDate, canonical, sts, signature, authorization, signedHeaders);
    }

    /// <summary>
    /// The query-string form (a pre-signed URL, as the SDKs make for RDS's cross-region PreSignedUrl): the
    /// authentication parameters X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders (and
    /// -Security-Token for temporary credentials, which is not a signed header here, as botocore does it) are added to
    /// the query and signed with it; X-Amz-Signature is appended last. <paramref name="headers"/> are the signed
    /// headers (at least Host). Returns the URL and the signature's intermediates.
    /// </summary>
    public static (string Url, SigV4Signature Signature) Presign(SigV4Request request, string accessKey, string secretKey, string? sessionToken,
        string region, string service, DateTimeOffset time, TimeSpan expires)
    {
        var amzDate = AmzDate(time);
        var (canonicalHeaders, signedHeaders) = CanonicalHeaders(request.Headers);
        var query = request.RawQuery ?? request.Url.Query;
        if (query.StartsWith('?')) query = query[1..];
        var auth = new List<(string, string)>
        {
            ("X-Amz-Algorithm", Algorithm),
            ("X-Amz-Credential", $"{accessKey}/{Scope(amzDate, region, service)}"),
            ("X-Amz-Date", amzDate),
            ("X-Amz-SignedHeaders", signedHeaders),
            ("X-Amz-Expires", ((long)expires.TotalSeconds).ToString(CultureInfo.InvariantCulture)),
        };
        if (!string.IsNullOrEmpty(sessionToken)) auth.Add(("X-Amz-Security-Token", sessionToken));
        var authQuery = string.Join('&', auth.Select(p => $"{Encode(p.Item1)}={Encode(p.Item2)}"));
        var fullQuery = query.Length == 0 ? authQuery : query + "&" + authQuery;
        var canonical = string.Join('\n',
            request.Method.ToUpperInvariant(),
            CanonicalUri(request.RawPath ?? request.Url.AbsolutePath),
            CanonicalQuery(fullQuery),
            canonicalHeaders,
            signedHeaders,
            Hex(SHA256.HashData(request.Payload.Span)));
        var (sts, signature) = Finish(canonical, amzDate, secretKey, region, service);
        var path = request.RawPath ?? request.Url.AbsolutePath;
        var url = $"{request.Url.Scheme}://{request.Url.Authority}{path}?{fullQuery}&X-Amz-Signature={signature}";
        return (url, new SigV4Signature(amzDate, canonical, sts, signature, "", signedHeaders));
    }

    /// <summary>Checks a pre-signed URL made by <see cref="Presign"/> (used by the tests' recorded-response server to
    /// verify RDS's PreSignedUrl as the source region would): recomputes the signature from its own parameters.</summary>
    public static bool VerifyPresigned(Uri url, string method, string secretKey, out string region, out string service, out string reason)
    {
        region = service = "";
        var pairs = ParseQuery(url.Query);
        string? Get(string k) => pairs.FirstOrDefault(p => p.Key == k).Value;
        var sig = Get("X-Amz-Signature");
        var cred = Get("X-Amz-Credential");
        var date = Get("X-Amz-Date");
        if (sig is null || cred is null || date is null || Get("X-Amz-SignedHeaders") != "host")
        {
            reason = "missing X-Amz-Signature, X-Amz-Credential, X-Amz-Date or SignedHeaders=host";
            return false;
        }
        var scope = cred.Split('/');
        if (scope.Length != 5) { reason = $"bad credential scope {cred}"; return false; }
        region = scope[2];
        service = scope[3];
        var rest = string.Join('&', pairs.Where(p => p.Key != "X-Amz-Signature").Select(p => $"{Encode(p.Key)}={Encode(p.Value)}"));
        var canonical = string.Join('\n', method, CanonicalUri(url.AbsolutePath), CanonicalQuery(rest),
            $"host:{url.Authority}\n", "host", Hex(SHA256.HashData(ReadOnlySpan<byte>.Empty)));
        var (_, expected) = Finish(canonical, date, secretKey, region, service);
        reason = expected == sig ? "" : $"signature mismatch (canonical request:\n{canonical})";
        return expected == sig;
    }

    private static string Scope(string amzDate, string region, string service) => $"{amzDate[..8]}/{region}/{service}/aws4_request";

    private static (string StringToSign, string Signature) Finish(string canonical, string amzDate, string secretKey, string region, string service)
    {
        var stringToSign = string.Join('\n', Algorithm, amzDate, Scope(amzDate, region, service), Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))));
        var key = SigningKey(secretKey, amzDate[..8], region, service);
        return (stringToSign, Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign))));
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

    /// <summary>The path as sent, normalized (RFC 3986 dot segments removed, repeated slashes collapsed, as AWS's
    /// test suite "normalize" cases expect), each segment encoded once more.</summary>
    internal static string CanonicalUri(string path)
    {
        if (path.Length == 0) return "/";
        var output = new List<string>();
        var segments = path.Split('/');
        // segments[0] is "" for an absolute path.
        for (var i = 1; i < segments.Length; i++)
        {
            var s = segments[i];
            var last = i == segments.Length - 1;
            if (s == "." || (s.Length == 0 && !last)) { if (last) output.Add(""); continue; } // "/./" and "//" collapse
            if (s == "..")
            {
                if (output.Count > 0) output.RemoveAt(output.Count - 1);
                if (last) output.Add("");
                continue;
            }
            output.Add(s);
        }
        return "/" + string.Join('/', output.Select(Encode));
    }

    private static List<KeyValuePair<string, string>> ParseQuery(string query)
    {
        if (query.StartsWith('?')) query = query[1..];
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var part in query.Split('&'))
        {
            if (part.Length == 0) continue;
            var i = part.IndexOf('=');
            var k = i < 0 ? part : part[..i];
            var v = i < 0 ? "" : part[(i + 1)..];
            pairs.Add(new(Uri.UnescapeDataString(k), Uri.UnescapeDataString(v)));
        }
        return pairs;
    }

    private static string CanonicalQuery(string query)
    {
        var pairs = ParseQuery(query).Select(p => (Key: Encode(p.Key), Value: Encode(p.Value))).ToList();
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
