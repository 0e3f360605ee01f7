using System.Text;

namespace Lifeboat.Abstractions;

/// <summary>S3 orders keys by their UTF-8 bytes; every listing and merge in Lifeboat uses the same order.</summary>
public sealed class KeyComparer : IComparer<string>
{
    public static KeyComparer Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        // Fast path: ordinal UTF-16 order equals UTF-8 byte order unless a surrogate pair meets a char >= U+E000.
        var n = Math.Min(x.Length, y.Length);
        for (var i = 0; i < n; i++)
        {
            var a = x[i];
            var b = y[i];
            if (a == b) continue;
            if (char.IsSurrogate(a) || char.IsSurrogate(b))
                return Encoding.UTF8.GetBytes(x[i..]).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y[i..]));
            return a.CompareTo(b);
        }
        return x.Length.CompareTo(y.Length);
    }
}

public static class ETags
{
    /// <summary>A plain content MD5 (single-part upload): 32 hex digits.</summary>
    public static bool IsMd5(string etag) => etag.Length == 32 && etag.All(char.IsAsciiHexDigit);

    /// <summary>A multipart ETag: md5-of-md5s followed by -N.</summary>
    public static bool IsMultipart(string etag, out int parts)
    {
        parts = 0;
        var i = etag.IndexOf('-');
        return i == 32 && IsMd5(etag[..32]) && int.TryParse(etag[(i + 1)..], out parts) && parts > 0;
    }

    public static string Normalize(string? etag) => (etag ?? "").Trim('"').ToLowerInvariant();
}
