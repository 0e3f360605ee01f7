using Lifeboat.Core.Traffic;
using Lifeboat.Providers.Dns;
using Xunit;

namespace Lifeboat.Tests.Dns;

/// <summary>
/// Encoding, decoding and TSIG MACs checked against messages captured on the wire from BIND 9.18's own tools and
/// server (2026-11-22, a UDP proxy between the tool and a named holding the key below):
/// - DigQuery: `dig -k key.conf +norec +noad +noedns +nocookie -p P @127.0.0.1 app.example.internal A`
/// - NsupdateRequest: nsupdate -k key.conf: zone example.internal; update delete app.example.internal A;
///   update add app.example.internal 5 A 127.0.0.2; update add ... 127.0.0.3 (names compressed by nsupdate)
/// - WwwQuery/WwwResponse: dig as above for www.example.internal A (www CNAME app; app A 127.0.0.2, 127.0.0.3):
///   named's signed, compressed answer
/// - UpdateRequest/UpdateResponse: nsupdate delete app A + add app 5 A 127.0.0.4, and named's signed NOERROR
/// - BadSigResponse: named's answer to an update signed with the same key name but another secret
/// </summary>
public sealed class DnsWireTests
{
    private const string KeyFileText = """
        key "lifeboat-test." {
        	algorithm hmac-sha256;
        	secret "Q3pSQ0xrbVlhbm5RRVpnWTNxQ1F5c1ZJQ0RSVm1FUXk=";
        };
        """;

    private const string DigQuery = "8fec0000000100000000000103617070076578616d706c6508696e7465726e616c00000100010d6c696665626f61742d746573740000fa00ff00000000003d0b686d61632d7368613235360000006b02574e012c002085dd3d2e6e23c10bc6c208f2ef13869507bc479d96a12cb08f6bda53a089d8538fec00000000";
    private const string NsupdateRequest = "1e9728000001000000030001076578616d706c6508696e7465726e616c000006000103617070c00c000100ff000000000000c022000100010000000500047f000002c022000100010000000500047f0000030d6c696665626f61742d746573740000fa00ff00000000003d0b686d61632d7368613235360000006b025751012c0020c02a02b61f5c0be698be599c019d97c9ef3ea79dc990e7bc2f8569ae05eecafe1e9700000000";
    private const string WwwQuery = "09a00000000100000000000103777777076578616d706c6508696e7465726e616c00000100010d6c696665626f61742d746573740000fa00ff00000000003d0b686d61632d7368613235360000006b025761012c00206ed421adefc32bcddec2e9e41faa54ca163f4a19e0b16029a9e99b7f4f9b8e2909a000000000";
    private const string WwwResponse = "09a08400000100030001000203777777076578616d706c6508696e7465726e616c0000010001c00c000500010000012c000603617070c010c032000100010000012c00047f000002c032000100010000012c00047f000003c010000200010000012c0005026e73c010c064000100010000012c00047f0000010d6c696665626f61742d746573740000fa00ff00000000003d0b686d61632d7368613235360000006b025761012c0020163f96c1aae08222f98060c554ad819f533ad991e0b69ec73576014bdc0db1e909a000000000";
    private const string UpdateRequest = "b0ff28000001000000020001076578616d706c6508696e7465726e616c000006000103617070c00c000100ff000000000000c022000100010000000500047f0000040d6c696665626f61742d746573740000fa00ff00000000003d0b686d61632d7368613235360000006b025764012c002060905d1373cfb5e1755aea64e2d56769effce4011ddcdbbb76601353a644f77eb0ff00000000";
    private const string UpdateResponse = "b0ffa8000001000000000001076578616d706c6508696e7465726e616c00000600010d6c696665626f61742d746573740000fa00ff00000000003d0b686d61632d7368613235360000006b025764012c0020e73b8a3408f80fbb2fe4477a63dac34b48e3fad1cd864249ac3936c863fbba61b0ff00000000";
    private const string BadSigResponse = "03e3a8090001000000000001076578616d706c6508696e7465726e616c00000600010d6c696665626f61742d746573740000fa00ff00000000001d0b686d61632d7368613235360000006b025769012c000003e300100000";

    private static TsigKey Key => TsigKeyFile.Parse("key.conf", KeyFileText).Single();
    private static byte[] Hex(string h) => Convert.FromHexString(h);

    [Fact]
    public void SignedQuery_IsByteForByteWhatDigSends()
    {
        var captured = Hex(DigQuery);
        var m = new DnsMessage { Id = 0x8fec, Opcode = DnsOpcode.Query };
        m.Questions.Add(new DnsQuestion("app.example.internal", DnsType.A));
        var timeSigned = TsigRdata.Decode(DnsMessage.Decode(captured).Tsig!.Data).TimeSigned;
        Assert.Equal(0x6b02574eL, timeSigned);
        var (signed, mac) = new Tsig(Key).Sign(m.Encode(), timeSigned);
        Assert.Equal(Convert.ToHexString(captured), Convert.ToHexString(signed));
        Assert.Equal(32, mac.Length);
    }

    [Fact]
    public void NsupdateRequest_Decodes_WithCompressedNames_AndItsMacVerifies()
    {
        var bytes = Hex(NsupdateRequest);
        var tsig = new Tsig(Key);
        Assert.True(tsig.VerifyRequest(bytes));
        var m = DnsMessage.Decode(bytes);
        Assert.Equal(DnsOpcode.Update, m.Opcode);
        Assert.Equal(new DnsQuestion("example.internal", DnsType.SOA, DnsClass.IN), m.Questions.Single());
        Assert.Empty(m.Answers); // prerequisites
        Assert.Equal(3, m.Authority.Count);
        Assert.Equal(new DnsRecord("app.example.internal", DnsType.A, DnsClass.ANY, 0, []).ToString(), m.Authority[0].ToString());
        Assert.Equal("app.example.internal. 5 IN A 127.0.0.2", m.Authority[1].ToString());
        Assert.Equal("app.example.internal. 5 IN A 127.0.0.3", m.Authority[2].ToString());
        Assert.Equal("lifeboat-test", m.Tsig!.Name);

        // One flipped bit anywhere before the TSIG record: the MAC no longer verifies.
        var at = Convert.ToHexString(bytes).IndexOf("7F000002", StringComparison.Ordinal) / 2 + 3;
        bytes[at] ^= 1;
        Assert.False(tsig.VerifyRequest(bytes));
        bytes[at] ^= 1;
        Assert.False(new Tsig(Key with { Secret = new byte[32] }).VerifyRequest(bytes));

        // Our encoding of the same update (uncompressed) decodes to the same sections and verifies.
        var ours = new DnsMessage { Id = m.Id, Opcode = DnsOpcode.Update };
        ours.Questions.AddRange(m.Questions);
        ours.Authority.AddRange(m.Authority);
        var (signed, _) = tsig.Sign(ours.Encode(), TsigRdata.Decode(m.Tsig.Data).TimeSigned);
        Assert.True(tsig.VerifyRequest(signed));
        var back = DnsMessage.Decode(signed);
        Assert.Equal(m.Authority.Select(r => r.ToString()), back.Authority.Select(r => r.ToString()));
        Assert.True(signed.Length > bytes.Length, "ours is uncompressed");
    }

    [Fact]
    public void BindsSignedResponse_Verifies_AndDecompresses()
    {
        var request = DnsMessage.Decode(Hex(WwwQuery));
        var requestMac = TsigRdata.Decode(request.Tsig!.Data).Mac;
        var raw = Hex(WwwResponse);
        var resp = DnsMessage.Decode(raw);
        Assert.True(resp.IsResponse);
        Assert.True(resp.Authoritative);
        Assert.Equal(DnsRcode.NoError, resp.Rcode);
        Assert.Equal(
            ["www.example.internal. 300 IN CNAME app.example.internal", "app.example.internal. 300 IN A 127.0.0.2", "app.example.internal. 300 IN A 127.0.0.3"],
            resp.Answers.Select(r => r.ToString()));
        Assert.Equal("example.internal. 300 IN NS ns.example.internal", resp.Authority.Single().ToString());
        Assert.Equal("ns.example.internal. 300 IN A 127.0.0.1", resp.Additional[0].ToString());

        var t = TsigRdata.Decode(resp.Tsig!.Data);
        var tsig = new Tsig(Key);
        Assert.Null(tsig.VerifyResponse(requestMac, raw, resp, t, t.TimeSigned + 10));
        Assert.Contains("s from our clock", tsig.VerifyResponse(requestMac, raw, resp, t, t.TimeSigned + 301));
        // Another request's MAC, or an altered answer: rejected.
        Assert.Contains("does not verify", tsig.VerifyResponse(new byte[32], raw, resp, t, t.TimeSigned));
        var altered = (byte[])raw.Clone();
        altered[Convert.ToHexString(raw).IndexOf("7F000002", StringComparison.Ordinal) / 2 + 3] = 9; // 127.0.0.2 -> 127.0.0.9
        var alteredMsg = DnsMessage.Decode(altered);
        Assert.Equal("127.0.0.9", Rdata.Format(DnsType.A, alteredMsg.Answers[1].Data));
        Assert.Contains("does not verify", tsig.VerifyResponse(requestMac, altered, alteredMsg, TsigRdata.Decode(alteredMsg.Tsig!.Data), t.TimeSigned));
    }

    [Fact]
    public void BindsUpdateResponse_Verifies()
    {
        var request = Hex(UpdateRequest);
        var tsig = new Tsig(Key);
        Assert.True(tsig.VerifyRequest(request));
        var requestMac = TsigRdata.Decode(DnsMessage.Decode(request).Tsig!.Data).Mac;
        var raw = Hex(UpdateResponse);
        var resp = DnsMessage.Decode(raw);
        Assert.Equal(DnsOpcode.Update, resp.Opcode);
        Assert.Equal(DnsRcode.NoError, resp.Rcode);
        var t = TsigRdata.Decode(resp.Tsig!.Data);
        Assert.Equal(0, t.Error);
        Assert.Null(tsig.VerifyResponse(requestMac, raw, resp, t, t.TimeSigned));
    }

    [Fact]
    public void BadSigResponse_IsNotAuth_WithTsigErrorAndNoMac()
    {
        var resp = DnsMessage.Decode(Hex(BadSigResponse));
        Assert.Equal(DnsRcode.NotAuth, resp.Rcode);
        var t = TsigRdata.Decode(resp.Tsig!.Data);
        Assert.Equal(DnsRcode.BadSig, t.Error);
        Assert.Empty(t.Mac);
        Assert.Equal("hmac-sha256", t.Algorithm);
    }

    [Fact]
    public void Decoder_RejectsLoopsForwardPointersAndTruncation()
    {
        // Header + one question whose name is label "a" then a pointer back to that label (offset 12): a loop.
        var loop = Hex("000100000001000000000000" + "0161C00C" + "00010001");
        Assert.Throws<DnsFormatException>(() => DnsMessage.Decode(loop));
        var self = Hex("000100000001000000000000" + "C00C" + "00010001");
        Assert.Throws<DnsFormatException>(() => DnsMessage.Decode(self));
        var forward = Hex("000100000001000000000000C0200001000100000000");
        Assert.Contains("forward", Assert.Throws<DnsFormatException>(() => DnsMessage.Decode(forward)).Message);
        var full = Hex(WwwResponse);
        for (var cut = 0; cut < full.Length; cut += 7)
            Assert.ThrowsAny<Exception>(() => DnsMessage.Decode(full[..cut]));
        Assert.Throws<DnsFormatException>(() => DnsMessage.Decode(full.Append((byte)0).ToArray()));
    }

    [Fact]
    public void Names_WireForm_Escapes_AndLimits()
    {
        Assert.Equal("03617070076578616D706C6508696E7465726E616C00", Convert.ToHexString(DnsName.ToWire("app.example.internal.")));
        Assert.Equal("03617070076578616D706C6508696E7465726E616C00", Convert.ToHexString(DnsName.ToWire("APP.Example.internal", canonical: true)));
        Assert.Equal("00", Convert.ToHexString(DnsName.ToWire("")));
        var odd = DnsName.ToWire(@"a\.b\032c.example");
        Assert.Equal(@"a\.b\032c.example", new DnsReader(odd).Name());
        Assert.Throws<FormatException>(() => DnsName.ToWire(new string('a', 64) + ".example"));
        Assert.Throws<FormatException>(() => DnsName.ToWire("a..b"));
        Assert.Throws<FormatException>(() => DnsName.ToWire(string.Join('.', Enumerable.Repeat(new string('a', 63), 4))));
        Assert.True(DnsName.IsInZone("App.Example.Internal.", "example.internal"));
        Assert.True(DnsName.IsInZone("example.internal", "example.internal"));
        Assert.False(DnsName.IsInZone("badexample.internal", "example.internal"));
    }

    [Fact]
    public void Rdata_ForTheSettableTypes()
    {
        Assert.Equal("7F000002", Convert.ToHexString(Rdata.Encode(DnsType.A, "127.0.0.2")));
        Assert.Throws<FormatException>(() => Rdata.Encode(DnsType.A, "::1"));
        Assert.Throws<FormatException>(() => Rdata.Encode(DnsType.A, "127.1"));
        Assert.Equal("20010DB8000000000000000000000001", Convert.ToHexString(Rdata.Encode(DnsType.AAAA, "2001:db8::1")));
        Assert.Throws<FormatException>(() => Rdata.Encode(DnsType.AAAA, "10.0.0.1"));
        Assert.Equal("0568656C6C6F00", Convert.ToHexString(Rdata.Encode(DnsType.CNAME, "hello.")));
        Assert.Equal("00", Convert.ToHexString(Rdata.Encode(DnsType.TXT, "")));
        var txt = Rdata.Encode(DnsType.TXT, new string('x', 300));
        Assert.Equal(255, txt[0]);
        Assert.Equal(45, txt[256]);
        Assert.Equal(302, txt.Length);
        Assert.Equal(new string('x', 300), Rdata.Format(DnsType.TXT, txt));
        Assert.Throws<FormatException>(() => Rdata.Encode(DnsType.MX, "10 mail"));
    }
}
