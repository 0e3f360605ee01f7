using System.Security.Cryptography;
using System.Text;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>
/// Item comparison as DynamoDB defines equality: numbers by their exact decimal text (DynamoDB returns them
/// normalised), binary by bytes, sets as sets (member order ignored), maps by key, lists in order. <see cref="Hash"/> is
/// a SHA-256 of a canonical encoding (map keys and set members sorted), so two scans can be compared without keeping
/// every item in memory; <see cref="Diff"/> names the attributes that differ, for reports.
/// </summary>
public static class DdbCanonical
{
    public static byte[] Hash(IReadOnlyDictionary<string, DdbValue> item, IReadOnlySet<string>? exclude = null)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        WriteMap(h, item, exclude);
        return h.GetHashAndReset();
    }

    private static void WriteMap(IncrementalHash h, IReadOnlyDictionary<string, DdbValue> map, IReadOnlySet<string>? exclude)
    {
        var keys = map.Keys.Where(k => exclude is null || !exclude.Contains(k)).Order(StringComparer.Ordinal).ToList();
        WriteInt(h, keys.Count);
        foreach (var k in keys)
        {
            WriteString(h, k);
            Write(h, map[k]);
        }
    }

    private static void Write(IncrementalHash h, DdbValue v)
    {
        h.AppendData([(byte)v.Type]);
        switch (v.Type)
        {
            case DdbType.S:
            case DdbType.N:
                WriteString(h, v.Text!);
                break;
            case DdbType.B:
                WriteBytes(h, v.Bytes.Span);
                break;
            case DdbType.SS:
            case DdbType.NS:
                var strings = v.Strings!.Order(StringComparer.Ordinal).ToList();
                WriteInt(h, strings.Count);
                foreach (var s in strings) WriteString(h, s);
                break;
            case DdbType.BS:
                var blobs = v.BinarySet!.Select(b => b.ToArray()).Order(ByteComparer.Instance).ToList();
                WriteInt(h, blobs.Count);
                foreach (var b in blobs) WriteBytes(h, b);
                break;
            case DdbType.M:
                WriteMap(h, v.Map!, null);
                break;
            case DdbType.L:
                WriteInt(h, v.List!.Count);
                foreach (var x in v.List) Write(h, x);
                break;
            default:
                h.AppendData([v.Bool ? (byte)1 : (byte)0]);
                break;
        }
    }

    private static void WriteInt(IncrementalHash h, int n)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b, n);
        h.AppendData(b);
    }

    private static void WriteString(IncrementalHash h, string s) => WriteBytes(h, Encoding.UTF8.GetBytes(s));

    private static void WriteBytes(IncrementalHash h, ReadOnlySpan<byte> b)
    {
        WriteInt(h, b.Length);
        h.AppendData(b);
    }

    private sealed class ByteComparer : IComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    /// <summary>The top-level attributes (minus <paramref name="exclude"/>) whose values differ, e.g.
    /// <c>v: {"S":"a"} at the source, {"S":"b"} on the target; n only at the source</c>; empty when equal.</summary>
    public static string Diff(IReadOnlyDictionary<string, DdbValue> source, IReadOnlyDictionary<string, DdbValue> target, IReadOnlySet<string>? exclude = null, int maxValueChars = 60)
    {
        string Short(DdbValue v)
        {
            var s = DdbJson.Serialize(v);
            return s.Length <= maxValueChars ? s : s[..maxValueChars] + "...";
        }
        var parts = new List<string>();
        foreach (var name in source.Keys.Union(target.Keys).Where(k => exclude is null || !exclude.Contains(k)).Order(StringComparer.Ordinal))
        {
            var inS = source.TryGetValue(name, out var s);
            var inT = target.TryGetValue(name, out var t);
            if (inS && inT && s!.Equals(t)) continue;
            parts.Add(inS && inT ? $"{name}: {Short(s!)} at the source, {Short(t!)} on the target"
                : inS ? $"{name} only at the source" : $"{name} only on the target");
        }
        return string.Join("; ", parts);
    }
}
