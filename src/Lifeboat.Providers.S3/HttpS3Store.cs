using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Xml;
using Amazon.Runtime;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;

namespace Lifeboat.Providers.S3;

/// <summary>
/// S3-compatible stores over the lean request path (<see cref="S3Http"/>): the same contract and behaviour as
/// <see cref="SdkS3Store"/> (path-style addressing unless configured otherwise, payloads signed with SHA-256 over plain
/// HTTP, Content-MD5 on every upload, COPY directives on server-side copies, tags set after a multipart upload because
/// Ceph RGW 16 ignores them on CreateMultipartUpload, errors mapped by <see cref="S3Errors"/>), at a fraction of the
/// SDK's CPU per request and without its first-request start-up.
/// </summary>
internal sealed class HttpS3Store : IObjectStore, IPartSizeProbe, IMetadataUpdate
{
    private const int PartConcurrency = 4;
    private readonly S3Http _http;
    private readonly string _endpoint;

    /// <summary>Bounds the bytes this store holds in upload buffers (shared with the other stores of the process).</summary>
    public MemoryBudget Budget { get; init; } = new(MemoryBudget.DefaultBytes);

    public HttpS3Store(StoreConfig cfg, EndpointProfile profile, Func<AWSCredentials> credentials, TimeProvider time, string describe, string identity)
    {
        _endpoint = Redact.Url(cfg.Endpoint) ?? throw new ArgumentException("the lean S3 path needs an endpoint", nameof(cfg)); // for messages
        _http = new S3Http(cfg.Endpoint!, cfg.Region ?? "us-east-1", cfg.ForcePathStyle ?? profile.ForcePathStyle, credentials, time);
        Describe = describe;
        EndpointIdentity = identity;
    }

    public string Describe { get; }
    public string EndpointIdentity { get; }
    public StoreCapabilities Capabilities => S3Store.S3Capabilities;

    private StoreException Map(Exception e, string what) => e switch
    {
        StoreException se => se,
        S3ErrorResponse r => S3Errors.FromResponse(Describe, what, r.Status, r.Code, r.Message, e),
        HttpRequestException or SocketException or IOException =>
            new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: cannot reach {_endpoint}: {e.Message}", e),
        TaskCanceledException or TimeoutException =>
            new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: timed out talking to {_endpoint}", e),
        XmlException or FormatException =>
            new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: unreadable answer from {_endpoint}: {e.Message}", e),
        // Credentials (assume-role, profiles) come from the SDK.
        AmazonClientException ce when ce.InnerException is HttpRequestException or SocketException or IOException or TimeoutException =>
            new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: {ce.Message}", e),
        AmazonClientException ce => new StoreException(StoreErrorKind.Permanent, $"{Describe}: {what}: {ce.Message}", e),
        _ => new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: {e.Message}", e),
    };

    /// <summary>Sends a request whose answer is read whole, and hands the response to <paramref name="read"/>.</summary>
    private async Task<T> Call<T>(string what, S3Request req, Func<HttpResponseMessage, T> read, CancellationToken ct)
    {
        try
        {
            using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
            return read(resp);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (UserErrorException) { throw; }
        catch (Exception e) { throw Map(e, what); }
    }

    private Task<int> Call(string what, S3Request req, CancellationToken ct) => Call(what, req, _ => 0, ct);

    /// <summary>Like <see cref="Call{T}"/> but a missing object is null.</summary>
    private async Task<T?> CallOrNull<T>(string what, S3Request req, Func<HttpResponseMessage, T> read, CancellationToken ct) where T : class
    {
        try { return await Call(what, req, read, ct).ConfigureAwait(false); }
        catch (StoreException e) when (e.Kind == StoreErrorKind.NotFound) { return null; }
    }

    public async Task CheckBucketAsync(string bucket, CancellationToken ct)
    {
        try
        {
            await Call($"bucket '{bucket}'", ListRequest(bucket, "", null, null, 1), ct).ConfigureAwait(false);
        }
        catch (StoreException e) when (e.Kind == StoreErrorKind.NotFound)
        {
            throw new StoreException(StoreErrorKind.Permanent, e.Message, e);
        }
    }

    public async Task CreateBucketAsync(string bucket, CancellationToken ct)
    {
        try
        {
            await Call($"create bucket '{bucket}'", new S3Request(HttpMethod.Put, bucket, null), ct).ConfigureAwait(false);
        }
        catch (StoreException e) when (e.InnerException is S3ErrorResponse { Code: "BucketAlreadyOwnedByYou" }) { }
    }

    private static S3Request ListRequest(string bucket, string prefix, string? token, string? startAfter, int maxKeys)
    {
        var req = new S3Request(HttpMethod.Get, bucket, null);
        req.Query.Add(("list-type", "2"));
        // Keys come back URL-encoded: a key may hold characters XML 1.0 cannot carry (S3Http.DecodeListedKey).
        req.Query.Add(("encoding-type", "url"));
        req.Query.Add(("max-keys", maxKeys.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (prefix.Length > 0) req.Query.Add(("prefix", prefix));
        if (token is not null) req.Query.Add(("continuation-token", token));
        else if (startAfter is not null) req.Query.Add(("start-after", startAfter));
        return req;
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken ct)
    {
        var what = $"list {bucket}/{prefix}";
        Task<ListPage>? next = Call(what, ListRequest(bucket, prefix, null, startAfter, 1000), ParseList, ct);
        try
        {
            while (next is not null)
            {
                var page = await next.ConfigureAwait(false);
                if (page.Truncated && string.IsNullOrEmpty(page.NextToken))
                    throw new StoreException(StoreErrorKind.Transient, $"{Describe}: {what}: a truncated page without a continuation token");
                // The next page is fetched while this one is consumed.
                next = page.Truncated ? Call(what, ListRequest(bucket, prefix, page.NextToken, null, 1000), ParseList, ct) : null;
                foreach (var o in page.Objects)
                {
                    if (o.Key.EndsWith('/') && o.Size == 0) continue; // folder markers carry no data
                    yield return o;
                }
            }
        }
        finally
        {
            // A consumer that stops early leaves a prefetch running: observe its outcome, which nobody needs.
            if (next is not null) _ = next.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    private sealed record ListPage(List<ObjectInfo> Objects, bool Truncated, string? NextToken);

    /// <summary>A ListObjectsV2 answer: &lt;ListBucketResult&gt; with &lt;Contents&gt; (Key, LastModified, ETag,
    /// Size), IsTruncated, NextContinuationToken (opaque, sent back as it came) and EncodingType: keys are decoded when
    /// it says url (anywhere in the answer), and taken as they are from a server that ignored the request for it.</summary>
    private static ListPage ParseList(HttpResponseMessage resp)
    {
        var objects = new List<ObjectInfo>();
        bool truncated = false, urlEncoded = false;
        string? next = null;
        using var x = XmlReader.Create(resp.Content.ReadAsStream(), S3Http.XmlSettings);
        x.MoveToContent();
        if (x.LocalName != "ListBucketResult") throw new XmlException($"expected ListBucketResult, got {x.LocalName}");
        if (x.IsEmptyElement) return new ListPage(objects, false, null);
        x.Read();
        while (x.NodeType != XmlNodeType.EndElement && !x.EOF)
        {
            if (x.NodeType != XmlNodeType.Element) { x.Read(); continue; }
            switch (x.LocalName)
            {
                case "Contents":
                    objects.Add(ParseContents(x));
                    break;
                case "IsTruncated":
                    truncated = x.ReadElementContentAsString() == "true";
                    break;
                case "NextContinuationToken":
                    next = x.ReadElementContentAsString();
                    break;
                case "EncodingType":
                    urlEncoded = x.ReadElementContentAsString() == "url";
                    break;
                default:
                    x.Skip();
                    break;
            }
        }
        if (urlEncoded)
            for (var i = 0; i < objects.Count; i++)
                objects[i] = objects[i] with { Key = S3Http.DecodeListedKey(objects[i].Key) };
        return new ListPage(objects, truncated, next);
    }

    private static ObjectInfo ParseContents(XmlReader x)
    {
        string key = "", etag = "";
        long size = 0;
        DateTimeOffset modified = default;
        if (x.IsEmptyElement) { x.Read(); return new ObjectInfo(key, size, etag, modified); }
        x.Read();
        while (x.NodeType != XmlNodeType.EndElement && !x.EOF)
        {
            if (x.NodeType != XmlNodeType.Element) { x.Read(); continue; }
            switch (x.LocalName)
            {
                case "Key": key = x.ReadElementContentAsString(); break;
                case "Size": size = long.Parse(x.ReadElementContentAsString(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "ETag": etag = ETags.Normalize(x.ReadElementContentAsString()); break;
                case "LastModified": modified = S3Http.ParseIsoTime(x.ReadElementContentAsString()); break;
                default: x.Skip(); break;
            }
        }
        x.Read(); // </Contents>
        return new ObjectInfo(key, size, etag, modified);
    }

    private static S3Request Head(string bucket, string key) => new(HttpMethod.Head, bucket, key);

    private static ObjectInfo InfoOf(string key, HttpResponseMessage resp) =>
        new(key, S3Http.ContentLength(resp), ETags.Normalize(S3Http.Header(resp, "ETag")), S3Http.LastModified(resp));

    /// <summary>Content headers and user metadata of a HEAD or GET answer.</summary>
    private sealed record Headers(string? Type, string? Cache, string? Encoding, Dictionary<string, string> User);
    private sealed record HeadAnswer(ObjectInfo Info, Headers Headers);

    private static Headers ReadHeaders(HttpResponseMessage resp)
    {
        var user = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, values) in resp.Headers.NonValidated)
        {
            if (!name.StartsWith("x-amz-meta-", StringComparison.OrdinalIgnoreCase)) continue;
            user[name["x-amz-meta-".Length..].ToLowerInvariant()] = string.Join(",", values);
        }
        // "aws-chunked" describes how a request was sent, not the object; some servers store it anyway.
        var encoding = string.Join(",", (S3Http.Header(resp, "Content-Encoding") ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(e => !e.Equals("aws-chunked", StringComparison.OrdinalIgnoreCase)));
        return new Headers(S3Http.Header(resp, "Content-Type"), S3Http.Header(resp, "Cache-Control"), encoding.Length == 0 ? null : encoding, user);
    }

    private async Task<IReadOnlyDictionary<string, string>> TagsAsync(string bucket, string key, CancellationToken ct)
    {
        var req = new S3Request(HttpMethod.Get, bucket, key);
        req.Query.Add(("tagging", null));
        return await Call($"tags of {bucket}/{key}", req, ParseTags, ct).ConfigureAwait(false);
    }

    private static Dictionary<string, string> ParseTags(HttpResponseMessage resp)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        using var x = XmlReader.Create(resp.Content.ReadAsStream(), S3Http.XmlSettings);
        string? k = null, v = null;
        while (x.Read())
        {
            if (x.NodeType == XmlNodeType.Element && x.LocalName == "Tag") { k = v = null; continue; }
            if (x.NodeType == XmlNodeType.Element && x.LocalName == "Key") { k = x.ReadElementContentAsString(); if (x.NodeType == XmlNodeType.Element && x.LocalName == "Value") v = x.ReadElementContentAsString(); }
            else if (x.NodeType == XmlNodeType.Element && x.LocalName == "Value") { v = x.ReadElementContentAsString(); if (x.NodeType == XmlNodeType.Element && x.LocalName == "Key") k = x.ReadElementContentAsString(); }
            if (k is not null && v is not null) { tags[k] = v; k = v = null; }
        }
        return tags;
    }

    public Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct) =>
        CallOrNull($"head {bucket}/{key}", Head(bucket, key), r => InfoOf(key, r), ct);

    public async Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct)
    {
        var head = await CallOrNull($"head {bucket}/{key}", Head(bucket, key), r => new HeadAnswer(InfoOf(key, r), ReadHeaders(r)), ct).ConfigureAwait(false);
        if (head is null) return null;
        IReadOnlyDictionary<string, string> tags;
        try { tags = await TagsAsync(bucket, key, ct).ConfigureAwait(false); }
        catch (StoreException e) when (e.Kind == StoreErrorKind.NotFound) { return null; } // deleted between the two requests
        var (type, cache, encoding, user) = head.Headers;
        return new ObjectHead(head.Info, new ObjectMetadata(type, cache, encoding, user, tags));
    }

    /// <summary>The part size the source used for a multipart object (HEAD partNumber=1), or null when the server does not say.</summary>
    public async Task<long?> FirstPartSizeAsync(string bucket, string key, CancellationToken ct)
    {
        var req = Head(bucket, key);
        req.Query.Add(("partNumber", "1"));
        try
        {
            // A server that ignores partNumber (Ceph RGW 16) answers with the whole object and no parts count.
            return await Call($"head part 1 of {bucket}/{key}", req, r =>
                int.TryParse(S3Http.Header(r, "x-amz-mp-parts-count"), out var parts) && parts > 0 ? S3Http.ContentLength(r) : (long?)null, ct).ConfigureAwait(false);
        }
        catch (StoreException e) when (e.InnerException is S3ErrorResponse) { return null; }
    }

    public async Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct)
    {
        HttpResponseMessage resp;
        try
        {
            resp = await _http.SendAsync(new S3Request(HttpMethod.Get, bucket, key), ct, stream: true).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (UserErrorException) { throw; }
        catch (Exception e)
        {
            var m = Map(e, $"get {bucket}/{key}");
            if (m.Kind == StoreErrorKind.NotFound) return null;
            throw m;
        }
        try
        {
            var info = InfoOf(key, resp);
            var (type, cache, encoding, user) = ReadHeaders(resp);
            IReadOnlyDictionary<string, string> tags = int.TryParse(S3Http.Header(resp, "x-amz-tagging-count"), out var n) && n > 0
                ? await TagsAsync(bucket, key, ct).ConfigureAwait(false)
                : new Dictionary<string, string>();
            var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            return new ObjectReader(new ObjectHead(info, new ObjectMetadata(type, cache, encoding, user, tags)), new ResponseStream(resp, body, info.Size));
        }
        catch
        {
            resp.Dispose();
            throw;
        }
    }

    /// <summary>Keeps the response (and its connection) alive as long as the body stream.</summary>
    private sealed class ResponseStream(HttpResponseMessage resp, Stream inner, long length) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                resp.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>Content headers, user metadata (x-amz-meta-*) and, with <paramref name="tags"/>, the tag set (x-amz-tagging).</summary>
    private static void Apply(S3Request req, ObjectMetadata md, bool tags)
    {
        if (md.ContentType is not null) req.Headers.Add(("Content-Type", md.ContentType));
        if (md.CacheControl is not null) req.Headers.Add(("Cache-Control", md.CacheControl));
        if (md.ContentEncoding is not null) req.Headers.Add(("Content-Encoding", md.ContentEncoding));
        foreach (var (k, v) in md.UserMetadata)
            req.Headers.Add((k.StartsWith("x-amz-meta-", StringComparison.OrdinalIgnoreCase) ? k : "x-amz-meta-" + k, v));
        if (tags && md.Tags.Count > 0)
            req.Headers.Add(("x-amz-tagging", string.Join('&', md.Tags.Select(t => $"{Aws.SigV4Signer.Encode(t.Key)}={Aws.SigV4Signer.Encode(t.Value)}"))));
    }

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

    private static string ETagOf(HttpResponseMessage resp) => ETags.Normalize(S3Http.Header(resp, "ETag"));

    public async Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct)
    {
        if (layout.IsMultipart(length))
            return await MultipartPutAsync(bucket, key, content, length, metadata, layout.PartSize, ct).ConfigureAwait(false);
        using var lease = await Budget.AcquireAsync(length, ct).ConfigureAwait(false);
        var buf = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
        try
        {
            var n = await ReadFullAsync(content, buf, (int)length, ct).ConfigureAwait(false);
            if (n != length || content.ReadByte() != -1)
                throw new StoreException(StoreErrorKind.Transient, $"{Describe}: put {bucket}/{key}: the source gave {n} bytes where {length} were expected (it changed while being copied)");
            var req = new S3Request(HttpMethod.Put, bucket, key) { Body = buf.AsMemory(0, n) };
            req.Headers.Add(("Content-MD5", Convert.ToBase64String(MD5.HashData(buf.AsSpan(0, n)))));
            Apply(req, metadata, tags: true);
            return await Call($"put {bucket}/{key}", req, ETagOf, ct).ConfigureAwait(false);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    private async Task<string> MultipartPutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, long partSize, CancellationToken ct)
    {
        var init = new S3Request(HttpMethod.Post, bucket, key);
        init.Query.Add(("uploads", null));
        Apply(init, metadata, tags: true);
        var uploadId = await Call($"start multipart {bucket}/{key}", init, r => XmlValue(r, "UploadId"), ct).ConfigureAwait(false);
        if (string.IsNullOrEmpty(uploadId))
            throw new StoreException(StoreErrorKind.Transient, $"{Describe}: start multipart {bucket}/{key}: no UploadId in the answer");
        var parts = new List<(int Number, string ETag)>();
        var inflight = new List<Task<(int, string)>>();
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
                inflight.Add(UploadPartAsync(bucket, key, uploadId, i, buf, size, lease, ct));
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
            parts.Sort((a, b) => a.Number.CompareTo(b.Number));

            var complete = new S3Request(HttpMethod.Post, bucket, key) { Body = CompleteBody(parts) };
            complete.Query.Add(("uploadId", uploadId));
            // S3 may answer 200 and still fail (an <Error> document): the ETag is then missing and the HEAD decides.
            var etag = await Call($"complete multipart {bucket}/{key}", complete, r => CheckedXmlValue(r, "ETag"), ct).ConfigureAwait(false);
            etag = ETags.Normalize(etag);
            if (etag.Length == 0)
            {
                // Some servers (Ceph RGW 16) may leave the ETag out of the answer: ask for it.
                etag = (await Call($"head {bucket}/{key}", Head(bucket, key), ETagOf, ct).ConfigureAwait(false));
            }
            if (metadata.Tags.Count > 0)
            {
                // Ceph RGW 16 ignores the tagging header on CreateMultipartUpload: set the tags explicitly.
                var body = TaggingBody(metadata.Tags);
                var tag = new S3Request(HttpMethod.Put, bucket, key) { Body = body };
                tag.Query.Add(("tagging", null));
                tag.Headers.Add(("Content-MD5", Convert.ToBase64String(MD5.HashData(body))));
                await Call($"tag {bucket}/{key}", tag, ct).ConfigureAwait(false);
            }
            return etag;
        }
        catch
        {
            try { await Task.WhenAll(inflight).ConfigureAwait(false); } catch (Exception) { /* the original error is what matters; parts are aborted below */ }
            try
            {
                var abort = new S3Request(HttpMethod.Delete, bucket, key);
                abort.Query.Add(("uploadId", uploadId));
                using var _ = await _http.SendAsync(abort, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception) { /* best effort: an unaborted upload leaves invisible parts, never a visible object */ }
            throw;
        }
    }

    private async Task<(int, string)> UploadPartAsync(string bucket, string key, string uploadId, int number, byte[] buf, int size, IDisposable lease, CancellationToken ct)
    {
        using var _ = lease;
        try
        {
            var req = new S3Request(HttpMethod.Put, bucket, key) { Body = buf.AsMemory(0, size) };
            req.Query.Add(("partNumber", number.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            req.Query.Add(("uploadId", uploadId));
            req.Headers.Add(("Content-MD5", Convert.ToBase64String(MD5.HashData(buf.AsSpan(0, size)))));
            var etag = await Call($"upload part {number} of {bucket}/{key}", req, r => S3Http.Header(r, "ETag") ?? "", ct).ConfigureAwait(false);
            if (etag.Length == 0)
                throw new StoreException(StoreErrorKind.Transient, $"{Describe}: upload part {number} of {bucket}/{key}: no ETag in the answer");
            return (number, etag);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    private static byte[] CompleteBody(List<(int Number, string ETag)> parts)
    {
        var sb = new StringBuilder("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        foreach (var (number, etag) in parts)
        {
            var quoted = etag.StartsWith('"') ? etag : $"\"{etag}\"";
            sb.Append("<Part><PartNumber>").Append(number).Append("</PartNumber><ETag>")
              .Append(System.Security.SecurityElement.Escape(quoted)).Append("</ETag></Part>");
        }
        return Encoding.UTF8.GetBytes(sb.Append("</CompleteMultipartUpload>").ToString());
    }

    private static byte[] TaggingBody(IReadOnlyDictionary<string, string> tags)
    {
        var sb = new StringBuilder("<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>");
        foreach (var (k, v) in tags)
            sb.Append("<Tag><Key>").Append(System.Security.SecurityElement.Escape(k)).Append("</Key><Value>")
              .Append(System.Security.SecurityElement.Escape(v)).Append("</Value></Tag>");
        return Encoding.UTF8.GetBytes(sb.Append("</TagSet></Tagging>").ToString());
    }

    /// <summary>The text of the first element named <paramref name="name"/> in an XML answer, or "".</summary>
    private static string XmlValue(HttpResponseMessage resp, string name)
    {
        using var x = XmlReader.Create(resp.Content.ReadAsStream(), S3Http.XmlSettings);
        while (x.Read())
            if (x.NodeType == XmlNodeType.Element && x.LocalName == name) return x.ReadElementContentAsString();
        return "";
    }

    /// <summary>As <see cref="XmlValue"/>, but an &lt;Error&gt; document (S3 answers CopyObject and
    /// CompleteMultipartUpload with 200 before the work is done, and reports a late failure in the body) throws.</summary>
    private static string CheckedXmlValue(HttpResponseMessage resp, string name)
    {
        using var reader = new StreamReader(resp.Content.ReadAsStream(), Encoding.UTF8); // already buffered (ResponseContentRead)
        var text = reader.ReadToEnd();
        using var x = XmlReader.Create(new StringReader(text), S3Http.XmlSettings);
        x.MoveToContent();
        if (x.LocalName == "Error") throw S3Http.ErrorFrom(500, text);
        while (x.Read())
            if (x.NodeType == XmlNodeType.Element && x.LocalName == name) return x.ReadElementContentAsString();
        return "";
    }

    public async Task<string> CopyAsync(string sourceBucket, string sourceKey, string targetBucket, string targetKey, ObjectMetadata metadata, CancellationToken ct)
    {
        // COPY directives: the server copies the source's current metadata and tags with its bytes.
        var req = new S3Request(HttpMethod.Put, targetBucket, targetKey);
        req.Headers.Add(("x-amz-copy-source", $"/{sourceBucket}/{S3Http.EncodedKey(sourceKey)}"));
        req.Headers.Add(("x-amz-metadata-directive", "COPY"));
        var etag = await Call($"copy {sourceBucket}/{sourceKey} to {targetBucket}/{targetKey}", req, r => CheckedXmlValue(r, "ETag"), ct).ConfigureAwait(false);
        return ETags.Normalize(etag);
    }

    public async Task<bool> UpdateMetadataAsync(string bucket, string key, ObjectHead current, ObjectMetadata metadata, CancellationToken ct)
    {
        var headers = metadata.HeadersDifferFrom(current.Metadata);
        if (headers)
        {
            // AWS (and moto) give a multipart object copied onto itself a new single-part ETag, which nothing can check
            // against the source's: such an object is copied again from the source instead.
            if (current.Info.Size > S3Store.MaxCopySize || ETags.IsMultipart(current.Info.ETag, out _)) return false;
            // The object copied onto itself with the new headers; the server copies its own bytes.
            var req = new S3Request(HttpMethod.Put, bucket, key);
            req.Headers.Add(("x-amz-copy-source", $"/{bucket}/{S3Http.EncodedKey(key)}"));
            req.Headers.Add(("x-amz-metadata-directive", "REPLACE"));
            req.Headers.Add(("x-amz-copy-source-if-match", $"\"{current.Info.ETag}\""));
            Apply(req, metadata, tags: false);
            var etag = ETags.Normalize(await Call($"replace metadata of {bucket}/{key}", req, r => CheckedXmlValue(r, "ETag"), ct).ConfigureAwait(false));
            if (etag.Length == 0) etag = await Call($"head {bucket}/{key}", Head(bucket, key), ETagOf, ct).ConfigureAwait(false);
            if (etag != current.Info.ETag) return false;
        }
        // The tag set, also again after a copy (AWS keeps the tags, Ceph RGW 16 drops them). No tags are an empty set:
        // after DeleteObjectTagging, Ceph RGW 16 lists the object with an empty ETag.
        if (headers ? metadata.Tags.Count > 0 || current.Metadata.Tags.Count > 0 : metadata.TagsDifferFrom(current.Metadata))
        {
            var body = TaggingBody(metadata.Tags);
            var tag = new S3Request(HttpMethod.Put, bucket, key) { Body = body };
            tag.Query.Add(("tagging", null));
            tag.Headers.Add(("Content-MD5", Convert.ToBase64String(MD5.HashData(body))));
            await Call($"tag {bucket}/{key}", tag, ct).ConfigureAwait(false);
        }
        return true;
    }

    public Task DeleteAsync(string bucket, string key, CancellationToken ct) =>
        Call($"delete {bucket}/{key}", new S3Request(HttpMethod.Delete, bucket, key), ct);

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
