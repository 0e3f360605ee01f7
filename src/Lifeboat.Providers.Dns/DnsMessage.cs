using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lifeboat.Providers.Dns;

/// <summary>A question (in an UPDATE: the zone section, RFC 2136 2.3).</summary>
public sealed record DnsQuestion(string Name, ushort Type, ushort Class = DnsClass.IN);

/// <summary>
/// A resource record. <see cref="Data"/> is the RDATA in uncompressed wire form (names inside CNAME, NS, PTR, MX, SOA
/// RDATA are expanded on decode), so it can be compared and re-encoded as is.
/// </summary>
public sealed record DnsRecord(string Name, ushort Type, ushort Class, uint Ttl, byte[] Data)
{
    public override string ToString() => $"{Name}. {Ttl} {(Class == DnsClass.IN ? "IN" : Class == DnsClass.ANY ? "ANY" : Class == DnsClass.NONE ? "NONE" : $"CLASS{Class}")} {DnsType.Name(Type)} {Rdata.Format(Type, Data)}";
}

/// <summary>
/// A DNS message (RFC 1035 4.1). For an UPDATE (RFC 2136 2.2) the sections are named differently: Questions = zone,
/// Answers = prerequisites, Authority = updates. Encoding writes names uncompressed; decoding follows compression
/// pointers.
/// </summary>
public sealed class DnsMessage
{
    public ushort Id { get; set; }
    public bool IsResponse { get; set; }
    public DnsOpcode Opcode { get; set; }
    public bool Authoritative { get; set; }
    public bool Truncated { get; set; }
    public bool RecursionDesired { get; set; }
    public bool RecursionAvailable { get; set; }
    /// <summary>The 4-bit header RCODE.</summary>
    public int Rcode { get; set; }
    public List<DnsQuestion> Questions { get; } = [];
    public List<DnsRecord> Answers { get; } = [];
    public List<DnsRecord> Authority { get; } = [];
    public List<DnsRecord> Additional { get; } = [];

    /// <summary>Set by <see cref="Decode"/>: the offset of the last additional record when it is a TSIG RR (else -1).</summary>
    public int TsigOffset { get; private set; } = -1;

    public DnsRecord? Tsig => TsigOffset >= 0 ? Additional[^1] : null;

    public ushort Flags =>
        (ushort)((IsResponse ? 0x8000 : 0) | ((int)Opcode << 11) | (Authoritative ? 0x0400 : 0) | (Truncated ? 0x0200 : 0)
                 | (RecursionDesired ? 0x0100 : 0) | (RecursionAvailable ? 0x0080 : 0) | (Rcode & 0xF));

    public byte[] Encode()
    {
        var w = new DnsWriter();
        w.U16(Id);
        w.U16(Flags);
        w.U16(Questions.Count);
        w.U16(Answers.Count);
        w.U16(Authority.Count);
        w.U16(Additional.Count);
        foreach (var q in Questions)
        {
            w.Name(q.Name);
            w.U16(q.Type);
            w.U16(q.Class);
        }
        foreach (var r in Answers.Concat(Authority).Concat(Additional)) WriteRecord(w, r);
        return w.ToArray();
    }

    internal static void WriteRecord(DnsWriter w, DnsRecord r)
    {
        w.Name(r.Name);
        w.U16(r.Type);
        w.U16(r.Class);
        w.U32(r.Ttl);
        w.U16(r.Data.Length);
        w.Bytes(r.Data);
    }

    public static DnsMessage Decode(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.Length < 12) throw new DnsFormatException($"message of {bytes.Length} bytes is shorter than a DNS header (12)");
        var r = new DnsReader(bytes);
        var m = new DnsMessage { Id = r.U16() };
        var flags = r.U16();
        m.IsResponse = (flags & 0x8000) != 0;
        m.Opcode = (DnsOpcode)((flags >> 11) & 0xF);
        m.Authoritative = (flags & 0x0400) != 0;
        m.Truncated = (flags & 0x0200) != 0;
        m.RecursionDesired = (flags & 0x0100) != 0;
        m.RecursionAvailable = (flags & 0x0080) != 0;
        m.Rcode = flags & 0xF;
        int qd = r.U16(), an = r.U16(), ns = r.U16(), ar = r.U16();
        try
        {
            for (var i = 0; i < qd; i++) m.Questions.Add(new DnsQuestion(r.Name(), r.U16(), r.U16()));
            for (var i = 0; i < an; i++) m.Answers.Add(ReadRecord(r));
            for (var i = 0; i < ns; i++) m.Authority.Add(ReadRecord(r));
            for (var i = 0; i < ar; i++)
            {
                var start = r.Pos;
                var rec = ReadRecord(r);
                m.Additional.Add(rec);
                if (rec.Type == DnsType.TSIG)
                {
                    // RFC 8945 5.2: the TSIG RR must be the last record of the message.
                    if (i != ar - 1) throw new DnsFormatException("a TSIG record is not the last record of the message");
                    m.TsigOffset = start;
                }
            }
        }
        catch (DnsFormatException) when (m.Truncated)
        {
            // A truncated UDP answer may end mid-record; the caller retries over TCP and only needs the header.
        }
        if (!r.AtEnd && !m.Truncated) throw new DnsFormatException($"{r.Length - r.Pos} byte(s) after the last record");
        return m;
    }

    private static DnsRecord ReadRecord(DnsReader r)
    {
        var name = r.Name();
        var type = r.U16();
        var cls = r.U16();
        var ttl = r.U32();
        var len = r.U16();
        var end = r.Pos + len;
        if (end > r.Length) throw new DnsFormatException($"RDATA of {name} {DnsType.Name(type)} runs past the end of the message");
        byte[] data;
        switch (type)
        {
            case DnsType.CNAME or DnsType.NS or DnsType.PTR:
                data = DnsName.ToWire(r.Name());
                break;
            case DnsType.MX:
            {
                var w = new DnsWriter();
                w.U16(r.U16());
                w.Name(r.Name());
                data = w.ToArray();
                break;
            }
            case DnsType.SOA:
            {
                var w = new DnsWriter();
                w.Name(r.Name());
                w.Name(r.Name());
                w.Bytes(r.Bytes(20));
                data = w.ToArray();
                break;
            }
            default:
                data = r.Bytes(len);
                break;
        }
        if (r.Pos != end) throw new DnsFormatException($"RDATA of {name} {DnsType.Name(type)} is {len} bytes but its content is {r.Pos - (end - len)}");
        return new DnsRecord(name, type, cls, ttl, data);
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append($";; opcode: {Opcode}, status: {DnsRcode.Name(Rcode)}, id: {Id}, flags:{(IsResponse ? " qr" : "")}{(Authoritative ? " aa" : "")}{(Truncated ? " tc" : "")}{(RecursionDesired ? " rd" : "")}\n");
        foreach (var q in Questions) sb.Append($";{q.Name}. {DnsType.Name(q.Type)}\n");
        foreach (var r in Answers.Concat(Authority).Concat(Additional)) sb.Append(r).Append('\n');
        return sb.ToString();
    }
}

/// <summary>Value text of the record types a store sets, to and from RDATA.</summary>
public static class Rdata
{
    /// <summary>RDATA of one value: A = IPv4 address, AAAA = IPv6 address, CNAME = a domain name (absolute),
    /// TXT = text (UTF-8; split into character-strings of at most 255 bytes). Throws FormatException.</summary>
    public static byte[] Encode(ushort type, string value)
    {
        switch (type)
        {
            case DnsType.A:
                if (!IPAddress.TryParse(value, out var v4) || v4.AddressFamily != AddressFamily.InterNetwork || value.Count(c => c == '.') != 3)
                    throw new FormatException($"'{value}' is not an IPv4 address (A record)");
                return v4.GetAddressBytes();
            case DnsType.AAAA:
                if (!IPAddress.TryParse(value, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
                    throw new FormatException($"'{value}' is not an IPv6 address (AAAA record)");
                return v6.GetAddressBytes();
            case DnsType.CNAME or DnsType.NS or DnsType.PTR:
                if (value.Length == 0) throw new FormatException("empty name");
                return DnsName.ToWire(value);
            case DnsType.TXT:
            {
                var bytes = Encoding.UTF8.GetBytes(value);
                var w = new DnsWriter();
                var i = 0;
                do
                {
                    var n = Math.Min(255, bytes.Length - i);
                    w.U8((byte)n);
                    w.Bytes(bytes.AsSpan(i, n));
                    i += n;
                } while (i < bytes.Length);
                return w.ToArray();
            }
            default:
                throw new FormatException($"record type {DnsType.Name(type)} is not supported (supported: {string.Join(", ", DnsType.Settable)})");
        }
    }

    /// <summary>Value text of RDATA (uncompressed, as held in <see cref="DnsRecord.Data"/>).</summary>
    public static string Format(ushort type, byte[] data)
    {
        try
        {
            switch (type)
            {
                case DnsType.A when data.Length == 4:
                case DnsType.AAAA when data.Length == 16:
                    return new IPAddress(data).ToString();
                case DnsType.CNAME or DnsType.NS or DnsType.PTR:
                    return new DnsReader(data).Name();
                case DnsType.TXT:
                {
                    var r = new DnsReader(data);
                    var sb = new List<byte>();
                    while (!r.AtEnd) sb.AddRange(r.Bytes(r.U8()));
                    return Encoding.UTF8.GetString(sb.ToArray());
                }
                case DnsType.MX:
                {
                    var r = new DnsReader(data);
                    return $"{r.U16()} {r.Name()}";
                }
                case DnsType.SOA:
                {
                    var r = new DnsReader(data);
                    return $"{r.Name()}. {r.Name()}. {r.U32()} {r.U32()} {r.U32()} {r.U32()} {r.U32()}";
                }
                default:
                    return data.Length == 0 ? "" : $"\\# {data.Length} {Convert.ToHexString(data)}";
            }
        }
        catch (DnsFormatException)
        {
            return $"\\# {data.Length} {Convert.ToHexString(data)}";
        }
    }

    /// <summary>Values compare as the server would: addresses by value, names case-insensitively.</summary>
    public static bool SameValue(ushort type, string a, string b) => type switch
    {
        DnsType.A or DnsType.AAAA => IPAddress.TryParse(a, out var x) && IPAddress.TryParse(b, out var y) && x.Equals(y),
        DnsType.CNAME or DnsType.NS or DnsType.PTR => DnsName.Equal(a, b),
        _ => a == b,
    };
}
