using System.Buffers.Binary;
using System.Text;

namespace Lifeboat.Providers.Dns;

/// <summary>DNS numbers used here (RFC 1035, 2136, 3596, 8945).</summary>
public static class DnsType
{
    public const ushort A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28, OPT = 41, TSIG = 250, ANY = 255;

    private static readonly Dictionary<string, ushort> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["A"] = A, ["NS"] = NS, ["CNAME"] = CNAME, ["SOA"] = SOA, ["PTR"] = PTR, ["MX"] = MX, ["TXT"] = TXT, ["AAAA"] = AAAA,
        ["OPT"] = OPT, ["TSIG"] = TSIG, ["ANY"] = ANY,
    };

    /// <summary>The types a record store can set and read.</summary>
    public static readonly IReadOnlyList<string> Settable = ["A", "AAAA", "CNAME", "TXT"];

    public static bool TryParse(string name, out ushort type) => ByName.TryGetValue(name, out type);

    public static string Name(ushort type) => ByName.FirstOrDefault(kv => kv.Value == type).Key ?? $"TYPE{type}";
}

public static class DnsClass
{
    public const ushort IN = 1, NONE = 254, ANY = 255;
}

/// <summary>Header RCODEs (RFC 1035, 2136) and TSIG error codes (RFC 8945).</summary>
public static class DnsRcode
{
    public const int NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5,
        YxDomain = 6, YxRrset = 7, NxRrset = 8, NotAuth = 9, NotZone = 10,
        BadSig = 16, BadKey = 17, BadTime = 18, BadTrunc = 22;

    public static string Name(int rcode) => rcode switch
    {
        NoError => "NOERROR", FormErr => "FORMERR", ServFail => "SERVFAIL", NxDomain => "NXDOMAIN", NotImp => "NOTIMP",
        Refused => "REFUSED", YxDomain => "YXDOMAIN", YxRrset => "YXRRSET", NxRrset => "NXRRSET", NotAuth => "NOTAUTH",
        NotZone => "NOTZONE", BadSig => "BADSIG", BadKey => "BADKEY", BadTime => "BADTIME", BadTrunc => "BADTRUNC",
        _ => $"RCODE{rcode}",
    };
}

public enum DnsOpcode { Query = 0, Update = 5 }

/// <summary>
/// Domain names in presentation form: absolute, without the trailing dot (the root is ""), labels separated by '.',
/// a '.' or '\' inside a label escaped with '\', other bytes outside printable ASCII as \DDD (RFC 1035 5.1).
/// </summary>
public static class DnsName
{
    public static string Normalize(string name) => name.EndsWith('.') && !name.EndsWith("\\.", StringComparison.Ordinal) ? name[..^1] : name;

    public static bool Equal(string a, string b) => string.Equals(Normalize(a), Normalize(b), StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="name"/> is <paramref name="zone"/> or below it.</summary>
    public static bool IsInZone(string name, string zone)
    {
        name = Normalize(name);
        zone = Normalize(zone);
        if (zone.Length == 0) return true;
        return string.Equals(name, zone, StringComparison.OrdinalIgnoreCase)
               || name.EndsWith("." + zone, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The labels of a presentation-form name, as bytes; throws FormatException for a bad name.</summary>
    public static List<byte[]> Labels(string name)
    {
        name = Normalize(name);
        var labels = new List<byte[]>();
        if (name.Length == 0) return labels;
        var cur = new List<byte>();
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c == '\\')
            {
                if (i + 3 < name.Length && char.IsAsciiDigit(name[i + 1]) && char.IsAsciiDigit(name[i + 2]) && char.IsAsciiDigit(name[i + 3]))
                {
                    var v = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
                    if (v > 255) throw new FormatException($"bad escape in name '{name}'");
                    cur.Add((byte)v);
                    i += 3;
                }
                else if (i + 1 < name.Length) { cur.AddRange(Encoding.UTF8.GetBytes(name[i + 1].ToString())); i++; }
                else throw new FormatException($"name '{name}' ends with '\\'");
            }
            else if (c == '.')
            {
                if (cur.Count == 0) throw new FormatException($"name '{name}' has an empty label");
                labels.Add(cur.ToArray());
                cur.Clear();
            }
            else cur.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        if (cur.Count == 0) throw new FormatException($"name '{name}' has an empty label");
        labels.Add(cur.ToArray());
        foreach (var l in labels)
            if (l.Length > 63) throw new FormatException($"name '{name}' has a label longer than 63 bytes");
        if (labels.Sum(l => l.Length + 1) + 1 > 255) throw new FormatException($"name '{name}' is longer than 255 bytes");
        return labels;
    }

    /// <summary>Uncompressed wire form; lower-cased when <paramref name="canonical"/> (RFC 4034 6.2, used in TSIG MACs).</summary>
    public static byte[] ToWire(string name, bool canonical = false)
    {
        var ms = new MemoryStream();
        foreach (var l in Labels(name))
        {
            ms.WriteByte((byte)l.Length);
            foreach (var b in l) ms.WriteByte(canonical && b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b);
        }
        ms.WriteByte(0);
        return ms.ToArray();
    }

    internal static string FromLabels(List<byte[]> labels)
    {
        var sb = new StringBuilder();
        foreach (var l in labels)
        {
            if (sb.Length > 0) sb.Append('.');
            foreach (var b in l)
            {
                if (b is (byte)'.' or (byte)'\\') sb.Append('\\').Append((char)b);
                else if (b is > 32 and < 127) sb.Append((char)b);
                else sb.Append('\\').Append(((int)b).ToString("000", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }
}

/// <summary>Big-endian writer of DNS wire format. Names are written uncompressed (always allowed, RFC 1035 4.1.4).</summary>
public sealed class DnsWriter
{
    private readonly MemoryStream _ms = new();

    public int Length => (int)_ms.Length;
    public void U8(byte v) => _ms.WriteByte(v);
    public void U16(int v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); _ms.Write(b); }
    public void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); _ms.Write(b); }
    public void U48(long v) { U16((int)((v >> 32) & 0xFFFF)); U32((uint)(v & 0xFFFFFFFF)); }
    public void Bytes(ReadOnlySpan<byte> b) => _ms.Write(b);
    public void Name(string name, bool canonical = false) => Bytes(DnsName.ToWire(name, canonical));
    public byte[] ToArray() => _ms.ToArray();

    public void PatchU16(int offset, int v)
    {
        var pos = _ms.Position;
        _ms.Position = offset;
        U16(v);
        _ms.Position = pos;
    }
}

/// <summary>Thrown for a message that does not parse (truncated, bad pointer, loop...).</summary>
public sealed class DnsFormatException(string message) : Exception(message);

/// <summary>Big-endian reader of DNS wire format with name decompression (RFC 1035 4.1.4), guarded against
/// pointer loops and reads past the end.</summary>
public sealed class DnsReader(ReadOnlyMemory<byte> message)
{
    private readonly ReadOnlyMemory<byte> _msg = message;
    public int Pos { get; set; }
    public int Length => _msg.Length;
    public bool AtEnd => Pos >= _msg.Length;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || Pos + n > _msg.Length) throw new DnsFormatException($"message truncated: need {n} byte(s) at offset {Pos}, have {_msg.Length - Pos}");
        var s = _msg.Span.Slice(Pos, n);
        Pos += n;
        return s;
    }

    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
    public long U48() { long hi = U16(); return (hi << 32) | U32(); }
    public byte[] Bytes(int n) => Take(n).ToArray();

    public string Name()
    {
        var labels = new List<byte[]>();
        var pos = Pos;
        var jumped = false;
        var jumps = 0;
        var total = 1;
        var span = _msg.Span;
        while (true)
        {
            if (pos >= span.Length) throw new DnsFormatException($"name runs past the end of the message (offset {pos})");
            var len = span[pos];
            if ((len & 0xC0) == 0xC0)
            {
                if (pos + 1 >= span.Length) throw new DnsFormatException($"truncated compression pointer at offset {pos}");
                var target = ((len & 0x3F) << 8) | span[pos + 1];
                if (!jumped) Pos = pos + 2;
                jumped = true;
                // RFC 1035 4.1.4: a pointer refers to a prior occurrence; a forward or self pointer could loop.
                if (target >= pos) throw new DnsFormatException($"compression pointer at offset {pos} points forward (to {target})");
                if (++jumps > 127) throw new DnsFormatException($"too many compression pointers in the name at offset {Pos}");
                pos = target;
                continue;
            }
            if ((len & 0xC0) != 0) throw new DnsFormatException($"unsupported label type 0x{len:x2} at offset {pos}");
            if (len == 0)
            {
                if (!jumped) Pos = pos + 1;
                break;
            }
            if (pos + 1 + len > span.Length) throw new DnsFormatException($"label runs past the end of the message (offset {pos})");
            total += len + 1;
            if (total > 255) throw new DnsFormatException("name longer than 255 bytes");
            labels.Add(span.Slice(pos + 1, len).ToArray());
            pos += 1 + len;
        }
        return DnsName.FromLabels(labels);
    }
}
