using System.Security.Cryptography;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Lifeboat.Abstractions;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Conformance;

/// <summary>
/// Property: any sequence of keys (lengths up to 300-byte segments, multi-byte Unicode, separators, reserved and
/// invalid names, collisions such as <c>x</c> / <c>x/y</c> / <c>x.json/y</c>) put into a folder store either round-trips
/// exactly (put, head, list, get, delete) or fails with a permanent <see cref="StoreException"/> naming the key, exactly
/// when the key cannot be a file there; never another exception, never a file outside the root, and the other keys still
/// work. Fixed seed (LIFEBOAT_FUZZ_SEED=random for a random one); a few seconds.
/// </summary>
public sealed class FileStoreKeyFuzzTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly PartLayout Single = new(long.MaxValue, 8 << 20);

    private static readonly Gen<string> ShortSegment = Gen.Elements(
        "x", "y", "x.json", "y.json", "x.json.tmp-0", "a b", "é", "日本", "😀", "meta", "sidecars", "tmp", ".hidden", "%2F",
        "a\\b", "\u0001", "line\nbreak", "q?*", "CON", "ab", "AB", ".lifeboat-not", "\u00a0", "e\u0301");

    /// <summary>A segment of exactly 195-300 UTF-8 bytes, of one-, two-, three- or four-byte characters.</summary>
    private static readonly Gen<string> LongSegment =
        from bytes in Gen.Choose(195, 300)
        from c in Gen.Elements("a", "é", "日", "😀")
        let unit = Encoding.UTF8.GetByteCount(c)
        select string.Concat(Enumerable.Repeat(c, bytes / unit)) + new string('a', bytes % unit);

    private static readonly Gen<string> BadSegment = Gen.Elements("", ".", "..", ".lifeboat", "\0", "\uD800", "a\uDC00");

    private static readonly Gen<string> Segment = Gen.Frequency((8, ShortSegment), (3, LongSegment), (1, BadSegment));

    private static readonly Gen<string> Key =
        from segments in Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(Segment, n))
        from shape in Gen.Frequency((12, Gen.Constant(0)), (1, Gen.Constant(1)), (1, Gen.Constant(2)))
        let key = string.Join('/', segments)
        select shape switch { 1 => "/" + key, 2 => key + "/", _ => key };

    /// <summary>Keys, then keys derived from them so that collisions are frequent.</summary>
    private static readonly Gen<(bool Native, string[] Keys)> Cases =
        from native in Gen.Elements(true, false)
        from baseKeys in Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(Key, n))
        from derived in Gen.Choose(0, 4).SelectMany(n => Gen.ArrayOf(
            from k in Gen.Elements(baseKeys)
            from how in Gen.Elements("/y", ".json/y", ".json", "parent", "same", "/" + new string('z', 250))
            select how == "parent" ? (k.Contains('/') ? k[..k.LastIndexOf('/')] : k) : how == "same" ? k : k + how, n))
        from order in Gen.Shuffle(baseKeys.Concat(derived))
        select (native, order);

    [Fact]
    public void AnyKey_RoundTripsExactly_OrIsAPermanentErrorNamingIt_AndNothingLeavesTheRoot() =>
        Fuzz.Check(Cases, c => CheckAsync(c.Native, c.Keys).GetAwaiter().GetResult(), runs: 100);

    /// <summary>Whether a key can be a file in a folder, by the documented rules (docs/providers/file.md).</summary>
    private static bool Storable(string key)
    {
        if (key.Length == 0 || key.Contains('\0') || key.StartsWith('/') || key.EndsWith('/')) return false;
        var segments = key.Split('/');
        if (segments[0] == ".lifeboat") return false;
        foreach (var s in segments)
        {
            if (s is "" or "." or "..") return false;
            int bytes;
            try { bytes = new UTF8Encoding(false, true).GetByteCount(s); }
            catch (EncoderFallbackException) { return false; }
            if (bytes > 255) return false;
        }
        return true;
    }

    /// <summary>A file and a folder of one name: a stored key is a folder on this key's path, or the reverse.</summary>
    private static bool Collides(string key, IEnumerable<string> stored) =>
        stored.Any(s => key.StartsWith(s + "/", StringComparison.Ordinal) || s.StartsWith(key + "/", StringComparison.Ordinal));

    private static ObjectMetadata Meta(string key) => new("text/plain", null, null,
        new Dictionary<string, string> { ["origin"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(key)) }, new Dictionary<string, string>());

    private static async Task CheckAsync(bool native, string[] keys)
    {
        using var dir = new TempDir();
        var root = Path.Combine(dir.Path, "root");
        var store = new FileStore("fuzz", root, null, null, native);
        await store.CreateBucketAsync("b", None);
        var stored = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Length; i++)
        {
            var key = keys[i];
            var data = Encoding.UTF8.GetBytes($"{i}:{key}");
            var expected = Storable(key) && !Collides(key, stored.Keys);
            try
            {
                await store.PutAsync("b", key, new MemoryStream(data), data.Length, Meta(key), Single, None);
                Assert.True(expected, $"'{key}' was stored; it cannot be a file there");
                stored[key] = data;
            }
            catch (StoreException e)
            {
                Assert.False(expected, $"'{key}' could be stored but was refused: {e.Message}");
                Assert.Equal(StoreErrorKind.Permanent, e.Kind);
                Assert.Contains(key, e.Message);
            }
        }

        foreach (var (key, data) in stored)
        {
            var head = await store.HeadAsync("b", key, None);
            Assert.NotNull(head);
            Assert.Equal(data.Length, head.Info.Size);
            Assert.Equal(Convert.ToHexStringLower(MD5.HashData(data)), head.Info.ETag);
            Assert.Equal(Meta(key).UserMetadata["origin"], head.Metadata.UserMetadata["origin"]);
            await using var r = await store.GetAsync("b", key, None);
            using var ms = new MemoryStream();
            await r!.Content.CopyToAsync(ms);
            Assert.Equal(data, ms.ToArray());
            var slash = key.LastIndexOf('/');
            if (slash > 0) Assert.Contains(key, await ListAsync(store, key[..(slash + 1)]));
        }
        Assert.Equal(stored.Keys.OrderBy(k => k, KeyComparer.Instance), await ListAsync(store, ""));
        Assert.Equal([root], Directory.GetFileSystemEntries(dir.Path)); // nothing beside (outside) the root

        foreach (var key in stored.Keys)
        {
            await store.DeleteAsync("b", key, None);
            Assert.Null(await store.HeadAsync("b", key, None));
        }
        Assert.Empty(await ListAsync(store, ""));
        var bucket = Path.Combine(root, "b");
        // No data file, sidecar or temp file left behind, and only the reserved folder remains.
        Assert.Empty(Directory.GetFiles(bucket, "*", SearchOption.AllDirectories));
        Assert.All(Directory.GetDirectories(bucket), d => Assert.Equal(".lifeboat", Path.GetFileName(d)));
    }

    private static async Task<List<string>> ListAsync(IObjectStore store, string prefix)
    {
        var keys = new List<string>();
        await foreach (var o in store.ListAsync("b", prefix, null, None)) keys.Add(o.Key);
        return keys;
    }
}
