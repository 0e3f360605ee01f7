using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;

namespace Lifeboat.Core.Replication;

/// <summary>What a replicator does with its target's claim marker: nothing (restores, failback, the reverse
/// direction), check it (verify: refuse a target another state protects, write nothing), or claim it (replicate,
/// serve: write it when absent).</summary>
public enum ClaimMode { None, Check, Claim }

/// <summary>Which state protects a target: its id, the resource, where the state file was and when it claimed it.</summary>
public sealed record TargetClaimRecord(string StateId, string Resource, string StateFile, string Host, DateTimeOffset ClaimedAt)
{
    public string Describe => $"state {(StateId.Length > 12 ? StateId[..12] : StateId)} of {StateFile} on {Host}, " +
                              $"claimed {ClaimedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC";
}

/// <summary>
/// The marker by which a bucket target remembers the state file that protects it (ADR 0009): when the state file is
/// lost and a new one begins, the target's marker names another state, and replication refuses to start over
/// silently. Kept as <c>PREFIX.lifeboat/state.json</c> in the target (inside the resource's key space, so a policy
/// scoped to the prefix covers it), or in the reserved folder of a store that has one (<see cref="IReservedFiles"/>).
/// Keys under <c>PREFIX.lifeboat/</c> are Lifeboat's: never listed, copied, deleted, verified or restored.
/// </summary>
public static class TargetClaim
{
    /// <summary>Lifeboat's reserved folder, relative to a resource's prefix.</summary>
    public const string Reserved = ".lifeboat/";

    /// <summary>Whether a key relative to a resource's prefix is Lifeboat's own.</summary>
    public static bool IsReserved(string relativeKey) => relativeKey.StartsWith(Reserved, StringComparison.Ordinal);

    /// <summary>Whether <paramref name="key"/>, under a prefix of <paramref name="prefixLength"/> characters, is Lifeboat's own.</summary>
    public static bool IsReserved(string key, int prefixLength) =>
        key.Length >= prefixLength + Reserved.Length && string.CompareOrdinal(key, prefixLength, Reserved, 0, Reserved.Length) == 0;

    public static string MarkerKey(Location target) => target.Prefix + Reserved + "state.json";

    /// <summary>In a reserved folder: one file per prefix, named by the prefix's hash (a prefix can be long).</summary>
    private static string ReservedName(string prefix) =>
        "claims/" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(prefix)))[..32] + ".json";

    /// <summary>Where the marker of <paramref name="target"/> is, as shown to users.</summary>
    public static string Where(IObjectStore store, Location target) => store is IReservedFiles
        ? $"{target.Store}/{target.Bucket}/{Reserved}{ReservedName(target.Prefix)}"
        : $"{target.Store}/{target.Bucket}/{MarkerKey(target)}";

    /// <summary>What the target's marker says: a claim, nothing (no marker), or why it cannot be read as one.</summary>
    public sealed record Found(TargetClaimRecord? Claim, string? Unreadable);

    private const int MaxMarker = 64 << 10;

    public static async Task<Found> ReadAsync(IObjectStore store, Location target, CancellationToken ct)
    {
        byte[]? bytes;
        if (store is IReservedFiles reserved) bytes = await reserved.ReadReservedAsync(target.Bucket, ReservedName(target.Prefix), ct).ConfigureAwait(false);
        else
        {
            await using var r = await store.GetAsync(target.Bucket, MarkerKey(target), ct).ConfigureAwait(false);
            if (r is null) return new Found(null, null);
            if (r.Head.Info.Size > MaxMarker) return new Found(null, $"{r.Head.Info.Size} bytes: not a claim marker");
            using var ms = new MemoryStream();
            await r.Content.CopyToAsync(ms, ct).ConfigureAwait(false);
            bytes = ms.ToArray();
        }
        return bytes is null ? new Found(null, null) : Parse(bytes);
    }

    internal static Found Parse(byte[] bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            string? S(string name) => root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var id = S("state_id");
            var resource = S("resource");
            if (string.IsNullOrEmpty(id) || resource is null) return new Found(null, "no state_id or resource");
            var at = DateTimeOffset.TryParse(S("claimed_at"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : DateTimeOffset.UnixEpoch;
            return new Found(new TargetClaimRecord(id, resource, S("state_file") ?? "?", S("host") ?? "?", at), null);
        }
        catch (JsonException e)
        {
            return new Found(null, $"not JSON: {e.Message}");
        }
    }

    internal static byte[] Serialize(TargetClaimRecord claim)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("about", "Lifeboat: this target is protected by the state named here; see docs/adr/0009-state-file-integrity.md");
            w.WriteString("state_id", claim.StateId);
            w.WriteString("resource", claim.Resource);
            w.WriteString("state_file", claim.StateFile);
            w.WriteString("host", claim.Host);
            w.WriteString("claimed_at", claim.ClaimedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    public static async Task WriteAsync(IObjectStore store, Location target, TargetClaimRecord claim, CancellationToken ct)
    {
        var bytes = Serialize(claim);
        if (store is IReservedFiles reserved)
        {
            await reserved.WriteReservedAsync(target.Bucket, ReservedName(target.Prefix), bytes, ct).ConfigureAwait(false);
            return;
        }
        var etag = await store.PutAsync(target.Bucket, MarkerKey(target), new MemoryStream(bytes), bytes.Length,
            ObjectMetadata.Empty with { ContentType = "application/json" }, new PartLayout(long.MaxValue, 8 << 20), ct).ConfigureAwait(false);
        var md5 = Convert.ToHexStringLower(MD5.HashData(bytes));
        if (etag != md5)
            throw new StoreException(StoreErrorKind.Transient, $"{store.Describe}: {MarkerKey(target)}: target checksum {etag} does not match the {md5} of the claim marker sent");
    }
}
