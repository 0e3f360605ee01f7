namespace Lifeboat.Abstractions;

/// <summary>One object as a listing reports it.</summary>
/// <param name="Key">The full key, not URL-encoded.</param>
/// <param name="Size">Length in bytes.</param>
/// <param name="ETag">The store's entity tag without quotes: the MD5 hex of the content for single-part
/// uploads, <c>md5(concat(md5(part)))-N</c> for multipart ones.</param>
public sealed record ObjectInfo(string Key, long Size, string ETag, DateTimeOffset LastModified);

/// <summary>The metadata Lifeboat preserves across a copy.</summary>
public sealed record ObjectMetadata(
    string? ContentType,
    string? CacheControl,
    string? ContentEncoding,
    IReadOnlyDictionary<string, string> UserMetadata,
    IReadOnlyDictionary<string, string> Tags)
{
    public static ObjectMetadata Empty { get; } = new(null, null, null,
        new Dictionary<string, string>(), new Dictionary<string, string>());

    /// <summary>Compares two metadata sets the way verify does: content headers, user metadata
    /// (keys case-insensitive, as S3 lower-cases them) and tags.</summary>
    public IReadOnlyList<string> DifferencesFrom(ObjectMetadata other)
    {
        var diffs = new List<string>();
        HeaderDifferences(other, diffs);
        CompareMaps("tag", Tags, other.Tags, diffs);
        return diffs;
    }

    /// <summary>Whether the content headers or user metadata differ (what an S3 copy with REPLACE rewrites).</summary>
    public bool HeadersDifferFrom(ObjectMetadata other)
    {
        var diffs = new List<string>();
        HeaderDifferences(other, diffs);
        return diffs.Count > 0;
    }

    /// <summary>Whether the tag sets differ (what PutObjectTagging rewrites).</summary>
    public bool TagsDifferFrom(ObjectMetadata other)
    {
        var diffs = new List<string>();
        CompareMaps("tag", Tags, other.Tags, diffs);
        return diffs.Count > 0;
    }

    private void HeaderDifferences(ObjectMetadata other, List<string> diffs)
    {
        if (!string.Equals(NormType(ContentType), NormType(other.ContentType), StringComparison.Ordinal))
            diffs.Add($"content-type {Show(ContentType)} vs {Show(other.ContentType)}");
        if (!string.Equals(Norm(CacheControl), Norm(other.CacheControl), StringComparison.Ordinal))
            diffs.Add($"cache-control {Show(CacheControl)} vs {Show(other.CacheControl)}");
        if (!string.Equals(Norm(ContentEncoding), Norm(other.ContentEncoding), StringComparison.Ordinal))
            diffs.Add($"content-encoding {Show(ContentEncoding)} vs {Show(other.ContentEncoding)}");
        CompareMaps("metadata", Lower(UserMetadata), Lower(other.UserMetadata), diffs);
    }

    private static string? Norm(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>S3 stores an object put without a content type as application/octet-stream (AWS: binary/octet-stream):
    /// the three mean the same.</summary>
    private static string? NormType(string? s) => s is null or "" or "application/octet-stream" or "binary/octet-stream" ? null : s;
    private static string Show(string? s) => s is null ? "(none)" : $"'{s}'";

    private static Dictionary<string, string> Lower(IReadOnlyDictionary<string, string> map) =>
        map.ToDictionary(kv => kv.Key.ToLowerInvariant(), kv => kv.Value, StringComparer.Ordinal);

    private static void CompareMaps(string what, IReadOnlyDictionary<string, string> a,
        IReadOnlyDictionary<string, string> b, List<string> diffs)
    {
        foreach (var (k, v) in a)
        {
            if (!b.TryGetValue(k, out var w)) diffs.Add($"{what} '{k}' missing on target");
            else if (!string.Equals(v, w, StringComparison.Ordinal)) diffs.Add($"{what} '{k}' '{v}' vs '{w}'");
        }
        foreach (var k in b.Keys)
            if (!a.ContainsKey(k)) diffs.Add($"{what} '{k}' only on target");
    }
}

/// <summary>What HEAD returns: the listing facts plus the metadata.</summary>
public sealed record ObjectHead(ObjectInfo Info, ObjectMetadata Metadata);

/// <summary>What a store can do; vendor quirks are data here, not code paths.</summary>
public sealed record StoreCapabilities(
    bool ServerSideCopy,
    bool Multipart,
    long DefaultMultipartThreshold,
    long DefaultPartSize,
    int MaxParts);

/// <summary>
/// The object-store contract every provider implements and the conformance suite checks.
/// Keys are opaque strings compared ordinally; listings are in ascending ordinal (UTF-8 byte) order.
/// Errors: a missing object is <c>null</c> from <see cref="HeadAsync"/>; every other failure is a
/// <see cref="StoreException"/> whose <see cref="StoreException.Kind"/> says whether retrying can help.
/// </summary>
public interface IObjectStore : IAsyncDisposable
{
    /// <summary>Names the store in messages: its config name and endpoint.</summary>
    string Describe { get; }

    /// <summary>Identity of the endpoint and credentials; two stores with the same identity can copy server-side.</summary>
    string EndpointIdentity { get; }

    StoreCapabilities Capabilities { get; }

    /// <summary>Fails with a permanent <see cref="StoreException"/> naming the bucket when it does not exist
    /// or cannot be reached with these credentials.</summary>
    Task CheckBucketAsync(string bucket, CancellationToken ct);

    /// <summary>Creates the bucket; succeeds when it exists already.</summary>
    Task CreateBucketAsync(string bucket, CancellationToken ct);

    /// <summary>Lists objects under <paramref name="prefix"/> in ascending ordinal key order, paging internally,
    /// starting strictly after <paramref name="startAfter"/> when given.</summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, CancellationToken ct);

    /// <summary>The object's current state, or null when it does not exist.</summary>
    Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct);

    /// <summary>Size, ETag and time of the object's current version without its metadata and tags (one request on
    /// S3), or null when it does not exist.</summary>
    Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct);

    /// <summary>Opens the object's current state and content for streaming, or null when it does not exist.
    /// The head and the content describe the same version of the object.</summary>
    Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct);

    /// <summary>Writes the whole object atomically (readers see the old or the new content, never a part):
    /// reads exactly <paramref name="length"/> bytes from <paramref name="content"/> with bounded memory.
    /// Objects longer than <paramref name="layout"/>'s threshold are uploaded in parts of exactly its part size
    /// (stores without multipart ignore the layout and report the plain MD5).
    /// Returns the ETag the store assigned, which the caller compares with what it computed.</summary>
    Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct);

    /// <summary>Copies within the same endpoint without moving the bytes through Lifeboat.
    /// Only called when <see cref="StoreCapabilities.ServerSideCopy"/> and the identities match.</summary>
    Task<string> CopyAsync(string sourceBucket, string sourceKey, string targetBucket, string targetKey, ObjectMetadata metadata, CancellationToken ct);

    /// <summary>Deletes the object; succeeds when it is already absent (idempotent).</summary>
    Task DeleteAsync(string bucket, string key, CancellationToken ct);
}

/// <summary>How an upload is cut into parts: multipart when the length exceeds <see cref="Threshold"/>.</summary>
public sealed record PartLayout(long Threshold, long PartSize)
{
    public bool IsMultipart(long length) => length > Threshold;
    public int Parts(long length) => IsMultipart(length) ? (int)((length + PartSize - 1) / PartSize) : 1;
}

/// <summary>An open object: its head and its content stream (dispose to release the connection).</summary>
public sealed class ObjectReader(ObjectHead head, Stream content) : IAsyncDisposable
{
    public ObjectHead Head { get; } = head;
    public Stream Content { get; } = content;
    public ValueTask DisposeAsync() => Content.DisposeAsync();
}

/// <summary>Optional capability: the part size a multipart object was uploaded with (HEAD partNumber=1),
/// so a copy can reproduce the source's multipart ETag exactly. Null when the store cannot tell.</summary>
public interface IPartSizeProbe
{
    Task<long?> FirstPartSizeAsync(string bucket, string key, CancellationToken ct);
}

/// <summary>Optional capability: gives an object other metadata and tags without sending its bytes again (the deep
/// pass, <see cref="Replication.ObjectReplicator.DeepReconcileAsync"/>, repairs metadata and tag drift with it). S3: a
/// tag-only change is one PutObjectTagging (DeleteObjectTagging for none); changed headers or user metadata are one
/// CopyObject of the object onto itself with <c>x-amz-metadata-directive: REPLACE</c>, then its tags are set again
/// (Ceph RGW 16 drops them on such a copy). A folder store rewrites the object's sidecar.</summary>
public interface IMetadataUpdate
{
    /// <summary>Gives the object at <paramref name="key"/>, whose current state <paramref name="current"/> was just read
    /// (HEAD), the content headers, user metadata and tags of <paramref name="metadata"/>, keeping its bytes and ETag.
    /// Returns false, having changed nothing, when this store cannot do that for this object (a folder file without a
    /// sidecar; an S3 object with other headers that is multipart, whose ETag a copy rewrites on AWS, or over the 5 GiB
    /// a copy can take), or having changed only metadata, when the store gave the object a new ETag anyway: either way
    /// the caller copies the object again from the source. Errors are <see cref="StoreException"/>s, as for every operation.</summary>
    Task<bool> UpdateMetadataAsync(string bucket, string key, ObjectHead current, ObjectMetadata metadata, CancellationToken ct);
}

/// <summary>Optional capability: the store's own rules for which keys can exist in it at all (beyond S3's, which
/// every store shares), so a hint for a key that can never exist is refused instead of becoming a failed change.</summary>
public interface IKeyRules
{
    /// <summary>Why <paramref name="key"/> cannot exist in <paramref name="bucket"/>, or null when it can.</summary>
    string? KeyProblem(string bucket, string key);
}

/// <summary>An entry a listing passed over because it is not an object: a folder store's symbolic link, FIFO,
/// socket or device (never followed, never opened). <paramref name="Path"/> is relative to the bucket.</summary>
public sealed record SkippedEntry(string Path, string What);

/// <summary>Optional capability of stores whose listings pass over entries that are not objects (folder stores), so
/// that verify can report them.</summary>
public interface ISkippedEntries
{
    /// <summary>What the last complete listing of <paramref name="bucket"/> under <paramref name="prefix"/> (from its
    /// start) passed over, in key order; empty when nothing was listed yet.</summary>
    IReadOnlyList<SkippedEntry> LastSkipped(string bucket, string prefix);
}

public enum StoreErrorKind
{
    /// <summary>Retrying may succeed (timeouts, 5xx, throttling, connection refused).</summary>
    Transient,
    /// <summary>Retrying the same request cannot succeed (missing bucket, access denied, invalid key).</summary>
    Permanent,
    NotFound,
}

public sealed class StoreException(StoreErrorKind kind, string message, Exception? inner = null)
    : Exception(message, inner), IClassifiedError
{
    public StoreErrorKind Kind { get; } = kind;
    public ErrorClass Class => Kind == StoreErrorKind.Transient ? ErrorClass.Transient : ErrorClass.Permanent;

    /// <summary>The bucket (a folder store's bucket folder) does not exist: for a reader, nothing was written there yet.</summary>
    public bool MissingBucket { get; init; }
}
