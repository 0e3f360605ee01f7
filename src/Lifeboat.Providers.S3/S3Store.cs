using Lifeboat.Core.Replication;
using Amazon.Runtime;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Providers.Aws;

namespace Lifeboat.Providers.S3;

/// <summary>
/// AWS S3 and S3-compatible stores. Which client carries the requests is endpoint data (<see cref="EndpointProfile"/>):
/// S3-compatible endpoints (Ceph RGW, MinIO...) use the lean request path (<see cref="HttpS3Store"/>: HttpClient and the
/// project's SigV4 signer, ~10x less CPU per request than AWSSDK.S3 and no SDK start-up), AWS endpoints keep AWSSDK.S3
/// with its defaults (<see cref="SdkS3Store"/>: flexible checksums, virtual-hosted addressing, region redirects).
/// Both give the same contract and errors; setting LIFEBOAT_S3_CLIENT=sdk in the environment puts every store on the
/// SDK (for comparison, or as a fallback should an S3-compatible server disagree with the lean path).
/// Credentials are resolved the same way for both (<see cref="AwsCredentialResolver"/>: key env vars, profile,
/// role_arn, else the SDK's default chain); the lean path asks them for fresh keys on every request, so temporary
/// credentials are refreshed by the SDK's providers as usual.
/// </summary>
public sealed class S3Store : IObjectStore, IPartSizeProbe, IMetadataUpdate
{
    private readonly IObjectStore _impl;

    public S3Store(StoreConfig cfg) : this(cfg, TimeProvider.System) { }

    /// <param name="budget">Bounds the bytes held in upload buffers; shared by the stores of one process (Runtime).</param>
    public S3Store(StoreConfig cfg, TimeProvider time, MemoryBudget? budget = null)
    {
        budget ??= new MemoryBudget(MemoryBudget.DefaultBytes);
        var profile = EndpointProfile.For(cfg.Endpoint);
        var endpoint = Redact.Url(cfg.Endpoint) ?? $"AWS S3 ({cfg.Region})"; // shown in messages only
        Describe = $"store '{cfg.Name}' ({endpoint})";
        EndpointIdentity = $"{cfg.Endpoint ?? "aws:" + cfg.Region}|{cfg.Profile}|{cfg.AccessKeyEnv}|{cfg.RoleArn}";
        var creds = ResolveCredentials(cfg);
        var lean = profile.LeanRequests && cfg.Endpoint is not null &&
                   !string.Equals(Environment.GetEnvironmentVariable("LIFEBOAT_S3_CLIENT"), "sdk", StringComparison.OrdinalIgnoreCase);
        _impl = lean
            ? new HttpS3Store(cfg, profile, AwsCredentialResolver.Source(creds, cfg.Where.ToString()), time, Describe, EndpointIdentity) { Budget = budget }
            : new SdkS3Store(cfg, profile, creds, Describe, endpoint, EndpointIdentity, time) { Budget = budget };
    }

    /// <summary>The credentials a store config names (key env vars, profile, role_arn), or null for the SDK's default chain.
    /// Shared with the DynamoDB provider so every AWS store resolves credentials the same way.</summary>
    public static AWSCredentials? ResolveCredentials(StoreConfig cfg) => AwsCredentialResolver.Resolve(cfg);

    /// <summary>The largest object one CopyObject can copy (S3's limit).</summary>
    internal const long MaxCopySize = 5L << 30;

    internal static StoreCapabilities S3Capabilities { get; } = new(ServerSideCopy: true, Multipart: true,
        DefaultMultipartThreshold: 8L << 20, DefaultPartSize: 8L << 20, MaxParts: 10_000);

    /// <summary>Which client carries the requests ("lean" or "sdk"), for logs and tests.</summary>
    public string Client => _impl is HttpS3Store ? "lean" : "sdk";

    public string Describe { get; }
    public string EndpointIdentity { get; }
    public StoreCapabilities Capabilities => S3Capabilities;

    public Task CheckBucketAsync(string bucket, CancellationToken ct) => _impl.CheckBucketAsync(bucket, ct);
    public Task CreateBucketAsync(string bucket, CancellationToken ct) => _impl.CreateBucketAsync(bucket, ct);
    public IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, CancellationToken ct) => _impl.ListAsync(bucket, prefix, startAfter, ct);
    public Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct) => _impl.HeadAsync(bucket, key, ct);
    public Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct) => _impl.StatAsync(bucket, key, ct);
    public Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct) => _impl.GetAsync(bucket, key, ct);
    public Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct) =>
        _impl.PutAsync(bucket, key, content, length, metadata, layout, ct);
    public Task<string> CopyAsync(string sourceBucket, string sourceKey, string targetBucket, string targetKey, ObjectMetadata metadata, CancellationToken ct) =>
        _impl.CopyAsync(sourceBucket, sourceKey, targetBucket, targetKey, metadata, ct);
    public Task DeleteAsync(string bucket, string key, CancellationToken ct) => _impl.DeleteAsync(bucket, key, ct);
    public Task<bool> UpdateMetadataAsync(string bucket, string key, ObjectHead current, ObjectMetadata metadata, CancellationToken ct) =>
        ((IMetadataUpdate)_impl).UpdateMetadataAsync(bucket, key, current, metadata, ct);
    public Task<long?> FirstPartSizeAsync(string bucket, string key, CancellationToken ct) => ((IPartSizeProbe)_impl).FirstPartSizeAsync(bucket, key, ct);
    public ValueTask DisposeAsync() => _impl.DisposeAsync();
}
