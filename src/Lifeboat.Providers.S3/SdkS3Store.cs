using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;

namespace Lifeboat.Providers.S3;

/// <summary>
/// AWS S3 (and S3-compatible stores when the lean path is off) through AWSSDK.S3. Every request's failure is mapped to a
/// <see cref="StoreException"/>: 5xx, throttling, timeouts and refused connections are transient; 4xx are permanent
/// and name the cause (missing bucket, access denied, bad credentials).
/// Uploads above the layout's threshold use multipart with exactly the layout's part size and up to
/// <see cref="PartConcurrency"/> parts in flight; every upload buffer is counted against the process-wide
/// <see cref="MemoryBudget"/>, so memory stays bounded whatever the concurrency and object sizes.
/// Every PUT and UploadPart carries Content-MD5, so the server itself rejects a corrupted body.
/// </summary>
internal sealed class SdkS3Store : IObjectStore, IPartSizeProbe, IMetadataUpdate
{
    private const int PartConcurrency = 4;
    private readonly AmazonS3Client _s3;
    private readonly string _endpoint;
    private readonly EndpointProfile _profile;
    private readonly bool _https;
    private readonly TimeProvider _time;

    /// <summary>The one retry policy (as the lean client's: twice, quickly, on its own; the caller's budget under a
    /// retrying caller). The SDK's own retries are off (MaxErrorRetry = 0): they nested inside the replicator's.</summary>
    private static readonly Lifeboat.Abstractions.RetryPolicy Retry = new(2, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(400));

    /// <summary>Bounds the bytes this store holds in upload buffers (shared with the other stores of the process).</summary>
    public MemoryBudget Budget { get; init; } = new(MemoryBudget.DefaultBytes);

    public SdkS3Store(StoreConfig cfg, EndpointProfile profile, AWSCredentials? creds, string describe, string endpoint, string identity,
        TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _profile = profile;
        // The SDK allows unsigned payloads only over TLS; over plain HTTP it signs the payload's SHA-256.
        _https = cfg.Endpoint is null || cfg.Endpoint.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        _endpoint = endpoint;
        Describe = describe;
        EndpointIdentity = identity;
        var config = new AmazonS3Config
        {
            ForcePathStyle = cfg.ForcePathStyle ?? profile.ForcePathStyle,
            RequestChecksumCalculation = profile.RequestChecksums,
            ResponseChecksumValidation = profile.ResponseChecksums,
            MaxErrorRetry = 0, // retried by Call, with the one policy
            Timeout = TimeSpan.FromSeconds(60),
            MaxConnectionsPerServer = 64,
        };
        if (cfg.Endpoint is not null)
        {
            config.ServiceURL = cfg.Endpoint;
            config.AuthenticationRegion = cfg.Region;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(cfg.Region ?? "us-east-1");
        }
        _s3 = creds is null ? new AmazonS3Client(config) : new AmazonS3Client(creds, config);
    }

    public string Describe { get; }
    public string EndpointIdentity { get; }
    public StoreCapabilities Capabilities => S3Store.S3Capabilities;

    private StoreException Map(Exception e, string what)
    {
        switch (e)
        {
            case StoreException se: return se;
            case AmazonS3Exception s3:
                return S3Errors.FromResponse(Describe, what, (int)s3.StatusCode, s3.ErrorCode ?? "", s3.Message, e);
            case AmazonServiceException svc when svc.InnerException is HttpRequestException or SocketException:
                return new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: cannot reach {_endpoint}: {svc.InnerException.Message}", e);
            case HttpRequestException or SocketException or IOException:
                return new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: cannot reach {_endpoint}: {e.Message}", e);
            case TaskCanceledException or TimeoutException:
                return new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: timed out talking to {_endpoint}", e);
            case AmazonClientException ce when ce.InnerException is HttpRequestException or SocketException or IOException or TimeoutException:
                return new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: {ce.Message}", e);
            case AmazonClientException ce:
                // The SDK refused the request itself (configuration, arguments): retrying cannot help.
                return new StoreException(StoreErrorKind.Permanent, $"{Describe}: {what}: {ce.Message}", e);
            default:
                return new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: {e.Message}", e);
        }
    }

    /// <summary>One SDK call, retried with the one policy (transient errors only; a request body is a MemoryStream the
    /// caller rewinds in <paramref name="f"/>), its errors mapped to <see cref="StoreException"/>.</summary>
    private Task<T> Call<T>(string what, Func<Task<T>> f, CancellationToken ct) =>
        Retry.RunAsync(async _ =>
        {
            try { return await f().ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (UserErrorException) { throw; } // e.g. refused AssumeRole: one line, no retries (as on the lean path)
            catch (StoreException) { throw; }
            catch (Exception e) { throw Map(e, what); }
        }, e => e is StoreException { Kind: StoreErrorKind.Transient }, _time, null, ct);

    public async Task CheckBucketAsync(string bucket, CancellationToken ct)
    {
        try
        {
            // URL-encoded keys: the first key may hold a character the SDK's XML reader refuses (ListAsync).
            await Call($"bucket '{bucket}'", () => _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1, Encoding = EncodingType.Url }, ct), ct)
                .ConfigureAwait(false);
        }
        catch (StoreException m) when (m.Kind == StoreErrorKind.NotFound)
        {
            throw new StoreException(StoreErrorKind.Permanent, m.Message, m.InnerException);
        }
    }

    public Task CreateBucketAsync(string bucket, CancellationToken ct) => Call($"create bucket '{bucket}'", async () =>
    {
        try { await _s3.PutBucketAsync(new PutBucketRequest { BucketName = bucket }, ct).ConfigureAwait(false); }
        catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou") { }
        return 0;
    }, ct);

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken ct)
    {
        string? token = null;
        do
        {
            // Keys come back URL-encoded (a key may hold characters XML 1.0 cannot carry). AWSSDK.S3 4.0 does not decode
            // them when the caller asks for the encoding (checked: Key stays "a%01b"), so they are decoded here, and only
            // when the answer says it is encoded (a server may ignore the request).
            var req = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, MaxKeys = 1000, ContinuationToken = token, Encoding = EncodingType.Url };
            if (token is null && startAfter is not null) req.StartAfter = startAfter;
            var resp = await Call($"list {bucket}/{prefix}", () => _s3.ListObjectsV2Async(req, ct), ct).ConfigureAwait(false);
            var encoded = resp.Encoding == EncodingType.Url;
            var page = new List<ObjectInfo>(resp.S3Objects?.Count ?? 0);
            try
            {
                foreach (var o in resp.S3Objects ?? [])
                    page.Add(new ObjectInfo(encoded ? S3Http.DecodeListedKey(o.Key) : o.Key, o.Size ?? 0, ETags.Normalize(o.ETag), new DateTimeOffset(o.LastModified ?? default, TimeSpan.Zero)));
            }
            catch (FormatException e) { throw new StoreException(StoreErrorKind.Transient, $"{Describe}: list {bucket}/{prefix}: unreadable answer from {_endpoint}: {e.Message}", e); }
            foreach (var o in page)
            {
                if (o.Key.EndsWith('/') && o.Size == 0) continue; // folder markers carry no data
                yield return o;
            }
            token = resp.IsTruncated == true ? resp.NextContinuationToken : null;
        } while (token is not null);
    }

    private static ObjectMetadata ReadMetadata(HeadersCollection headers, MetadataCollection meta, IReadOnlyDictionary<string, string> tags)
    {
        var user = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var k in meta.Keys)
        {
            var name = k.StartsWith("x-amz-meta-", StringComparison.OrdinalIgnoreCase) ? k["x-amz-meta-".Length..] : k;
            user[name.ToLowerInvariant()] = meta[k];
        }
        // "aws-chunked" describes how a request was sent, not the object; some servers store it anyway.
        var encoding = string.Join(",", (headers.ContentEncoding ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(e => !e.Equals("aws-chunked", StringComparison.OrdinalIgnoreCase)));
        return new ObjectMetadata(headers.ContentType, headers.CacheControl, encoding.Length == 0 ? null : encoding, user, tags);
    }

    private async Task<IReadOnlyDictionary<string, string>> TagsAsync(string bucket, string key, CancellationToken ct)
    {
        var resp = await Call($"tags of {bucket}/{key}", () => _s3.GetObjectTaggingAsync(new GetObjectTaggingRequest { BucketName = bucket, Key = key }, ct), ct).ConfigureAwait(false);
        return (resp.Tagging ?? []).ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
    }

    public async Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct)
    {
        var resp = await MetadataAsync(bucket, key, ct).ConfigureAwait(false);
        return resp is null ? null : new ObjectInfo(key, resp.ContentLength, ETags.Normalize(resp.ETag), new DateTimeOffset(resp.LastModified ?? default, TimeSpan.Zero));
    }

    private async Task<GetObjectMetadataResponse?> MetadataAsync(string bucket, string key, CancellationToken ct)
    {
        try
        {
            return await Call($"head {bucket}/{key}", () => _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, ct), ct)
                .ConfigureAwait(false);
        }
        catch (StoreException m) when (m.Kind == StoreErrorKind.NotFound) { return null; }
    }

    public async Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct)
    {
        var resp = await MetadataAsync(bucket, key, ct).ConfigureAwait(false);
        if (resp is null) return null;
        IReadOnlyDictionary<string, string> tags;
        try { tags = await TagsAsync(bucket, key, ct).ConfigureAwait(false); }
        catch (StoreException e) when (e.Kind == StoreErrorKind.NotFound) { return null; } // deleted between the two requests
        var info = new ObjectInfo(key, resp.ContentLength, ETags.Normalize(resp.ETag), new DateTimeOffset(resp.LastModified ?? default, TimeSpan.Zero));
        return new ObjectHead(info, ReadMetadata(resp.Headers, resp.Metadata, tags));
    }

    /// <summary>The part size the source used for a multipart object (HEAD partNumber=1), or null when the server does not say.</summary>
    public async Task<long?> FirstPartSizeAsync(string bucket, string key, CancellationToken ct)
    {
        try
        {
            var resp = await Call($"head part 1 of {bucket}/{key}",
                () => _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key, PartNumber = 1 }, ct), ct).ConfigureAwait(false);
            // A server that ignores partNumber (Ceph RGW 16) answers with the whole object and no parts count.
            return resp.PartsCount is > 0 ? resp.ContentLength : null;
        }
        catch (StoreException e) when (e.InnerException is AmazonS3Exception) { return null; }
    }

    public async Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct)
    {
        GetObjectResponse resp;
        try
        {
            resp = await Call($"get {bucket}/{key}", () => _s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key }, ct), ct).ConfigureAwait(false);
        }
        catch (StoreException m) when (m.Kind == StoreErrorKind.NotFound) { return null; }
        try
        {
            IReadOnlyDictionary<string, string> tags = (resp.TagCount ?? 0) > 0
                ? await TagsAsync(bucket, key, ct).ConfigureAwait(false)
                : new Dictionary<string, string>();
            var info = new ObjectInfo(key, resp.ContentLength, ETags.Normalize(resp.ETag), new DateTimeOffset(resp.LastModified ?? default, TimeSpan.Zero));
            return new ObjectReader(new ObjectHead(info, ReadMetadata(resp.Headers, resp.Metadata, tags)), new ResponseStream(resp));
        }
        catch
        {
            resp.Dispose();
            throw;
        }
    }

    /// <summary>Keeps the response (and its connection) alive as long as the body stream.</summary>
    private sealed class ResponseStream(GetObjectResponse resp) : Stream
    {
        private readonly Stream _inner = resp.ResponseStream;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => resp.ContentLength;
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) resp.Dispose();
            base.Dispose(disposing);
        }
    }

    private static void Apply(ObjectMetadata md, Action<string> contentType, HeadersCollection headers, MetadataCollection meta)
    {
        if (md.ContentType is not null) contentType(md.ContentType);
        if (md.CacheControl is not null) headers.CacheControl = md.CacheControl;
        if (md.ContentEncoding is not null) headers.ContentEncoding = md.ContentEncoding;
        foreach (var (k, v) in md.UserMetadata) meta.Add(k, v);
    }

    private static List<Tag> Tags(ObjectMetadata md) => md.Tags.Select(kv => new Tag { Key = kv.Key, Value = kv.Value }).ToList();

    private static async Task<int> ReadFullAsync(Stream s, byte[] buf, int count, CancellationToken ct)
    {
        var total = 0;
        while (total < count)
        {
            var n = await s.ReadAsync(buf.AsMemory(total, count - total), ct).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    public async Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct)
    {
        if (!layout.IsMultipart(length))
        {
            using var lease = await Budget.AcquireAsync(length, ct).ConfigureAwait(false);
            var buf = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
            try
            {
                var n = await ReadFullAsync(content, buf, (int)length, ct).ConfigureAwait(false);
                if (n != length || content.ReadByte() != -1)
                    throw new StoreException(StoreErrorKind.Transient, $"{Describe}: put {bucket}/{key}: the source gave {n} bytes where {length} were expected (it changed while being copied)");
                var req = new PutObjectRequest
                {
                    BucketName = bucket, Key = key,
                    InputStream = new MemoryStream(buf, 0, n, writable: false),
                    AutoCloseStream = false,
                    MD5Digest = Convert.ToBase64String(MD5.HashData(buf.AsSpan(0, n))),
                    UseChunkEncoding = _profile.ChunkedUploads,
                    // Content-MD5 already protects the body (the server rejects a mismatch) and the caller checks the
                    // returned ETag: a SHA-256 payload signature would be a third pass over every byte.
                    DisablePayloadSigning = _https,
                };
                Apply(metadata, v => req.ContentType = v, req.Headers, req.Metadata);
                if (metadata.Tags.Count > 0) req.TagSet = Tags(metadata);
                var resp = await Call($"put {bucket}/{key}", () => { req.InputStream.Position = 0; return _s3.PutObjectAsync(req, ct); }, ct).ConfigureAwait(false);
                return ETags.Normalize(resp.ETag);
            }
            finally { ArrayPool<byte>.Shared.Return(buf); }
        }
        return await MultipartPutAsync(bucket, key, content, length, metadata, layout.PartSize, ct).ConfigureAwait(false);
    }

    private async Task<string> MultipartPutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, long partSize, CancellationToken ct)
    {
        var init = new InitiateMultipartUploadRequest { BucketName = bucket, Key = key };
        Apply(metadata, v => init.ContentType = v, init.Headers, init.Metadata);
        if (metadata.Tags.Count > 0) init.TagSet = Tags(metadata);
        var upload = await Call($"start multipart {bucket}/{key}", () => _s3.InitiateMultipartUploadAsync(init, ct), ct).ConfigureAwait(false);
        var parts = new List<PartETag>();
        var inflight = new List<Task<PartETag>>();
        try
        {
            var partCount = (int)((length + partSize - 1) / partSize);
            for (var i = 1; i <= partCount; i++)
            {
                var size = (int)Math.Min(partSize, length - (i - 1) * partSize);
                var lease = await Budget.AcquireAsync(size, ct).ConfigureAwait(false);
                var buf = ArrayPool<byte>.Shared.Rent(size);
                var n = await ReadFullAsync(content, buf, size, ct).ConfigureAwait(false);
                if (n != size)
                {
                    ArrayPool<byte>.Shared.Return(buf);
                    lease.Dispose();
                    throw new StoreException(StoreErrorKind.Transient, $"{Describe}: put {bucket}/{key}: the source ended early at part {i} (it changed while being copied)");
                }
                inflight.Add(UploadPartAsync(bucket, key, upload.UploadId, i, buf, size, lease, ct));
                if (inflight.Count >= PartConcurrency)
                {
                    var done = await Task.WhenAny(inflight).ConfigureAwait(false);
                    inflight.Remove(done);
                    parts.Add(await done.ConfigureAwait(false));
                }
            }
            if (content.ReadByte() != -1)
                throw new StoreException(StoreErrorKind.Transient, $"{Describe}: put {bucket}/{key}: the source is longer than {length} bytes (it changed while being copied)");
            parts.AddRange(await Task.WhenAll(inflight).ConfigureAwait(false));
            inflight.Clear();
            parts.Sort((a, b) => (a.PartNumber ?? 0).CompareTo(b.PartNumber ?? 0));
            var complete = new CompleteMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = upload.UploadId, PartETags = parts };
            var resp = await Call($"complete multipart {bucket}/{key}", () => _s3.CompleteMultipartUploadAsync(complete, ct), ct).ConfigureAwait(false);
            var etag = ETags.Normalize(resp.ETag);
            if (etag.Length == 0)
            {
                // Some servers (Ceph RGW 16) return the ETag in a form the SDK does not surface: ask for it.
                var head = await Call($"head {bucket}/{key}", () => _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, ct), ct).ConfigureAwait(false);
                etag = ETags.Normalize(head.ETag);
            }
            if (metadata.Tags.Count > 0)
            {
                // Ceph RGW 16 ignores the tagging header on CreateMultipartUpload: set the tags explicitly.
                await Call($"tag {bucket}/{key}", () => _s3.PutObjectTaggingAsync(new PutObjectTaggingRequest
                {
                    BucketName = bucket, Key = key, Tagging = new Tagging { TagSet = Tags(metadata) },
                }, ct), ct).ConfigureAwait(false);
            }
            return etag;
        }
        catch
        {
            try { await Task.WhenAll(inflight).ConfigureAwait(false); } catch (Exception) { /* the original error is what matters; parts are aborted below */ }
            try
            {
                await _s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = upload.UploadId }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception) { /* best effort: an unaborted upload leaves invisible parts, never a visible object */ }
            throw;
        }
    }

    private async Task<PartETag> UploadPartAsync(string bucket, string key, string uploadId, int number, byte[] buf, int size, IDisposable lease, CancellationToken ct)
    {
        using var _ = lease;
        try
        {
            var req = new UploadPartRequest
            {
                BucketName = bucket, Key = key, UploadId = uploadId, PartNumber = number,
                InputStream = new MemoryStream(buf, 0, size, writable: false),
                PartSize = size,
                MD5Digest = Convert.ToBase64String(MD5.HashData(buf.AsSpan(0, size))),
                UseChunkEncoding = _profile.ChunkedUploads,
                DisablePayloadSigning = _https,
            };
            var resp = await Call($"upload part {number} of {bucket}/{key}", () => { req.InputStream.Position = 0; return _s3.UploadPartAsync(req, ct); }, ct).ConfigureAwait(false);
            return new PartETag(number, resp.ETag);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    public async Task<string> CopyAsync(string sourceBucket, string sourceKey, string targetBucket, string targetKey, ObjectMetadata metadata, CancellationToken ct)
    {
        // COPY directives: the server copies the source's current metadata and tags with its bytes.
        var req = new CopyObjectRequest
        {
            SourceBucket = sourceBucket, SourceKey = sourceKey,
            DestinationBucket = targetBucket, DestinationKey = targetKey,
            MetadataDirective = S3MetadataDirective.COPY,
        };
        var resp = await Call($"copy {sourceBucket}/{sourceKey} to {targetBucket}/{targetKey}", () => _s3.CopyObjectAsync(req, ct), ct).ConfigureAwait(false);
        return ETags.Normalize(resp.ETag);
    }

    /// <summary>As <see cref="HttpS3Store.UpdateMetadataAsync"/>: a copy onto itself with REPLACE for headers, then the tags.</summary>
    public async Task<bool> UpdateMetadataAsync(string bucket, string key, ObjectHead current, ObjectMetadata metadata, CancellationToken ct)
    {
        var headers = metadata.HeadersDifferFrom(current.Metadata);
        if (headers)
        {
            // AWS (and moto) give a multipart object copied onto itself a new single-part ETag, which nothing can check
            // against the source's: such an object is copied again from the source instead.
            if (current.Info.Size > S3Store.MaxCopySize || ETags.IsMultipart(current.Info.ETag, out _)) return false;
            var req = new CopyObjectRequest
            {
                SourceBucket = bucket, SourceKey = key,
                DestinationBucket = bucket, DestinationKey = key,
                MetadataDirective = S3MetadataDirective.REPLACE,
                ETagToMatch = $"\"{current.Info.ETag}\"",
            };
            Apply(metadata, v => req.ContentType = v, req.Headers, req.Metadata);
            var resp = await Call($"replace metadata of {bucket}/{key}", () => _s3.CopyObjectAsync(req, ct), ct).ConfigureAwait(false);
            var etag = ETags.Normalize(resp.ETag);
            if (etag.Length == 0) etag = (await StatAsync(bucket, key, ct).ConfigureAwait(false))?.ETag ?? "";
            if (etag != current.Info.ETag) return false;
        }
        // The tag set, also again after a copy (AWS keeps the tags, Ceph RGW 16 drops them). No tags are an empty set:
        // after DeleteObjectTagging, Ceph RGW 16 lists the object with an empty ETag.
        if (headers ? metadata.Tags.Count > 0 || current.Metadata.Tags.Count > 0 : metadata.TagsDifferFrom(current.Metadata))
            await Call($"tag {bucket}/{key}", () => _s3.PutObjectTaggingAsync(new PutObjectTaggingRequest
            {
                BucketName = bucket, Key = key, Tagging = new Tagging { TagSet = Tags(metadata) },
            }, ct), ct).ConfigureAwait(false);
        return true;
    }

    public Task DeleteAsync(string bucket, string key, CancellationToken ct) => Call($"delete {bucket}/{key}", async () =>
    {
        await _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key }, ct).ConfigureAwait(false);
        return 0;
    }, ct);

    public ValueTask DisposeAsync()
    {
        _s3.Dispose();
        return ValueTask.CompletedTask;
    }
}
