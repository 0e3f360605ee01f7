using Amazon.Runtime;

namespace Lifeboat.Providers.S3;

/// <summary>
/// Per-endpoint quirks as data (the rclone way), chosen by whether the store names a custom endpoint.
/// AWS endpoints keep the SDK's defaults (flexible checksums, virtual-hosted style). Custom endpoints (Ceph RGW,
/// MinIO, s3rver...) get path-style addressing and "checksums only when required", because servers such as
/// Ceph RGW 16 reject the SDK's default CRC32 trailers with 400 XAmzContentSHA256Mismatch.
/// </summary>
public sealed record EndpointProfile(
    string Name,
    bool ForcePathStyle,
    RequestChecksumCalculation RequestChecksums,
    ResponseChecksumValidation ResponseChecksums,
    /// <summary>Whether DeleteObjects (multi-object delete) is safe; Ceph RGW 16.2.15 aborts on it for buckets with notifications.</summary>
    bool BatchDelete,
    /// <summary>Whether uploads may use aws-chunked streaming signatures; Ceph RGW 16 stores "aws-chunked" as the
    /// object's Content-Encoding, so compatible endpoints get plain signed payloads.</summary>
    bool ChunkedUploads,
    /// <summary>Whether requests go through the lean HttpClient path instead of AWSSDK.S3 (see S3Store): on for
    /// S3-compatible endpoints, where it is tested against Ceph RGW; AWS keeps the SDK's defaults.</summary>
    bool LeanRequests)
{
    public static EndpointProfile Aws { get; } = new("aws", false,
        RequestChecksumCalculation.WHEN_SUPPORTED, ResponseChecksumValidation.WHEN_SUPPORTED, BatchDelete: true, ChunkedUploads: true, LeanRequests: false);

    public static EndpointProfile Compatible { get; } = new("s3-compatible", true,
        RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation.WHEN_REQUIRED, BatchDelete: false, ChunkedUploads: false, LeanRequests: true);

    public static EndpointProfile For(string? endpoint) =>
        endpoint is null || IsAwsHost(new Uri(endpoint).Host) ? Aws : Compatible;

    private static bool IsAwsHost(string host) =>
        host.EndsWith(".amazonaws.com", StringComparison.OrdinalIgnoreCase) ||
        host.EndsWith(".amazonaws.com.cn", StringComparison.OrdinalIgnoreCase);
}
