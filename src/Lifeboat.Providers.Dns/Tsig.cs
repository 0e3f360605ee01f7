using System.Security.Cryptography;
using Lifeboat.Core.Traffic;

namespace Lifeboat.Providers.Dns;

/// <summary>The RDATA fields of a TSIG record (RFC 8945 4.2).</summary>
public sealed record TsigRdata(string Algorithm, long TimeSigned, ushort Fudge, byte[] Mac, ushort OriginalId, int Error, byte[] OtherData)
{
    public byte[] Encode()
    {
        var w = new DnsWriter();
        w.Name(Algorithm);
        w.U48(TimeSigned);
        w.U16(Fudge);
        w.U16(Mac.Length);
        w.Bytes(Mac);
        w.U16(OriginalId);
        w.U16(Error);
        w.U16(OtherData.Length);
        w.Bytes(OtherData);
        return w.ToArray();
    }

    public static TsigRdata Decode(byte[] data)
    {
        var r = new DnsReader(data);
        var alg = r.Name();
        var time = r.U48();
        var fudge = r.U16();
        var mac = r.Bytes(r.U16());
        var id = r.U16();
        var error = r.U16();
        var other = r.Bytes(r.U16());
        if (!r.AtEnd) throw new DnsFormatException("bytes after the TSIG RDATA");
        return new TsigRdata(alg, time, fudge, mac, id, error, other);
    }
}

/// <summary>
/// TSIG (RFC 8945): signs requests and verifies the server's signed responses with a shared HMAC key. Written by
/// hand (no DNS library is reachable here); checked against BIND 9.18 and against messages captured from dig and
/// nsupdate (tests/Lifeboat.Tests/Dns).
/// </summary>
public sealed class Tsig(TsigKey key)
{
    /// <summary>Seconds of clock difference allowed (RFC 8945 recommends 300).</summary>
    public const ushort DefaultFudge = 300;

    public TsigKey Key { get; } = key;

    private byte[] Hmac(ReadOnlySpan<byte> data) => Key.Algorithm switch
    {
        "hmac-sha256" => HMACSHA256.HashData(Key.Secret, data),
        "hmac-sha512" => HMACSHA512.HashData(Key.Secret, data),
        "hmac-sha384" => HMACSHA384.HashData(Key.Secret, data),
        "hmac-sha1" => HMACSHA1.HashData(Key.Secret, data),
        _ => throw new InvalidOperationException($"unsupported TSIG algorithm {Key.Algorithm}"),
    };

    private int FullMacLength => Key.Algorithm switch { "hmac-sha512" => 64, "hmac-sha384" => 48, "hmac-sha1" => 20, _ => 32 };

    /// <summary>The TSIG variables of RFC 8945 4.3.3, in the order they are digested.</summary>
    private void WriteVariables(DnsWriter w, long timeSigned, ushort fudge, int error, byte[] other, bool timersOnly = false)
    {
        if (!timersOnly)
        {
            w.Name(Key.Name, canonical: true);
            w.U16(DnsClass.ANY);
            w.U32(0);
            w.Name(Key.Algorithm, canonical: true);
        }
        w.U48(timeSigned);
        w.U16(fudge);
        if (!timersOnly)
        {
            w.U16(error);
            w.U16(other.Length);
            w.Bytes(other);
        }
    }

    /// <summary>The MAC of a request (RFC 8945 4.3.1): the message as sent without the TSIG RR, then the variables.</summary>
    public byte[] RequestMac(ReadOnlySpan<byte> messageWithoutTsig, long timeSigned, ushort fudge)
    {
        var w = new DnsWriter();
        w.Bytes(messageWithoutTsig);
        WriteVariables(w, timeSigned, fudge, 0, []);
        return Hmac(w.ToArray());
    }

    /// <summary>Appends a TSIG RR to an encoded message (ARCOUNT + 1). Returns the signed message and its MAC
    /// (needed to verify the response).</summary>
    public (byte[] Message, byte[] Mac) Sign(byte[] message, long timeSigned, ushort fudge = DefaultFudge)
    {
        var mac = RequestMac(message, timeSigned, fudge);
        var id = (ushort)((message[0] << 8) | message[1]);
        var rdata = new TsigRdata(Key.Algorithm, timeSigned, fudge, mac, id, 0, []).Encode();
        var w = new DnsWriter();
        w.Bytes(message);
        DnsMessage.WriteRecord(w, new DnsRecord(Key.Name, DnsType.TSIG, DnsClass.ANY, 0, rdata));
        var signed = w.ToArray();
        var ar = ((signed[10] << 8) | signed[11]) + 1;
        signed[10] = (byte)(ar >> 8);
        signed[11] = (byte)ar;
        return (signed, mac);
    }

    /// <summary>The MAC of a response (RFC 8945 4.3.2): the request's MAC (with its length), the response without its
    /// TSIG RR (ARCOUNT - 1, the original ID), then the variables.</summary>
    public byte[] ResponseMac(byte[] requestMac, ReadOnlySpan<byte> response, int tsigOffset, TsigRdata t)
    {
        var w = new DnsWriter();
        w.U16(requestMac.Length);
        w.Bytes(requestMac);
        var body = response[..tsigOffset].ToArray();
        body[0] = (byte)(t.OriginalId >> 8);
        body[1] = (byte)t.OriginalId;
        var ar = ((body[10] << 8) | body[11]) - 1;
        body[10] = (byte)(ar >> 8);
        body[11] = (byte)ar;
        w.Bytes(body);
        WriteVariables(w, t.TimeSigned, t.Fudge, t.Error, t.OtherData);
        return Hmac(w.ToArray());
    }

    /// <summary>Checks a signed request (as a server would); used by tests to check captured dig/nsupdate messages.</summary>
    public bool VerifyRequest(byte[] signed)
    {
        var m = DnsMessage.Decode(signed);
        if (m.Tsig is null) return false;
        var t = TsigRdata.Decode(m.Tsig.Data);
        var body = signed[..m.TsigOffset];
        body[0] = (byte)(t.OriginalId >> 8);
        body[1] = (byte)t.OriginalId;
        var ar = ((body[10] << 8) | body[11]) - 1;
        body[10] = (byte)(ar >> 8);
        body[11] = (byte)ar;
        var w = new DnsWriter();
        w.Bytes(body);
        WriteVariables(w, t.TimeSigned, t.Fudge, t.Error, t.OtherData);
        return CryptographicOperations.FixedTimeEquals(Hmac(w.ToArray()), t.Mac);
    }

    /// <summary>
    /// Verifies a response to a request signed with <paramref name="requestMac"/>: same key and algorithm, the MAC
    /// (full length, or truncated no shorter than RFC 8945 5.2.2.1 allows), and the time within the fudge. Returns null
    /// when valid, else the reason. A response carrying a TSIG error (BADSIG, BADKEY: unsigned by design) is
    /// reported by the caller from <paramref name="t"/>.Error before this check.
    /// </summary>
    public string? VerifyResponse(byte[] requestMac, byte[] response, DnsMessage decoded, TsigRdata t, long now)
    {
        var rr = decoded.Tsig!;
        if (!DnsName.Equal(rr.Name, Key.Name))
            return $"the response is signed with key '{rr.Name}', not '{Key.Name}'";
        if (!DnsName.Equal(t.Algorithm, Key.Algorithm))
            return $"the response is signed with {t.Algorithm}, not {Key.Algorithm}";
        var min = Math.Max(10, FullMacLength / 2);
        if (t.Mac.Length < min || t.Mac.Length > FullMacLength)
            return $"the response's MAC is {t.Mac.Length} bytes (expected {FullMacLength}, or truncated to at least {min})";
        var expected = ResponseMac(requestMac, response, decoded.TsigOffset, t);
        if (!CryptographicOperations.FixedTimeEquals(expected.AsSpan(0, t.Mac.Length), t.Mac))
            return "the response's MAC does not verify (the answer was altered, or the server holds another secret for this key)";
        if (Math.Abs(now - t.TimeSigned) > t.Fudge)
            return $"the response was signed at {DateTimeOffset.FromUnixTimeSeconds(t.TimeSigned):u}, {Math.Abs(now - t.TimeSigned)} s from our clock (fudge {t.Fudge} s)";
        return null;
    }
}
