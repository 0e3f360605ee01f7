using Lifeboat.Abstractions;

namespace Lifeboat.Providers.S3;

/// <summary>How an S3 error response becomes a <see cref="StoreException"/>, the same for the SDK and the lean path:
/// a missing key is NotFound; 5xx, throttling, timeouts and corrupted bodies are transient; other 4xx are permanent and
/// name the cause (missing bucket, access denied, bad credentials).</summary>
internal static class S3Errors
{
    public static StoreException FromResponse(string describe, string what, int status, string code, string? message, Exception inner)
    {
        var msg = code switch
        {
            "NoSuchBucket" => $"{describe}: {what}: the bucket does not exist",
            "AccessDenied" => $"{describe}: {what}: access denied (check the credentials and the bucket policy)",
            "InvalidAccessKeyId" => $"{describe}: {what}: the access key is not known to the endpoint (wrong credentials)",
            "SignatureDoesNotMatch" => $"{describe}: {what}: signature mismatch (wrong secret key)",
            _ => $"{describe}: {what}: {status} {code} {message}".TrimEnd(),
        };
        if (code is "NoSuchKey" || (status == 404 && code is not "NoSuchBucket"))
            return new StoreException(StoreErrorKind.NotFound, msg, inner);
        var transient = status >= 500 || status == 429 || code is "SlowDown" or "RequestTimeout" or "InternalError" or "ServiceUnavailable" or "XAmzContentSHA256Mismatch" or "BadDigest" or "IncompleteBody";
        return new StoreException(transient ? StoreErrorKind.Transient : StoreErrorKind.Permanent, msg, inner) { MissingBucket = code == "NoSuchBucket" };
    }
}
