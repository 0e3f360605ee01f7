using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Xml;
using Amazon.Runtime;
using Lifeboat.Abstractions;
using RetryPolicy = Lifeboat.Abstractions.RetryPolicy;
using Lifeboat.Providers.Aws;

namespace Lifeboat.Providers.S3;

/// <summary>An S3 error response: the HTTP status and the S3 error code (from the XML body, or made up from the
/// status when there is no body, as for HEAD: 404 NotFound, 403 Forbidden...).</summary>
internal sealed class S3ErrorResponse(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
}

/// <summary>One request of <see cref="S3Http"/>. <see cref="Query"/> holds unencoded names and values; a null value is a
/// bare sub-resource such as <c>?tagging</c>. <see cref="Headers"/> are sent and signed (x-amz-*, Content-MD5), or only
/// sent (Content-Type, Cache-Control, Content-Encoding).</summary>
internal sealed class S3Request(HttpMethod method, string bucket, string? key)
{
    public HttpMethod Method { get; } = method;
    public string Bucket { get; } = bucket;
    public string? Key { get; } = key;
    public List<(string Name, string? Value)> Query { get; } = [];
    public List<(string Name, string Value)> Headers { get; } = [];
    public ReadOnlyMemory<byte>? Body { get; init; }
}

/// <summary>
/// The lean S3 request path: REST calls over one pooled <see cref="HttpClient"/> (SocketsHttpHandler), signed with
/// SigV4 by <see cref="S3Signer"/>. It exists for speed: AWSSDK.S3 spends ~2 ms of CPU per request and ~0.5 s on its
/// first one, which on a small machine shared with the S3 server is wall time (docs/benchmarks.md).
/// Retries transient failures (5xx, 429/SlowDown, RequestTimeout, connection errors, timeouts) with the one
/// <see cref="RetryPolicy"/>: twice, quickly, on its own (a start-up check fails fast), or with the budget of the
/// retrying caller it runs under (a copy under the replicator); every request body is in memory, so a retry resends it.
/// Payloads are signed with their SHA-256 over plain HTTP and sent as UNSIGNED-PAYLOAD over TLS (where Content-MD5
/// and TLS protect the body), as the SDK does.
/// </summary>
internal sealed class S3Http : IDisposable
{
    private static readonly RetryPolicy Retry = new(2, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(400));
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);
    private static readonly UriCreationOptions RawUri = new() { DangerousDisablePathAndQueryCanonicalization = true };

    private readonly HttpClient _http;
    private readonly string _scheme;
    private readonly string _host;      // host[:port] as the Host header carries it
    private readonly string _basePath;  // the endpoint's own path, without a trailing '/'
    private readonly bool _pathStyle;
    private readonly bool _unsignedPayload;
    private readonly string _region;
    private readonly Func<AWSCredentials> _credentials;
    private readonly TimeProvider _time;
    private readonly S3Signer _signer = new();

    public S3Http(string endpoint, string region, bool pathStyle, Func<AWSCredentials> credentials, TimeProvider time)
    {
        var uri = new Uri(endpoint);
        _scheme = uri.Scheme;
        _host = uri.IsDefaultPort ? uri.IdnHost : $"{uri.IdnHost}:{uri.Port}";
        _basePath = uri.AbsolutePath.TrimEnd('/');
        _pathStyle = pathStyle;
        _unsignedPayload = uri.Scheme == Uri.UriSchemeHttps;
        _region = region;
        _credentials = credentials;
        _time = time;
        _http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 64,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(50),
            AutomaticDecompression = DecompressionMethods.None, // objects are passed on byte for byte
            AllowAutoRedirect = false,
            UseCookies = false,
            ConnectCallback = QuickAckConnection.ConnectAsync, // no 40 ms delayed-ACK stalls on kept-alive connections
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // per request, below (a streamed GET is not bounded by it)
        };
    }

    /// <summary>Sends <paramref name="req"/> (retrying transient failures) and returns the successful response; the
    /// caller disposes it. With <paramref name="stream"/> the body is left unread on the connection.</summary>
    public Task<HttpResponseMessage> SendAsync(S3Request req, CancellationToken ct, bool stream = false) =>
        Retry.RunAsync(t => SendOnceAsync(req, stream, t), Retryable, _time, null, ct);

    private static bool Retryable(Exception e) => e switch
    {
        S3ErrorResponse r => r.Status >= 500 || r.Status == 429 || r.Code is "SlowDown" or "RequestTimeout" or "InternalError",
        HttpRequestException or IOException or TimeoutException or TaskCanceledException => true,
        _ => false,
    };

    private async Task<HttpResponseMessage> SendOnceAsync(S3Request req, bool stream, CancellationToken ct)
    {
        using var msg = await BuildAsync(req).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RequestTimeout);
        HttpResponseMessage resp;
        try
        {
            resp = await _http.SendAsync(msg, stream ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"no answer within {RequestTimeout.TotalSeconds:0} s", e);
        }
        if (resp.IsSuccessStatusCode) return resp;
        using (resp)
        {
            string body;
            try { body = await resp.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false); }
            catch (Exception) when (!ct.IsCancellationRequested) { body = ""; }
            throw ErrorFrom((int)resp.StatusCode, body);
        }
    }

    /// <summary>The error an S3 error document describes; with no document (HEAD), one named after the status.</summary>
    public static S3ErrorResponse ErrorFrom(int status, string body)
    {
        string? code = null, message = null;
        if (body.Length > 0 && body.Contains("<Error", StringComparison.Ordinal))
        {
            try
            {
                using var x = XmlReader.Create(new StringReader(body), XmlSettings);
                while (x.Read())
                {
                    if (x.NodeType != XmlNodeType.Element) continue;
                    if (x.Name == "Code") code = x.ReadElementContentAsString();
                    else if (x.Name == "Message") message = x.ReadElementContentAsString();
                }
            }
            catch (XmlException) { /* not an S3 error document: fall back to the status below */ }
        }
        code ??= status switch
        {
            301 => "PermanentRedirect",
            400 => "BadRequest",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            412 => "PreconditionFailed",
            503 => "ServiceUnavailable",
            _ => ((HttpStatusCode)status).ToString(),
        };
        return new S3ErrorResponse(status, code, message ?? "");
    }

    public static readonly XmlReaderSettings XmlSettings = new()
    {
        // Keys may hold characters XML 1.0 forbids; S3 escapes them as character references.
        CheckCharacters = false,
        DtdProcessing = DtdProcessing.Prohibit,
        IgnoreWhitespace = true,
        IgnoreComments = true,
    };

    private async Task<HttpRequestMessage> BuildAsync(S3Request req)
    {
        var host = _pathStyle || req.Bucket.Length == 0 ? _host : $"{req.Bucket}.{_host}";
        var path = new StringBuilder(_basePath);
        if (_pathStyle && req.Bucket.Length > 0) path.Append('/').Append(req.Bucket);
        path.Append('/');
        if (req.Key is not null) AppendEncodedKey(path, req.Key);
        else if (_pathStyle && req.Bucket.Length > 0) path.Length--; // "/bucket", not "/bucket/"
        var canonicalPath = path.ToString();
        if (canonicalPath.Length == 0) canonicalPath = "/";

        var (canonicalQuery, wireQuery) = Query(req.Query);
        var url = new Uri($"{_scheme}://{host}{canonicalPath}{(wireQuery.Length > 0 ? "?" + wireQuery : "")}", RawUri);

        var body = req.Body;
        var payloadHash = body is null || body.Value.Length == 0 ? S3Signer.EmptyHash
            : _unsignedPayload ? S3Signer.UnsignedPayload
            : SigV4Signer.Hex(SHA256.HashData(body.Value.Span));
        var creds = await _credentials().GetCredentialsAsync().ConfigureAwait(false);
        var amzDate = SigV4Signer.AmzDate(_time.GetUtcNow());

        var msg = new HttpRequestMessage(req.Method, url) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var signed = new List<(string Name, string Value)>(8)
        {
            ("host", host),
            ("x-amz-content-sha256", payloadHash),
            ("x-amz-date", amzDate),
        };
        if (!string.IsNullOrEmpty(creds.Token)) signed.Add(("x-amz-security-token", creds.Token));
        if (body is not null || req.Method == HttpMethod.Put || req.Method == HttpMethod.Post)
            msg.Content = new ReadOnlyMemoryContent(body ?? ReadOnlyMemory<byte>.Empty);
        foreach (var (name, value) in signed)
            if (name != "host") msg.Headers.TryAddWithoutValidation(name, value);
        foreach (var (name, value) in req.Headers)
        {
            var lower = name.ToLowerInvariant();
            if (lower.StartsWith("x-amz-", StringComparison.Ordinal) || lower == "content-md5") signed.Add((lower, value));
            if (lower is "content-type" or "content-encoding" or "content-md5" or "content-disposition" or "content-language" or "expires")
            {
                msg.Content ??= new ReadOnlyMemoryContent(ReadOnlyMemory<byte>.Empty);
                msg.Content.Headers.TryAddWithoutValidation(name, value);
            }
            else msg.Headers.TryAddWithoutValidation(name, value);
        }
        msg.Headers.Host = host;
        msg.Headers.TryAddWithoutValidation("Authorization",
            _signer.Authorization(req.Method.Method, canonicalPath, canonicalQuery, signed, payloadHash, amzDate, creds.AccessKey, creds.SecretKey, _region));
        return msg;
    }

    /// <summary>The query as signed and as sent, sorted by encoded name then value (the same order both ways); a bare
    /// sub-resource (null value) is sent as <c>?tagging</c> and signed as <c>tagging=</c>.</summary>
    public static (string Canonical, string Wire) Query(IReadOnlyList<(string Name, string? Value)> pairs)
    {
        // Plain arrays and an insertion sort (a request has a handful of parameters): LINQ's sorting over tuples cost
        // ~10 ms of start-up in generic code compiled on first use (docs/benchmarks.md).
        var names = new string[pairs.Count];
        var values = new string?[pairs.Count];
        for (var i = 0; i < pairs.Count; i++)
            InsertSorted(names, values, i, SigV4Signer.Encode(pairs[i].Name), pairs[i].Value is { } v ? SigV4Signer.Encode(v) : null, byValue: true);
        var canonical = new StringBuilder();
        var wire = new StringBuilder();
        for (var i = 0; i < names.Length; i++)
        {
            if (i > 0) { canonical.Append('&'); wire.Append('&'); }
            canonical.Append(names[i]).Append('=').Append(values[i]);
            wire.Append(names[i]);
            if (values[i] is not null) wire.Append('=').Append(values[i]);
        }
        return (canonical.ToString(), wire.ToString());
    }

    /// <summary>Inserts a pair into the first <paramref name="count"/> entries of parallel arrays kept sorted by name
    /// (ordinal), after the entries of the same name (stable), or among them by value when <paramref name="byValue"/>.</summary>
    internal static void InsertSorted(string[] names, string?[] values, int count, string name, string? value, bool byValue)
    {
        var j = count;
        for (; j > 0; j--)
        {
            var c = string.CompareOrdinal(names[j - 1], name);
            if (c < 0 || (c == 0 && (!byValue || string.CompareOrdinal(values[j - 1] ?? "", value ?? "") <= 0))) break;
            names[j] = names[j - 1];
            values[j] = values[j - 1];
        }
        names[j] = name;
        values[j] = value;
    }

    /// <summary>The key as S3 expects it in the path: every byte but the unreserved ones and '/' percent-encoded
    /// (S3 signs this path as sent, without a second encoding or dot-segment normalization).</summary>
    public static void AppendEncodedKey(StringBuilder sb, string key)
    {
        var first = true;
        foreach (var segment in key.Split('/'))
        {
            if (!first) sb.Append('/');
            first = false;
            sb.Append(SigV4Signer.Encode(segment));
        }
    }

    public static string EncodedKey(string key)
    {
        var sb = new StringBuilder(key.Length + 8);
        AppendEncodedKey(sb, key);
        return sb.ToString();
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// A key (or prefix, start-after, delimiter) of a listing answered with <c>encoding-type=url</c>: %XX is a byte of
    /// the key's UTF-8, '+' a space (AWS S3 writes spaces so; Ceph RGW and AWS write a literal '+' as %2B), any other
    /// character itself. Listings ask for this encoding because a key may hold characters XML 1.0 cannot carry (0x01,
    /// a bare CR, white space an XML reader folds or drops). A malformed escape or bytes that are not UTF-8 are a
    /// <see cref="FormatException"/> (an unreadable answer), never a silently different key.
    /// </summary>
    public static string DecodeListedKey(string encoded)
    {
        if (encoded.AsSpan().IndexOfAny('%', '+') < 0) return encoded;
        var bytes = new byte[StrictUtf8.GetMaxByteCount(encoded.Length)];
        var n = 0;
        for (var i = 0; i < encoded.Length; i++)
        {
            var c = encoded[i];
            if (c == '%')
            {
                if (i + 2 >= encoded.Length || !byte.TryParse(encoded.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                    throw new FormatException($"a listed key with a malformed %-escape at {i}: '{encoded}'");
                bytes[n++] = b;
                i += 2;
            }
            else if (c == '+') bytes[n++] = (byte)' ';
            else if (c < 0x80) bytes[n++] = (byte)c;
            else
            {
                // A character the server left unencoded (with its surrogate pair, if any).
                var len = char.IsHighSurrogate(c) && i + 1 < encoded.Length ? 2 : 1;
                try { n += StrictUtf8.GetBytes(encoded.AsSpan(i, len), bytes.AsSpan(n)); }
                catch (EncoderFallbackException) { throw new FormatException($"a listed key with a lone surrogate at {i}: '{encoded}'"); }
                i += len - 1;
            }
        }
        try { return StrictUtf8.GetString(bytes, 0, n); }
        catch (DecoderFallbackException) { throw new FormatException($"a listed key that is not UTF-8 once decoded: '{encoded}'"); }
    }

    /// <summary>The first value of a response header (general or content), or null.</summary>
    public static string? Header(HttpResponseMessage resp, string name)
    {
        if (resp.Headers.NonValidated.TryGetValues(name, out var v)) foreach (var s in v) return s;
        if (resp.Content.Headers.NonValidated.TryGetValues(name, out v)) foreach (var s in v) return s;
        return null;
    }

    public static long ContentLength(HttpResponseMessage resp) =>
        long.TryParse(Header(resp, "Content-Length"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : resp.Content.Headers.ContentLength ?? 0;

    public static DateTimeOffset LastModified(HttpResponseMessage resp) =>
        DateTimeOffset.TryParse(Header(resp, "Last-Modified"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t.ToUniversalTime() : default;

    public static DateTimeOffset ParseIsoTime(string s) =>
        DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : default;

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// SigV4 for S3 requests, built on the shared <see cref="SigV4Signer"/> (signing key, encoding, date format) with
/// S3's own canonical request rules: the canonical URI is the path exactly as sent (already URI-encoded once, not
/// encoded again and not normalized: S3 keys may contain "//" or "..") and the payload hash is the
/// x-amz-content-sha256 header's value (a hex SHA-256, or UNSIGNED-PAYLOAD over TLS), which must be sent and signed.
/// The signing key is derived once per day, region and secret.
/// </summary>
internal sealed class S3Signer
{
    public const string UnsignedPayload = "UNSIGNED-PAYLOAD";
    public static readonly string EmptyHash = SigV4Signer.Hex(SHA256.HashData(ReadOnlySpan<byte>.Empty));

    private sealed record KeyCache(string Date, string Region, string Secret, byte[] Key);
    private KeyCache? _key;

    /// <param name="headers">Signed headers, names in lower case, host included.</param>
    public string Authorization(string method, string canonicalPath, string canonicalQuery, IReadOnlyList<(string Name, string Value)> headers,
        string payloadHash, string amzDate, string accessKey, string secretKey, string region)
    {
        var (canonical, signedHeaders) = CanonicalRequest(method, canonicalPath, canonicalQuery, headers, payloadHash);
        var date = amzDate[..8];
        var scope = $"{date}/{region}/s3/aws4_request";
        var stringToSign = $"{SigV4Signer.Algorithm}\n{amzDate}\n{scope}\n{SigV4Signer.Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var cache = _key;
        if (cache is null || cache.Date != date || cache.Region != region || cache.Secret != secretKey)
            _key = cache = new KeyCache(date, region, secretKey, SigV4Signer.SigningKey(secretKey, date, region, "s3"));
        var signature = SigV4Signer.Hex(HMACSHA256.HashData(cache.Key, Encoding.UTF8.GetBytes(stringToSign)));
        return $"{SigV4Signer.Algorithm} Credential={accessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
    }

    public static (string Canonical, string SignedHeaders) CanonicalRequest(string method, string canonicalPath, string canonicalQuery,
        IReadOnlyList<(string Name, string Value)> headers, string payloadHash)
    {
        // Sorted by name with an insertion sort, which keeps repeated headers in the order given; their values are
        // joined with ',' (plain arrays: see Query).
        var names = new string[headers.Count];
        var values = new string?[headers.Count];
        for (var i = 0; i < headers.Count; i++)
            S3Http.InsertSorted(names, values, i, headers[i].Name.ToLowerInvariant(), Collapse(headers[i].Value), byValue: false);
        var sb = new StringBuilder(512);
        sb.Append(method).Append('\n').Append(canonicalPath).Append('\n').Append(canonicalQuery).Append('\n');
        var signedHeaders = new StringBuilder(128);
        for (var i = 0; i < names.Length; i++)
        {
            if (i > 0 && names[i] == names[i - 1])
            {
                sb.Length--; // the previous line's '\n': a repeated header continues it
                sb.Append(',').Append(values[i]).Append('\n');
                continue;
            }
            sb.Append(names[i]).Append(':').Append(values[i]).Append('\n');
            if (signedHeaders.Length > 0) signedHeaders.Append(';');
            signedHeaders.Append(names[i]);
        }
        sb.Append('\n').Append(signedHeaders).Append('\n').Append(payloadHash);
        return (sb.ToString(), signedHeaders.ToString());
    }

    private static string Collapse(string value)
    {
        value = value.Trim();
        if (!value.Contains("  ", StringComparison.Ordinal) && !value.Contains('\t')) return value;
        var sb = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value)
        {
            if (c is ' ' or '\t') { if (!space) sb.Append(' '); space = true; }
            else { sb.Append(c); space = false; }
        }
        return sb.ToString();
    }
}
