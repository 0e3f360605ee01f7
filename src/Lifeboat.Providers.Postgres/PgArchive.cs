using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;

namespace Lifeboat.Providers.Postgres;

/// <summary>A chunk of a base backup's tar stream, stored as a packed <see cref="Blob"/>; <see cref="Sha256"/> is what
/// <see cref="Blob.UnpackAsync"/> returns for it (the content's hash in format 1, the stored object's in format 2).</summary>
public sealed record BackupChunk(string Key, long Offset, long Size, long StoredSize, string Sha256);

/// <summary>
/// What a base backup is (manifest.json, written last: a backup without it is incomplete and never used).
/// <see cref="ConsistentAt"/> is the server's clock after the backup ended: recovery to any time from then on
/// can use this backup. <see cref="StartLsn"/>/<see cref="StopLsn"/> bound the WAL it needs (from the
/// backup_manifest PostgreSQL writes); <see cref="Files"/> lists every file with size and checksum.
/// </summary>
public sealed record BackupManifest(
    string Id, int Format, string Resource, string ServerVersion, string SystemId, uint Timeline,
    string StartLsn, string StopLsn, string StartSegment, string StopSegment,
    DateTimeOffset StartedAt, DateTimeOffset ConsistentAt, long TarBytes, long StoredBytes,
    double Seconds, IReadOnlyList<BackupChunk> Chunks, IReadOnlyList<BackupFile> Files)
{
    /// <summary>1: chunks "LBPG0001" (SHA-256 of their content), files SHA-256. 2: chunks "LBPG0002" (SHA-256 of the
    /// stored object), files CRC-32C. Both are read.</summary>
    public const int CurrentFormat = 2;
}

/// <summary>The archive's tip in stream mode: every WAL byte before <see cref="Lsn"/> is durable in the archive,
/// and at <see cref="ServerTime"/> (the server's clock) the server had flushed nothing beyond it.</summary>
public sealed record WalTip(uint Timeline, string Lsn, DateTimeOffset ServerTime, DateTimeOffset WrittenAt);

/// <summary>The archive's JSON (manifests, the tip) and `pg verify --json`: snake_case, indented, nulls left out;
/// source-generated (no reflection: the release package is compiled ahead of time, ADR 0008).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BackupManifest))]
[JsonSerializable(typeof(WalTip))]
[JsonSerializable(typeof(PgVerifyJson))]
public sealed partial class PgJson : JsonSerializerContext;

/// <summary>A WAL object in the archive.</summary>
public sealed record WalObject(string Segment, bool Partial, string Key, long Size);

/// <summary>
/// The archive layout in the target store, under the resource's bucket and prefix:
/// <c>wal/SEGMENT</c> (full 16 MiB segments), <c>wal/SEGMENT.partial</c> (the unfinished tip segment, stream mode),
/// <c>wal-tip.json</c> (stream mode), <c>backups/ID/chunk-NNNNN</c> and <c>backups/ID/manifest.json</c>.
/// Every data object is a packed <see cref="Blob"/> (zlib + SHA-256 header); user metadata repeats the hash
/// (<c>sha256</c>) and, for WAL, when the segment ended (<c>end-time</c>, unix ms, server clock).
/// </summary>
public sealed class PgArchive(IObjectStore store, string bucket, string prefix)
{
    private static readonly PartLayout Layout = new(long.MaxValue, 64L << 20);

    public IObjectStore Store => store;
    public string Bucket => bucket;
    public string Prefix => prefix;
    public string Describe => $"{store.Describe} bucket '{bucket}' prefix '{prefix}'";

    public string WalKey(string segment, bool partial = false) => $"{prefix}wal/{segment}{(partial ? ".partial" : "")}";
    public string TipKey => prefix + "wal-tip.json";
    public string BackupPrefix(string id) => $"{prefix}backups/{id}/";

    public static PgArchive For(PostgresResource res, IObjectStore store) => new(store, res.Target.Bucket, res.Target.Prefix);

    public async Task<string> PutBlobAsync(string key, byte[] packed, string sha, IReadOnlyDictionary<string, string>? extra, CancellationToken ct)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["sha256"] = sha };
        if (extra is not null) foreach (var (k, v) in extra) meta[k] = v;
        using var ms = new MemoryStream(packed, writable: false);
        return await store.PutAsync(bucket, key, ms, packed.Length,
            new ObjectMetadata("application/octet-stream", null, null, meta, new Dictionary<string, string>()), Layout, ct).ConfigureAwait(false);
    }

    public enum PushOutcome { Stored, AlreadyStored }

    /// <summary>
    /// Stores a complete segment. Idempotent: a segment already stored with the same content (SHA-256) is not
    /// rewritten; one stored with different content is an error (two servers or timelines writing to one archive).
    /// Returns only after the store acknowledged the write (durable).
    /// </summary>
    public async Task<PushOutcome> PushSegmentAsync(string segment, ReadOnlyMemory<byte> content, DateTimeOffset endTime, CancellationToken ct)
    {
        if (content.Length != Wal.SegmentSize)
            throw new UserErrorException($"WAL segment {segment} is {content.Length} bytes; Lifeboat supports 16 MiB segments (wal_segment_size) only");
        var key = WalKey(segment);
        var packed = Blob.Pack(content.Span, out var sha);
        var existing = await StoredShaAsync(key, ct).ConfigureAwait(false);
        if (existing is not null)
        {
            if (existing == sha) return PushOutcome.AlreadyStored;
            throw new WalConflictException($"WAL segment {segment} is already in {Describe} with different content (SHA-256 {existing}, this one {sha}): " +
                "another server or timeline archives into the same place; refusing to overwrite it");
        }
        await PutBlobAsync(key, packed, sha, new Dictionary<string, string> { ["end-time"] = endTime.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) }, ct).ConfigureAwait(false);
        return PushOutcome.Stored;
    }

    /// <summary>The SHA-256 an object was stored with (metadata, or its header when the metadata is missing), null when absent.</summary>
    public async Task<string?> StoredShaAsync(string key, CancellationToken ct)
    {
        var head = await store.HeadAsync(bucket, key, ct).ConfigureAwait(false);
        if (head is null) return null;
        if (head.Metadata.UserMetadata.FirstOrDefault(kv => kv.Key.Equals("sha256", StringComparison.OrdinalIgnoreCase)).Value is { Length: 64 } s) return s;
        await using var r = await store.GetAsync(bucket, key, ct).ConfigureAwait(false);
        if (r is null) return null;
        var header = new byte[Blob.HeaderSize];
        await r.Content.ReadExactlyAsync(header, ct).ConfigureAwait(false);
        return Blob.ReadHeader(header, $"{Describe}: {key}").Sha256
               ?? throw new InvalidDataException($"{Describe}: {key}: a base backup chunk where a WAL object was expected");
    }

    public async Task PutPartialAsync(string segment, ReadOnlyMemory<byte> content, DateTimeOffset serverTime, CancellationToken ct)
    {
        var packed = Blob.Pack(content.Span, out var sha);
        await PutBlobAsync(WalKey(segment, partial: true), packed, sha,
            new Dictionary<string, string> { ["end-time"] = serverTime.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) }, ct).ConfigureAwait(false);
    }

    public async Task PutJsonAsync<T>(string key, T value, JsonTypeInfo<T> info, CancellationToken ct)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, info);
        using var ms = new MemoryStream(bytes, writable: false);
        await store.PutAsync(bucket, key, ms, bytes.Length,
            new ObjectMetadata("application/json", null, null, new Dictionary<string, string>(), new Dictionary<string, string>()), Layout, ct).ConfigureAwait(false);
    }

    public async Task<T?> GetJsonAsync<T>(string key, JsonTypeInfo<T> info, CancellationToken ct) where T : class
    {
        await using var r = await store.GetAsync(bucket, key, ct).ConfigureAwait(false);
        if (r is null) return null;
        try
        {
            return await JsonSerializer.DeserializeAsync(r.Content, info, ct).ConfigureAwait(false)
                   ?? throw new InvalidDataException("null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{Describe}: {key} is not valid JSON: {e.Message}", e);
        }
    }

    public Task PutTipAsync(WalTip tip, CancellationToken ct) => PutJsonAsync(TipKey, tip, PgJson.Default.WalTip, ct);
    public Task<WalTip?> GetTipAsync(CancellationToken ct) => GetJsonAsync(TipKey, PgJson.Default.WalTip, ct);

    public async Task<List<WalObject>> ListWalAsync(CancellationToken ct)
    {
        var list = new List<WalObject>();
        await foreach (var o in store.ListAsync(bucket, prefix + "wal/", null, ct).ConfigureAwait(false))
        {
            var name = o.Key[(prefix.Length + 4)..];
            var partial = name.EndsWith(".partial", StringComparison.Ordinal);
            var seg = partial ? name[..^8] : name;
            if (!Wal.IsSegmentName(seg)) continue;
            list.Add(new WalObject(seg, partial, o.Key, o.Size));
        }
        return list;
    }

    /// <summary>Time the segment ended (metadata end-time), or null.</summary>
    public async Task<DateTimeOffset?> EndTimeAsync(string key, CancellationToken ct)
    {
        var head = await store.HeadAsync(bucket, key, ct).ConfigureAwait(false);
        var v = head?.Metadata.UserMetadata.FirstOrDefault(kv => kv.Key.Equals("end-time", StringComparison.OrdinalIgnoreCase)).Value;
        return long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    /// <summary>Writes the segment to <paramref name="dest"/>: the full segment, or the partial one padded with zeros
    /// to 16 MiB (what PostgreSQL reads as the end of WAL). False when neither is archived. Checks the hash.</summary>
    public async Task<bool> FetchSegmentAsync(string segment, Stream dest, CancellationToken ct)
    {
        foreach (var partial in new[] { false, true })
        {
            var key = WalKey(segment, partial);
            await using var r = await store.GetAsync(bucket, key, ct).ConfigureAwait(false);
            if (r is null) continue;
            var (_, len) = await Blob.UnpackAsync(r.Content, dest, $"{Describe}: {key}", ct).ConfigureAwait(false);
            if (partial)
            {
                var zeros = new byte[1 << 16];
                for (var left = Wal.SegmentSize - len; left > 0; left -= zeros.Length)
                    await dest.WriteAsync(zeros.AsMemory(0, (int)Math.Min(left, zeros.Length)), ct).ConfigureAwait(false);
            }
            else if (len != Wal.SegmentSize) throw new InvalidDataException($"{Describe}: {key}: {len} bytes, not a 16 MiB segment");
            return true;
        }
        return false;
    }

    public async Task<List<BackupManifest>> ListBackupsAsync(CancellationToken ct)
    {
        var list = new List<BackupManifest>();
        await foreach (var o in store.ListAsync(bucket, prefix + "backups/", null, ct).ConfigureAwait(false))
        {
            if (!o.Key.EndsWith("/manifest.json", StringComparison.Ordinal)) continue;
            if (await GetJsonAsync(o.Key, PgJson.Default.BackupManifest, ct).ConfigureAwait(false) is { } m)
            {
                if (m.Format is < 1 or > BackupManifest.CurrentFormat)
                    throw new UserErrorException($"{Describe}: {o.Key} is in backup format {m.Format}, which this version of Lifeboat does not read (it reads 1 to {BackupManifest.CurrentFormat}): use a newer Lifeboat");
                list.Add(m);
            }
        }
        return list.OrderBy(m => m.ConsistentAt).ToList();
    }

    /// <summary>Backup folders without a manifest (interrupted backups).</summary>
    public async Task<List<string>> ListIncompleteBackupIdsAsync(CancellationToken ct)
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        var complete = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var o in store.ListAsync(bucket, prefix + "backups/", null, ct).ConfigureAwait(false))
        {
            var rest = o.Key[(prefix.Length + 8)..];
            var slash = rest.IndexOf('/');
            if (slash <= 0) continue;
            var id = rest[..slash];
            ids.Add(id);
            if (rest[(slash + 1)..] == "manifest.json") complete.Add(id);
        }
        return ids.Where(i => !complete.Contains(i)).ToList();
    }

    /// <summary>Deletes a backup: the manifest first (so it is never used half-deleted), then its chunks.</summary>
    public async Task DeleteBackupAsync(string id, CancellationToken ct)
    {
        await store.DeleteAsync(bucket, BackupPrefix(id) + "manifest.json", ct).ConfigureAwait(false);
        var keys = new List<string>();
        await foreach (var o in store.ListAsync(bucket, BackupPrefix(id), null, ct).ConfigureAwait(false)) keys.Add(o.Key);
        foreach (var k in keys) await store.DeleteAsync(bucket, k, ct).ConfigureAwait(false);
    }
}

/// <summary>A segment name already archived with other content.</summary>
public sealed class WalConflictException(string message) : Exception(message);
