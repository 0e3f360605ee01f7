using System.Collections.Concurrent;
using System.IO.Enumeration;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Lifeboat.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Lifeboat.Core.Storage;

/// <summary>
/// A local folder as an object store. A "bucket" is a sub-folder of <c>root</c>; an object is a regular file at its key.
/// Safe by construction (docs/providers/file.md): every file is reached from the root one name at a time and no
/// symbolic link below the root is ever followed (<see cref="FolderDir"/>); links, FIFOs, sockets and devices are not
/// objects: listings pass over them (logged, and counted for verify through <see cref="ISkippedEntries"/>), and they
/// are never opened, so nothing outside the folder is read or written and nothing blocks.
/// Writes are atomic: data goes to a temp file in <c>bucket/.lifeboat/tmp</c>, is fsynced and renamed over the final
/// name, then the directory is fsynced. Metadata (content headers, user metadata, tags, MD5) lives in a sidecar
/// <c>bucket/.lifeboat/sidecars/HH/SHA256(KEY).json</c> (a hashed name: it fits any file-name limit and no key's
/// sidecar can collide with another's), written the same way, and records the data file's size and mtime so a
/// sidecar left stale by a crash between the two renames is detected and ignored (the object then shows no metadata,
/// which reconciliation repairs). Sidecars of the earlier layout (<c>bucket/.lifeboat/meta/KEY.json</c>) are still
/// read, and removed when the key is written again or deleted.
/// A key that cannot be a file in a folder (<c>../x</c>, absolute, empty segments, a segment over 255 bytes, the
/// reserved <c>.lifeboat/</c> folder, a file and a folder of one name) is a permanent <see cref="StoreException"/>
/// naming it, as is every file-system error: never another exception, never a write outside the folder.
/// Files put there by other programs have no sidecar: their ETag is the weak <c>W/size-mtime</c>.
/// </summary>
public sealed partial class FileStore : IObjectStore, ISkippedEntries, IKeyRules, IMetadataUpdate
{
    private const string Reserved = ".lifeboat";
    private const string Sidecars = "sidecars";
    private const string OldMeta = "meta";
    /// <summary>In the reserved folder once the earlier layout's sidecar temp files have been swept (no writer makes them now).</summary>
    private const string OldMetaSwept = "meta.swept";
    private const int NameMax = 255;
    /// <summary>Temp files older than this are left by a killed writer (a live writer's temp file is younger).</summary>
    private static readonly TimeSpan StaleAge = TimeSpan.FromHours(1);
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly string _root;
    private readonly TimeProvider _time;
    private readonly ILogger? _log;
    private readonly bool _native;
    private readonly ConcurrentDictionary<(string Bucket, string Prefix), IReadOnlyList<SkippedEntry>> _skipped = new();
    private readonly ConcurrentDictionary<string, bool> _warned = new(StringComparer.Ordinal);

    public FileStore(string name, string root, TimeProvider? time = null, ILogger? log = null)
        : this(name, root, time, log, FolderDir.NativeSupported) { }

    /// <param name="native">Descriptor-based calls (Linux, 64-bit); false: the portable path-based checks (tests run both).</param>
    internal FileStore(string name, string root, TimeProvider? time, ILogger? log, bool native)
    {
        _time = time ?? TimeProvider.System;
        _log = log;
        _native = native;
        _root = Path.GetFullPath(root);
        Describe = $"store '{name}' (folder {_root})";
        EndpointIdentity = "file:" + _root;
    }

    public string Describe { get; }
    public string EndpointIdentity { get; }

    public StoreCapabilities Capabilities { get; } = new(ServerSideCopy: false, Multipart: false,
        DefaultMultipartThreshold: long.MaxValue, DefaultPartSize: 8 << 20, MaxParts: 1);

    // ---------------------------------------------------------------- names

    private StoreException Permanent(string message) => new(StoreErrorKind.Permanent, $"{Describe}: {message}");

    private void ValidateBucket(string bucket)
    {
        if (bucket.Length == 0 || bucket.Contains('/') || bucket.Contains('\0') || bucket is "." or ".." || bucket.StartsWith('.') ||
            Utf8Length(bucket) is not (> 0 and <= NameMax))
            throw Permanent($"invalid bucket (sub-folder) name '{bucket}'");
    }

    /// <summary>UTF-8 length, or -1 for a string that is not valid Unicode (a lone surrogate).</summary>
    private static int Utf8Length(string s)
    {
        try { return StrictUtf8.GetByteCount(s); }
        catch (EncoderFallbackException) { return -1; }
    }

    /// <summary>The key's path segments; rejects keys that cannot be a file inside the bucket folder.</summary>
    internal string[] Segments(string key)
    {
        if (key.Length == 0 || key.Contains('\0') || key.StartsWith('/') || key.EndsWith('/'))
            throw Permanent($"key '{key}' cannot be stored in a folder (empty, absolute or ending in '/')");
        var segments = key.Split('/');
        if (segments.Any(s => s.Length == 0 || s == "." || s == ".."))
            throw Permanent($"key '{key}' has an empty, '.' or '..' segment and would not stay inside the folder");
        if (segments[0] == Reserved)
            throw Permanent($"key '{key}' is under the reserved '{Reserved}/' folder");
        if (Utf8Length(key) < 0)
            throw Permanent($"key '{key}' is not valid Unicode (a lone surrogate) and cannot be a file name");
        foreach (var s in segments)
            if (Utf8Length(s) > NameMax)
                throw Permanent($"key '{key}' has a segment of {Utf8Length(s)} bytes: file names in a folder are limited to {NameMax} bytes");
        return segments;
    }

    public string? KeyProblem(string bucket, string key)
    {
        try
        {
            ValidateBucket(bucket);
            Segments(key);
            return null;
        }
        catch (StoreException e) { return e.Message; }
    }

    private static string SidecarHash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    // ---------------------------------------------------------------- errors

    /// <summary>File-system failures (what the OS says, and the .NET exceptions for it); everything else is a bug.</summary>
    private static bool IsFsError(Exception e) => e is IOException or UnauthorizedAccessException;

    /// <summary>A file-system failure as a <see cref="StoreException"/> naming what failed: transient when retrying may
    /// help (I/O error, disk full, too many open files), otherwise permanent.</summary>
    private StoreException Fail(Exception e, string what)
    {
        var transient = e switch
        {
            FsException f => f.Error == FsError.Transient,
            UnauthorizedAccessException or PathTooLongException or FileNotFoundException or DirectoryNotFoundException => false,
            IOException io => FsException.FromErrno(io.HResult) == FsError.Transient, // .NET gives errno as HResult on Unix
            _ => false,
        };
        return new StoreException(transient ? StoreErrorKind.Transient : StoreErrorKind.Permanent, $"{Describe}: {what}: {e.Message}", e);
    }

    private string Where(string bucket, string key) => $"{bucket}/{key}";

    // ---------------------------------------------------------------- folders

    /// <summary>The bucket folder, or null when it (or the root) is missing and not created.</summary>
    private FolderDir? OpenBucket(string bucket, bool create)
    {
        ValidateBucket(bucket);
        var root = FolderDir.OpenRoot(_root, _native);
        if (root is null)
        {
            if (!create) return null;
            Directory.CreateDirectory(_root);
            root = FolderDir.OpenRoot(_root, _native) ?? throw Permanent("folder does not exist");
        }
        using (root)
        {
            try { return root.Sub(bucket, create); }
            catch (FsException e) when (e.Error is FsError.IsALink or FsError.NotADirectory)
            {
                throw Permanent($"bucket folder '{bucket}' is {e.Message}");
            }
        }
    }

    /// <summary>The folder holding the key's file, or null when a folder on the way is missing, a file or a link.</summary>
    private static FolderDir? ParentOrNull(FolderDir bucketDir, string[] segments)
    {
        try { return bucketDir.Walk(segments.AsSpan(0, segments.Length - 1), create: false); }
        catch (FsException e) when (e.Error is FsError.IsALink or FsError.NotADirectory) { return null; } // no object can be there
    }

    private static FolderDir TmpDir(FolderDir bucketDir) => bucketDir.Walk([Reserved, "tmp"], create: true)!;

    private void DeleteQuietly(FolderDir dir, string name)
    {
        try { dir.Delete(name); }
        catch (Exception e) when (IsFsError(e))
        {
            // A temp file that cannot be removed now is removed by the stale-temp sweep of a later start.
            _log?.TempFileNotRemoved(Describe, Path.Combine(dir.Path, name), e.Message);
        }
    }

    // ---------------------------------------------------------------- buckets

    public Task CheckBucketAsync(string bucket, CancellationToken ct)
    {
        if (!Directory.Exists(_root))
            throw Permanent($"folder does not exist, so bucket '{bucket}' cannot be used");
        try
        {
            using var bucketDir = OpenBucket(bucket, create: true)!;
            FolderDir? reserved;
            try { reserved = bucketDir.Sub(Reserved, create: false); }
            catch (FsException e) when (e.Error is FsError.IsALink or FsError.NotADirectory)
            {
                throw Permanent($"bucket '{bucket}': '{Reserved}' is {e.Message}; it must be the folder store's own folder");
            }
            using (reserved)
            {
                if (reserved is not null)
                {
                    try { RemoveStaleTempFiles(reserved); }
                    catch (Exception e) when (IsFsError(e))
                    {
                        // Housekeeping only (a read-only folder, say): the bucket is usable; the next start tries again.
                        _log?.StaleTempFilesNotRemoved(Describe, bucket, e.Message);
                    }
                }
            }
        }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"bucket '{bucket}'"); }
        return Task.CompletedTask;
    }

    /// <summary>Temp files left by a killed writer are invisible to listings: removes those older than an hour (a live
    /// writer's temp file is younger) from <c>.lifeboat/tmp</c>, and once the sidecar temp files the earlier layout
    /// left beside its sidecars (<c>.lifeboat/meta/**/KEY.json.tmp-*</c>), which no writer makes any more.</summary>
    private void RemoveStaleTempFiles(FolderDir reserved)
    {
        var cutoff = _time.GetUtcNow().UtcTicks - StaleAge.Ticks;
        using (var tmp = reserved.Sub("tmp", create: false))
        {
            if (tmp is not null)
                foreach (var path in Directory.EnumerateFileSystemEntries(tmp.Path))
                {
                    var name = Path.GetFileName(path);
                    var st = tmp.Stat(name);
                    if (st.Kind is not (EntryKind.Directory or EntryKind.Missing) && st.MtimeTicks < cutoff) DeleteQuietly(tmp, name);
                }
        }
        if (reserved.Stat(OldMeta).Kind != EntryKind.Directory || reserved.Stat(OldMetaSwept).Kind != EntryKind.Missing) return;
        var left = 0;
        using (var meta = reserved.Sub(OldMeta, create: false)!)
        {
            foreach (var rel in Walk(meta.Path, skipTopLevel: null).Where(e => !e.Link && IsOldSidecarTemp(e.Rel)).Select(e => e.Rel).ToList())
            {
                var segments = rel.Split('/');
                using var dir = meta.Walk(segments.AsSpan(0, segments.Length - 1), create: false);
                var st = dir?.Stat(segments[^1]) ?? EntryStat.Missing;
                if (st.Kind == EntryKind.Missing) continue;
                if (st.MtimeTicks < cutoff) DeleteQuietly(dir!, segments[^1]);
                else left++;
            }
        }
        if (left > 0) return;
        try { reserved.CreateNew(OldMetaSwept).Dispose(); }
        catch (FsException e) when (e.Error == FsError.Exists) { } // marked by another process meanwhile
    }

    /// <summary><c>KEY.json.tmp-</c> and 32 hex digits: the earlier layout's sidecar temp name.</summary>
    private static bool IsOldSidecarTemp(string rel)
    {
        var i = rel.LastIndexOf(".json.tmp-", StringComparison.Ordinal);
        return i >= 0 && rel.Length - i - 10 == 32 && !rel.AsSpan(i + 10).ContainsAnyExcept("0123456789abcdef");
    }

    public Task CreateBucketAsync(string bucket, CancellationToken ct)
    {
        try
        {
            using var _ = OpenBucket(bucket, create: true);
        }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot create bucket folder '{bucket}'"); }
        return Task.CompletedTask;
    }

    // ---------------------------------------------------------------- listing

    /// <summary>Walks <paramref name="dir"/> by path without entering links: regular entries and links (not followed),
    /// relative to <paramref name="dir"/> with '/' separators. Directories are not returned.</summary>
    private static FileSystemEnumerable<(string Rel, bool Link)> Walk(string dir, string? skipTopLevel)
    {
        var opts = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false, ReturnSpecialDirectories = false };
        var baseLength = Path.TrimEndingDirectorySeparator(dir).Length + 1;
        return new FileSystemEnumerable<(string, bool)>(dir,
            (ref FileSystemEntry e) => (e.ToFullPath()[baseLength..].Replace(Path.DirectorySeparatorChar, '/'), (e.Attributes & FileAttributes.ReparsePoint) != 0),
            opts)
        {
            // A link is returned as an entry (to be skipped and reported), never entered, whatever it points to.
            ShouldIncludePredicate = (ref FileSystemEntry e) => (e.Attributes & FileAttributes.ReparsePoint) != 0 || !e.IsDirectory,
            ShouldRecursePredicate = (ref FileSystemEntry e) => (e.Attributes & FileAttributes.ReparsePoint) == 0 &&
                !(skipTopLevel is not null && e.Directory.Length + 1 == baseLength && e.FileName.SequenceEqual(skipTopLevel)),
        };
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix, string? startAfter, [EnumeratorCancellation] CancellationToken ct)
    {
        FolderDir? bucketDir;
        try { bucketDir = OpenBucket(bucket, create: false); }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot list bucket folder '{bucket}'"); }
        if (bucketDir is null)
            throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: bucket folder '{bucket}' does not exist") { MissingBucket = true };
        using var _ = bucketDir;
        var skipped = new List<SkippedEntry>();
        var keys = CollectKeys(bucketDir, bucket, prefix, startAfter, skipped);
        foreach (var key in keys)
        {
            ct.ThrowIfCancellationRequested();
            var (head, st) = await HeadListedAsync(bucketDir, bucket, key, ct).ConfigureAwait(false);
            if (head is not null) yield return head.Info;
            else if (st.Kind is EntryKind.Link or EntryKind.Other) skipped.Add(new SkippedEntry(key, st.What));
            else if (st.Kind == EntryKind.Missing && key.Contains('\uFFFD')) skipped.Add(new SkippedEntry(key, "file name that is not valid UTF-8"));
        }
        skipped.Sort((a, b) => KeyComparer.Instance.Compare(a.Path, b.Path));
        foreach (var s in skipped)
            if (_warned.Count < 10_000 && _warned.TryAdd(bucket + "/" + s.Path, true))
                _log?.EntrySkipped(Describe, bucket, s.Path, s.What);
        if (startAfter is null) _skipped[(bucket, prefix)] = skipped;
    }

    /// <summary>The keys under <paramref name="prefix"/> after <paramref name="startAfter"/>, in key order; the links met are added to <paramref name="skipped"/>.</summary>
    private List<string> CollectKeys(FolderDir bucketDir, string bucket, string prefix, string? startAfter, List<SkippedEntry> skipped)
    {
        var keys = new List<string>();
        // Start the walk at the deepest folder the prefix names (reached without following links).
        var slash = prefix.LastIndexOf('/');
        string[] dirs = slash < 0 ? [] : prefix[..slash].Split('/');
        if (dirs.Any(d => d.Length == 0 || d is "." or "..")) return keys; // no key has such a segment
        try
        {
            FolderDir? walkDir;
            try { walkDir = bucketDir.Walk(dirs, create: false); }
            catch (FsException e) when (e.Error is FsError.IsALink or FsError.NotADirectory)
            {
                if (e.Error == FsError.IsALink) skipped.Add(new SkippedEntry(prefix[..slash], "symbolic link"));
                return keys;
            }
            if (walkDir is null) return keys;
            using (walkDir)
            {
                var under = slash < 0 ? "" : prefix[..(slash + 1)];
                foreach (var (rel, link) in Walk(walkDir.Path, skipTopLevel: slash < 0 ? Reserved : null))
                {
                    var key = under + rel;
                    if (key == Reserved || !key.StartsWith(prefix, StringComparison.Ordinal)) continue;
                    if (startAfter is not null && KeyComparer.Instance.Compare(key, startAfter) <= 0) continue;
                    if (link) skipped.Add(new SkippedEntry(key, "symbolic link"));
                    else keys.Add(key);
                }
            }
        }
        catch (Exception e) when (IsFsError(e))
        {
            // An unreadable folder fails the listing: skipping it would make its objects look deleted at the source.
            throw Fail(e, $"cannot list {bucket}/{prefix}");
        }
        keys.Sort(KeyComparer.Instance);
        return keys;
    }

    private async Task<(ObjectHead?, EntryStat)> HeadListedAsync(FolderDir bucketDir, string bucket, string key, CancellationToken ct)
    {
        string[] segments;
        try { segments = Segments(key); }
        catch (StoreException) { return (null, new EntryStat(EntryKind.Other, 0, 0, "file whose name is not a valid key")); }
        try { return await HeadCoreAsync(bucketDir, key, segments, ct).ConfigureAwait(false); }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot read {Where(bucket, key)}"); }
    }

    public IReadOnlyList<SkippedEntry> LastSkipped(string bucket, string prefix) =>
        _skipped.TryGetValue((bucket, prefix), out var s) ? s : [];

    // ---------------------------------------------------------------- objects

    internal sealed record Sidecar(long Size, long MtimeTicks, string ETag, string? ContentType, string? CacheControl,
        string? ContentEncoding, Dictionary<string, string> Metadata, Dictionary<string, string> Tags, string? Key = null);

    public async Task<ObjectHead?> HeadAsync(string bucket, string key, CancellationToken ct)
    {
        var segments = Segments(key);
        try
        {
            using var bucketDir = OpenBucket(bucket, create: false);
            if (bucketDir is null) return null;
            return (await HeadCoreAsync(bucketDir, key, segments, ct).ConfigureAwait(false)).Head;
        }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot read {Where(bucket, key)}"); }
    }

    /// <summary>The object at the key, or null with what is there instead (missing, a folder, a link, a FIFO...).</summary>
    private async Task<(ObjectHead? Head, EntryStat Stat)> HeadCoreAsync(FolderDir bucketDir, string key, string[] segments, CancellationToken ct)
    {
        using var parent = ParentOrNull(bucketDir, segments);
        if (parent is null) return (null, EntryStat.Missing);
        var st = parent.Stat(segments[^1]);
        if (st.Kind != EntryKind.File) return (null, st);
        var meta = await ReadSidecarAsync(bucketDir, key, segments, st, ct).ConfigureAwait(false);
        return (MakeHead(key, st, meta), st);
    }

    private static ObjectHead MakeHead(string key, EntryStat st, Sidecar? meta)
    {
        var info = new ObjectInfo(key, st.Size, meta?.ETag ?? $"W/{st.Size}-{st.MtimeTicks}", new DateTimeOffset(st.MtimeTicks, TimeSpan.Zero));
        var md = meta is null
            ? ObjectMetadata.Empty
            : new ObjectMetadata(meta.ContentType, meta.CacheControl, meta.ContentEncoding, meta.Metadata, meta.Tags);
        return new ObjectHead(info, md);
    }

    /// <summary>The sidecar that describes this very file (its size and mtime): the hashed one, else one of the earlier layout.</summary>
    private async Task<Sidecar?> ReadSidecarAsync(FolderDir bucketDir, string key, string[] segments, EntryStat file, CancellationToken ct)
    {
        var hash = SidecarHash(key);
        var meta = await ReadSidecarFileAsync(bucketDir, [Reserved, Sidecars, hash[..2]], hash + ".json", ct).ConfigureAwait(false);
        if (meta is not null && meta.Key == key && meta.Size == file.Size && meta.MtimeTicks == file.MtimeTicks) return meta;
        string[] oldDirs = [Reserved, OldMeta, .. segments.AsSpan(0, segments.Length - 1)];
        var old = await ReadSidecarFileAsync(bucketDir, oldDirs, segments[^1] + ".json", ct).ConfigureAwait(false);
        return old is not null && old.Size == file.Size && old.MtimeTicks == file.MtimeTicks ? old : null;
    }

    private async Task<Sidecar?> ReadSidecarFileAsync(FolderDir bucketDir, string[] dirs, string name, CancellationToken ct)
    {
        try
        {
            using var dir = bucketDir.Walk(dirs, create: false);
            if (dir is null) return null;
            var (handle, _) = dir.OpenRead(name);
            if (handle is null) return null;
            await using var fs = new FileStream(handle, FileAccess.Read, 4096);
            return await JsonSerializer.DeserializeAsync(fs, CoreJson.Default.Sidecar, ct).ConfigureAwait(false);
        }
        catch (JsonException) { return null; } // a torn or foreign sidecar: treated as absent, repaired by the next copy
        catch (FsException e) when (e.Error is FsError.NotFound or FsError.NotADirectory or FsError.IsALink or FsError.NameTooLong or FsError.AccessDenied)
        {
            // No sidecar can be there (an earlier-layout name over the limit, a file or link on the way), or it cannot be
            // read: the object shows no metadata and a weak ETag, so the next copy rewrites it.
            if (e.Error == FsError.AccessDenied && _warned.TryAdd("sidecar:" + name, true))
                _log?.SidecarUnreadable(Describe, name, e.Message);
            return null;
        }
    }

    public async Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken ct) =>
        (await HeadAsync(bucket, key, ct).ConfigureAwait(false))?.Info;

    public async Task<ObjectReader?> GetAsync(string bucket, string key, CancellationToken ct)
    {
        var segments = Segments(key);
        try
        {
            using var bucketDir = OpenBucket(bucket, create: false);
            if (bucketDir is null) return null;
            using var parent = ParentOrNull(bucketDir, segments);
            if (parent is null) return null;
            var (handle, st) = parent.OpenRead(segments[^1]);
            if (handle is null) return null; // missing, or not a regular file (a link, a FIFO...): not an object
            try
            {
                // The head describes the open file (its own stat): a rename that replaces the file afterwards does not
                // change what is read, and a sidecar that does not describe this file is not used.
                var meta = await ReadSidecarAsync(bucketDir, key, segments, st, ct).ConfigureAwait(false);
                return new ObjectReader(MakeHead(key, st, meta), new ReadStream(new FileStream(handle, FileAccess.Read, 1 << 16), this, Where(bucket, key)));
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot read {Where(bucket, key)}"); }
    }

    /// <summary>An object's content: a read error is a <see cref="StoreException"/> naming the object.</summary>
    private sealed class ReadStream(FileStream inner, FileStore store, string where) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count)
        {
            try { return inner.Read(buffer, offset, count); }
            catch (Exception e) when (IsFsError(e)) { throw store.Fail(e, $"reading {where}"); }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try { return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false); }
            catch (Exception e) when (IsFsError(e)) { throw store.Fail(e, $"reading {where}"); }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async Task<string> PutAsync(string bucket, string key, Stream content, long length, ObjectMetadata metadata, PartLayout layout, CancellationToken ct)
    {
        var segments = Segments(key);
        FolderDir? bucketDir = null, tmpDir = null;
        string? tmp = null;
        try
        {
            bucketDir = OpenBucket(bucket, create: true)!;
            tmpDir = TmpDir(bucketDir);
            tmp = Guid.NewGuid().ToString("N");
            string etag;
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            await using (var fs = new FileStream(tmpDir.CreateNew(tmp), FileAccess.Write, 1 << 16))
            {
                var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
                try
                {
                    long total = 0;
                    while (true)
                    {
                        int n;
                        try { n = await content.ReadAsync(buf, ct).ConfigureAwait(false); }
                        catch (Exception e) when (IsFsError(e))
                        {
                            throw new StoreException(StoreErrorKind.Transient, $"{Describe}: {Where(bucket, key)}: reading the content to store failed: {e.Message}", e);
                        }
                        if (n == 0) break;
                        md5.AppendData(buf, 0, n);
                        await fs.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                        total += n;
                    }
                    if (total != length)
                        throw new StoreException(StoreErrorKind.Transient, $"{Describe}: {Where(bucket, key)}: expected {length} bytes, the source gave {total}");
                }
                finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
                fs.Flush(flushToDisk: true);
            }
            etag = Convert.ToHexStringLower(md5.GetHashAndReset());
            EntryStat st;
            FolderDir parent;
            try { parent = bucketDir.Walk(segments.AsSpan(0, segments.Length - 1), create: true)!; }
            catch (FsException e) when (e.Error == FsError.NotADirectory)
            {
                throw Permanent($"cannot store key '{key}': a file and a folder would share a name ({e.Message})");
            }
            catch (FsException e) when (e.Error == FsError.IsALink)
            {
                throw Permanent($"cannot store key '{key}': {e.Message}");
            }
            using (parent)
            {
                try { tmpDir.MoveTo(tmp, parent, segments[^1]); }
                catch (FsException e) when (e.Error == FsError.IsADirectory)
                {
                    throw Permanent($"cannot store key '{key}': a file and a folder would share a name ({e.Message})");
                }
                tmp = null;
                parent.Fsync();
                st = parent.Stat(segments[^1]);
            }
            if (st.Kind != EntryKind.File)
                throw new StoreException(StoreErrorKind.Transient, $"{Describe}: {Where(bucket, key)} was replaced while being written");
            var sidecar = new Sidecar(st.Size, st.MtimeTicks, etag, metadata.ContentType, metadata.CacheControl, metadata.ContentEncoding,
                new Dictionary<string, string>(metadata.UserMetadata), new Dictionary<string, string>(metadata.Tags), key);
            await WriteSidecarAsync(bucketDir, tmpDir, key, segments, sidecar, ct).ConfigureAwait(false);
            return etag;
        }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot store key '{key}'"); }
        finally
        {
            if (tmp is not null && tmpDir is not null) DeleteQuietly(tmpDir, tmp);
            tmpDir?.Dispose();
            bucketDir?.Dispose();
        }
    }

    private async Task WriteSidecarAsync(FolderDir bucketDir, FolderDir tmpDir, string key, string[] segments, Sidecar sidecar, CancellationToken ct)
    {
        var hash = SidecarHash(key);
        string? tmp = Guid.NewGuid().ToString("N");
        try
        {
            await using (var fs = new FileStream(tmpDir.CreateNew(tmp), FileAccess.Write, 4096))
            {
                await JsonSerializer.SerializeAsync(fs, sidecar, CoreJson.Default.Sidecar, ct).ConfigureAwait(false);
                fs.Flush(flushToDisk: true);
            }
            using var dir = bucketDir.Walk([Reserved, Sidecars, hash[..2]], create: true)!;
            tmpDir.MoveTo(tmp, dir, hash + ".json");
            tmp = null;
            dir.Fsync();
        }
        finally
        {
            if (tmp is not null) DeleteQuietly(tmpDir, tmp);
        }
        RemoveOldSidecar(bucketDir, segments);
    }

    /// <summary>Removes the key's sidecar of the earlier layout (<c>.lifeboat/meta/KEY.json</c>), if there is one.</summary>
    private static void RemoveOldSidecar(FolderDir bucketDir, string[] segments)
    {
        try
        {
            using var dir = bucketDir.Walk([Reserved, OldMeta, .. segments.AsSpan(0, segments.Length - 1)], create: false);
            dir?.Delete(segments[^1] + ".json");
        }
        catch (FsException e) when (e.Error is FsError.NameTooLong or FsError.NotADirectory or FsError.IsALink)
        {
            // No earlier-layout sidecar can exist for this key (its name would not fit, or a file or link is on the way).
        }
    }

    /// <summary>Rewrites the object's sidecar (temp file, fsync, rename) with the new metadata and tags, for the same data
    /// file (its size, mtime and MD5 are kept). False for a file with no sidecar, or one that is no longer the object
    /// <paramref name="current"/> describes.</summary>
    public async Task<bool> UpdateMetadataAsync(string bucket, string key, ObjectHead current, ObjectMetadata metadata, CancellationToken ct)
    {
        var segments = Segments(key);
        FolderDir? bucketDir = null, tmpDir = null;
        try
        {
            bucketDir = OpenBucket(bucket, create: false);
            if (bucketDir is null) return false;
            Sidecar? meta;
            using (var parent = ParentOrNull(bucketDir, segments))
            {
                if (parent is null) return false;
                var st = parent.Stat(segments[^1]);
                if (st.Kind != EntryKind.File) return false;
                meta = await ReadSidecarAsync(bucketDir, key, segments, st, ct).ConfigureAwait(false);
            }
            if (meta is null || meta.ETag != current.Info.ETag) return false;
            tmpDir = TmpDir(bucketDir);
            var sidecar = meta with
            {
                ContentType = metadata.ContentType, CacheControl = metadata.CacheControl, ContentEncoding = metadata.ContentEncoding,
                Metadata = new Dictionary<string, string>(metadata.UserMetadata), Tags = new Dictionary<string, string>(metadata.Tags), Key = key,
            };
            await WriteSidecarAsync(bucketDir, tmpDir, key, segments, sidecar, ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot update the metadata of {Where(bucket, key)}"); }
        finally
        {
            tmpDir?.Dispose();
            bucketDir?.Dispose();
        }
    }

    public Task<string> CopyAsync(string sourceBucket, string sourceKey, string targetBucket, string targetKey, ObjectMetadata metadata, CancellationToken ct) =>
        throw new StoreException(StoreErrorKind.Permanent, $"{Describe}: server-side copy is not supported by folder stores");

    public Task DeleteAsync(string bucket, string key, CancellationToken ct)
    {
        var segments = Segments(key);
        try
        {
            using var bucketDir = OpenBucket(bucket, create: false);
            if (bucketDir is null) return Task.CompletedTask;
            // The folders down to the key's, to remove those the delete leaves empty (up to, not including, the bucket).
            var chain = new List<FolderDir>();
            try
            {
                var current = bucketDir;
                for (var i = 0; i < segments.Length - 1; i++)
                {
                    FolderDir? next;
                    try { next = current.Sub(segments[i], create: false); }
                    catch (FsException e) when (e.Error is FsError.IsALink or FsError.NotADirectory) { next = null; } // nothing of ours below
                    if (next is null) break;
                    chain.Add(next);
                    current = next;
                }
                var reached = chain.Count == segments.Length - 1;
                if (reached) current.Delete(segments[^1]); // a file or a link (never what it points to); a folder is no object
                var hash = SidecarHash(key);
                using (var sidecars = bucketDir.Walk([Reserved, Sidecars, hash[..2]], create: false))
                    sidecars?.Delete(hash + ".json");
                RemoveOldSidecar(bucketDir, segments);
                if (!reached) return Task.CompletedTask;
                var changed = current;
                for (var i = chain.Count - 1; i >= 0; i--)
                {
                    var up = i == 0 ? bucketDir : chain[i - 1];
                    if (!up.RemoveEmptyDir(segments[i])) break; // not empty (a concurrent writer, or other keys): kept
                    changed = up;
                }
                changed.Fsync();
            }
            finally
            {
                foreach (var d in chain) d.Dispose();
            }
        }
        catch (Exception e) when (IsFsError(e)) { throw Fail(e, $"cannot delete {Where(bucket, key)}"); }
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
