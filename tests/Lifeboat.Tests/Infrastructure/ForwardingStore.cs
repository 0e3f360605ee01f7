using Lifeboat.Abstractions;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>A store that passes every call to <paramref name="inner"/>: the base of the tests' fault-injecting and
/// watching decorators, which override only the calls they change.</summary>
public abstract class ForwardingStore(IObjectStore inner) : IObjectStore
{
    protected IObjectStore Inner { get; } = inner;
    public virtual string Describe => Inner.Describe;
    public virtual string EndpointIdentity => Inner.EndpointIdentity;
    public virtual StoreCapabilities Capabilities => Inner.Capabilities;
    public virtual Task CheckBucketAsync(string bucket, CancellationToken ct) => Inner.CheckBucketAsync(bucket, ct);
    public virtual Task CreateBucketAsync(string bucket, CancellationToken ct) => Inner.CreateBucketAsync(bucket, ct);
    public virtual IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, CancellationToken ct) => Inner.ListAsync(bucket, prefix, startAfter, ct);
    public virtual Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct) => Inner.HeadAsync(bucket, key, ct);
    public virtual Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct) => Inner.StatAsync(bucket, key, ct);
    public virtual Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct) => Inner.GetAsync(bucket, key, ct);
    public virtual Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct) =>
        Inner.PutAsync(bucket, key, content, length, metadata, layout, ct);
    public virtual Task<string> CopyAsync(string sourceBucket, string sourceKey, string targetBucket, string targetKey, ObjectMetadata metadata, CancellationToken ct) =>
        Inner.CopyAsync(sourceBucket, sourceKey, targetBucket, targetKey, metadata, ct);
    public virtual Task DeleteAsync(string bucket, string key, CancellationToken ct) => Inner.DeleteAsync(bucket, key, ct);
    public virtual ValueTask DisposeAsync() => Inner.DisposeAsync();
}
