using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Xml;
using System.Xml.Linq;
using Amazon.Runtime;
using Lifeboat.Abstractions;
using RetryPolicy = Lifeboat.Abstractions.RetryPolicy;

namespace Lifeboat.Providers.Aws;

/// <summary>An AWS service's error answer (or a network failure on the way to it): the error code and message as the
/// service sent them, the HTTP status, and whether retrying the same request can help.</summary>
public class AwsServiceException(string code, int status, string message, bool transient, string? requestId = null, Exception? inner = null)
    : Exception(message, inner), Lifeboat.Abstractions.IClassifiedError
{
    public Lifeboat.Abstractions.ErrorClass Class => Transient ? Lifeboat.Abstractions.ErrorClass.Transient : Lifeboat.Abstractions.ErrorClass.Permanent;
    public string Code { get; } = code;
    public int Status { get; } = status;
    public bool Transient { get; } = transient;
    public string? RequestId { get; } = requestId;
}

/// <summary>The service's endpoint could not be reached at all: its name does not resolve, or nothing accepts connections
/// there. Transient (retried like any network error), but when it persists the endpoint is most likely wrong, which
/// a one-shot command reports as a user error naming it instead of waiting on.</summary>
public sealed class AwsEndpointUnreachableException(string endpoint, string message, Exception inner)
    : AwsServiceException("", 0, message, transient: true, inner: inner)
{
    /// <summary>The endpoint, as shown to users (<see cref="Lifeboat.Abstractions.Redact.Url"/>).</summary>
    public string Endpoint { get; } = endpoint;

    /// <summary>Whether <paramref name="e"/> (or an exception inside it) says the name did not resolve or the
    /// connection was refused (or the host or network is unreachable).</summary>
    public static bool IsUnreachable(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError }) return true;
            if (e is SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData or SocketError.ConnectionRefused
                    or SocketError.HostUnreachable or SocketError.NetworkUnreachable }) return true;
        }
        return false;
    }
}

public sealed record AwsClientOptions
{
    public required Uri Endpoint { get; init; }
    /// <summary>The signing region (Route 53: us-east-1).</summary>
    public required string Region { get; init; }
    /// <summary>The signing service name ("rds", "route53").</summary>
    public required string Service { get; init; }
    public required Func<AWSCredentials> Credentials { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
    /// <summary>Attempts per call for throttling, 5xx and network errors (first try included).</summary>
    public int MaxAttempts { get; init; } = 8;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(20);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>For tests; default: a SocketsHttpHandler owned by the client.</summary>
    public HttpMessageHandler? Handler { get; init; }
}

/// <summary>
/// Sends SigV4-signed requests to an XML AWS API (RDS's Query protocol, Route 53's REST-XML) and reads the XML answer.
/// Throttling (Throttling, ThrottlingException, RequestLimitExceeded, PriorRequestNotComplete, HTTP 429), 5xx and
/// network errors are retried with the one <see cref="RetryPolicy"/> (capped exponential backoff and jitter, on the
/// injected clock); every other error is
/// thrown at once as an <see cref="AwsServiceException"/> with the service's code and message. Error bodies of both
/// shapes are read: <c>ErrorResponse/Error/{Code,Message}</c> and Route 53's <c>InvalidChangeBatch/Messages/Message</c>.
/// </summary>
public sealed class AwsHttp : IDisposable
{
    private static readonly HashSet<string> ThrottlingCodes = new(StringComparer.Ordinal)
    {
        "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled",
        "RequestThrottledException", "PriorRequestNotComplete", "ServiceUnavailable", "InternalFailure", "InternalError",
    };

    private readonly AwsClientOptions _o;
    private readonly HttpClient _http;
    private readonly RetryPolicy _retry;
    private long _retries;

    public AwsHttp(AwsClientOptions options)
    {
        _o = options;
        _retry = new RetryPolicy(options.MaxAttempts - 1, options.BaseDelay, options.MaxDelay);
        _http = new HttpClient(options.Handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectCallback = QuickAckConnection.ConnectAsync },
            disposeHandler: options.Handler is null) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public AwsClientOptions Options => _o;
    public long Retries => Interlocked.Read(ref _retries);
    public string Describe => $"{_o.Service} {_o.Region} ({_o.Endpoint.Authority})";

    /// <summary>Sends the request (retrying transient failures) and returns the parsed XML answer.</summary>
    public Task<XElement> SendAsync(HttpMethod method, string pathAndQuery, byte[]? body, string? contentType, string op, CancellationToken ct) =>
        _retry.RunAsync(t => SendOnceAsync(method, pathAndQuery, body, contentType, op, t),
            e => e is AwsServiceException { Transient: true }, _o.Time, (_, _) => Interlocked.Increment(ref _retries), ct);

    /// <summary>The credentials to sign with now.</summary>
    public Task<ImmutableCredentials> KeysAsync() => AwsCredentialResolver.KeysAsync(_o.Credentials, Describe);

    private async Task<XElement> SendOnceAsync(HttpMethod method, string pathAndQuery, byte[]? body, string? contentType, string op, CancellationToken ct)
    {
        var keys = await KeysAsync().ConfigureAwait(false);
        var url = new Uri(_o.Endpoint, pathAndQuery);
        using var req = new HttpRequestMessage(method, url);
        var payload = body ?? [];
        var now = _o.Time.GetUtcNow();
        var amzDate = SigV4Signer.AmzDate(now);
        var headers = new List<KeyValuePair<string, string>> { new("Host", url.Authority), new("X-Amz-Date", amzDate) };
        if (body is not null)
        {
            req.Content = new ByteArrayContent(payload);
            req.Content.Headers.TryAddWithoutValidation("Content-Type", contentType ?? "application/octet-stream");
            headers.Add(new("Content-Type", contentType ?? "application/octet-stream"));
        }
        if (keys.UseToken) headers.Add(new("X-Amz-Security-Token", keys.Token));
        var sig = SigV4Signer.Sign(new SigV4Request(method.Method, url, headers, payload), keys.AccessKey, keys.SecretKey, _o.Region, _o.Service, now);
        req.Headers.Host = url.Authority;
        req.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        if (keys.UseToken) req.Headers.TryAddWithoutValidation("X-Amz-Security-Token", keys.Token);
        req.Headers.TryAddWithoutValidation("Authorization", sig.Authorization);

        using var timeout = new CancellationTokenSource(_o.RequestTimeout, _o.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        HttpResponseMessage resp;
        byte[] answer;
        try
        {
            resp = await _http.SendAsync(req, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            answer = await resp.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (OperationCanceledException e)
        {
            throw new AwsServiceException("", 0, $"{Describe}: {op}: no answer within {_o.RequestTimeout.TotalSeconds:0}s", transient: true, inner: e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException)
        {
            var endpoint = Lifeboat.Abstractions.Redact.Url(_o.Endpoint.OriginalString) ?? "";
            var message = $"{Describe}: {op}: cannot reach {endpoint}: {e.Message.ReplaceLineEndings(" ")}";
            if (AwsEndpointUnreachableException.IsUnreachable(e)) throw new AwsEndpointUnreachableException(endpoint, message, e);
            throw new AwsServiceException("", 0, message, transient: true, inner: e);
        }
        using (resp)
        {
            var status = (int)resp.StatusCode;
            XElement? root = null;
            try { if (answer.Length > 0) root = XElement.Load(new MemoryStream(answer)); }
            catch (XmlException) when (!resp.IsSuccessStatusCode) { }
            catch (XmlException e)
            {
                throw new AwsServiceException("", status, $"{Describe}: {op}: unreadable answer: {e.Message}", transient: true, inner: e);
            }
            if (resp.IsSuccessStatusCode)
                return root ?? throw new AwsServiceException("", status, $"{Describe}: {op}: empty answer", transient: true);
            var (code, message, requestId) = ReadError(root);
            if (code.Length == 0) code = status == 429 ? "Throttling" : $"HTTP{status}";
            var transient = status is 429 or >= 500 || ThrottlingCodes.Contains(code);
            throw new AwsServiceException(code, status, $"{Describe}: {op}: {code}: {(message.Length > 0 ? message : resp.ReasonPhrase)}", transient, requestId);
        }
    }

    /// <summary>Code, message and request id of an AWS XML error body (ErrorResponse/Error or Route 53's
    /// InvalidChangeBatch with several Messages).</summary>
    public static (string Code, string Message, string? RequestId) ReadError(XElement? root)
    {
        if (root is null) return ("", "", null);
        var requestId = root.Descendants().FirstOrDefault(e => e.Name.LocalName is "RequestId" or "RequestID")?.Value;
        if (root.Name.LocalName == "InvalidChangeBatch")
        {
            var msgs = root.Descendants().Where(e => e.Name.LocalName == "Message").Select(e => e.Value.Trim());
            return ("InvalidChangeBatch", string.Join("; ", msgs), requestId);
        }
        var err = root.Name.LocalName == "Error" ? root : root.Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
        if (err is null) return ("", "", requestId);
        return (err.Child("Code")?.Value ?? "", err.Child("Message")?.Value ?? "", requestId);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Namespace-agnostic reading of AWS XML answers.</summary>
public static class AwsXml
{
    public static XElement? Child(this XElement e, string name) => e.Elements().FirstOrDefault(x => x.Name.LocalName == name);

    public static IEnumerable<XElement> Children(this XElement e, string name) => e.Elements().Where(x => x.Name.LocalName == name);

    public static string? Text(this XElement e, string name) => e.Child(name)?.Value;

    public static XElement Required(this XElement e, string name, string what) =>
        e.Child(name) ?? throw new AwsServiceException("", 200, $"{what}: the answer has no <{name}> element", transient: false);

    public static DateTimeOffset? Time(this XElement e, string name) =>
        e.Text(name) is { } s && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null;

    public static string Sha256Hex(ReadOnlySpan<byte> data) => SigV4Signer.Hex(SHA256.HashData(data));
}
