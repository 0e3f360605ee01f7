using Lifeboat.Hosting;
using System.Net;
using System.Net.Sockets;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;
using Lifeboat.Providers.Dns;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Dns;

/// <summary>RFC 2136 updates signed with TSIG against the real BIND 9 of tests/servers/bind.sh; answers checked with dig.</summary>
public sealed class BindUpdateTests
{
    private static BindServer Bind => BindServer.Instance;

    private static DnsZoneStore Store(string keyName = "update", string? zone = null, DnsTransport transport = DnsTransport.Udp, TimeProvider? time = null, string? keyFile = null)
    {
        var key = TsigKeyFile.LoadOne(keyFile ?? Bind.Key(keyName), null);
        return new DnsZoneStore("zone", zone ?? Bind.Zone, new DnsClient(new DnsClientOptions
        {
            Host = Bind.Host, Port = Bind.Port, Key = key, Transport = transport, Time = time ?? TimeProvider.System,
        }));
    }

    private static string Fqdn(string hint) => $"{BindServer.NewName(hint)}.{Bind.Zone}";

    private static DnsErrorException Details(StoreException e) => Assert.IsType<DnsErrorException>(e.InnerException);

    [Fact]
    public async Task SignedUpdate_IsVisibleToDig_AndToGet()
    {
        var store = Store();
        var name = Fqdn("app");
        Assert.Null(await store.GetAsync(name, "A", CancellationToken.None));
        Assert.Empty(Bind.Dig(name, "A"));

        await store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.2"], 5), CancellationToken.None);

        Assert.Equal(["127.0.0.2"], Bind.Dig(name, "A"));
        var got = await store.GetAsync(name, "A", CancellationToken.None);
        Assert.NotNull(got);
        Assert.Equal(["127.0.0.2"], got.Values);
        Assert.Equal(5, got.Ttl);
        Assert.Equal(name, got.Name);
    }

    [Fact]
    public async Task Set_ReplacesTheWholeRecordSet_WithSeveralValues()
    {
        var store = Store();
        var name = Fqdn("multi");
        await store.SetAsync(new DnsRecordSet(name, "A", ["10.0.0.1", "10.0.0.2", "10.0.0.3"], 30), CancellationToken.None);
        Assert.Equal(["10.0.0.1", "10.0.0.2", "10.0.0.3"], Bind.Dig(name, "A"));

        await store.SetAsync(new DnsRecordSet(name, "A", ["10.0.0.4", "10.0.0.5"], 60), CancellationToken.None);
        Assert.Equal(["10.0.0.4", "10.0.0.5"], Bind.Dig(name, "A"));
        var got = await store.GetAsync(name, "A", CancellationToken.None);
        Assert.Equal(["10.0.0.4", "10.0.0.5"], got!.Values.Order(StringComparer.Ordinal));
        Assert.Equal(60, got.Ttl);

        // Other types of the name are untouched by an A replace.
        await store.SetAsync(new DnsRecordSet(name, "TXT", ["v=1"], 60), CancellationToken.None);
        await store.SetAsync(new DnsRecordSet(name, "A", ["10.0.0.6"], 60), CancellationToken.None);
        Assert.Equal(["\"v=1\""], Bind.Dig(name, "TXT"));

        // No values: the record set is deleted.
        await store.SetAsync(new DnsRecordSet(name, "A", [], 60), CancellationToken.None);
        Assert.Empty(Bind.Dig(name, "A"));
        Assert.Null(await store.GetAsync(name, "A", CancellationToken.None));
    }

    [Fact]
    public async Task Aaaa_Cname_Txt_RoundTrip()
    {
        var store = Store();
        var v6 = Fqdn("v6");
        await store.SetAsync(new DnsRecordSet(v6, "AAAA", ["2001:db8::1", "2001:0db8:0:0:0:0:0:2"], 10), CancellationToken.None);
        Assert.Equal(["2001:db8::1", "2001:db8::2"], Bind.Dig(v6, "AAAA"));

        var alias = Fqdn("www");
        await store.SetAsync(new DnsRecordSet(alias, "CNAME", [v6], 10), CancellationToken.None);
        Assert.Equal(v6 + ".", Bind.Dig(alias, "CNAME").Single());
        Assert.Equal(v6, (await store.GetAsync(alias, "CNAME", CancellationToken.None))!.Values.Single());

        var txt = Fqdn("txt");
        var longText = new string('x', 300) + " with \"quotes\" and spaces";
        await store.SetAsync(new DnsRecordSet(txt, "TXT", ["hello world", longText], 10), CancellationToken.None);
        var got = await store.GetAsync(txt, "TXT", CancellationToken.None);
        Assert.Equal(["hello world", longText], got!.Values.Order(StringComparer.Ordinal));
        // dig shows the 300+ byte value as two character-strings (255 + rest).
        Assert.Contains(Bind.Dig(txt, "TXT"), l => l.StartsWith("\"" + new string('x', 255) + "\" \"xxx", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OverTcp_AndTruncatedUdpAnswersFallBackToTcp()
    {
        var tcpStore = Store(transport: DnsTransport.Tcp);
        var name = Fqdn("tcp");
        await tcpStore.SetAsync(new DnsRecordSet(name, "A", ["192.0.2.1"], 5), CancellationToken.None);
        Assert.Equal(["192.0.2.1"], Bind.Dig(name, "A", tcp: true));

        // 20 TXT values of 60 bytes: the answer is over 512 bytes, so BIND truncates it over UDP (no EDNS).
        var big = Fqdn("big");
        var values = Enumerable.Range(0, 20).Select(i => $"{i:00}-" + new string('v', 57)).ToList();
        var store = Store();
        await store.SetAsync(new DnsRecordSet(big, "TXT", values, 5), CancellationToken.None);
        var r = await store.Client.QueryAsync(big, DnsType.TXT, CancellationToken.None);
        Assert.True(r.OverTcp, "a truncated UDP answer is retried over TCP");
        Assert.Equal(20, r.Answers.Count);
        Assert.Equal(values, (await store.GetAsync(big, "TXT", CancellationToken.None))!.Values.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("sha512")]
    [InlineData("sha1")]
    public async Task OtherHmacAlgorithms_Work(string key)
    {
        var store = Store(key);
        var name = Fqdn(key);
        await store.SetAsync(new DnsRecordSet(name, "A", ["198.51.100.7"], 5), CancellationToken.None);
        Assert.Equal(["198.51.100.7"], Bind.Dig(name, "A"));
    }

    [Fact]
    public async Task WrongSecret_IsBadSig_NamingServerAndKey_AndChangesNothing()
    {
        var name = Fqdn("badsig");
        await Store().SetAsync(new DnsRecordSet(name, "A", ["127.0.0.2"], 5), CancellationToken.None);

        using var dir = new TempDir();
        var wrong = dir.File("wrong.key", "key \"lifeboat-update\" {\n\talgorithm hmac-sha256;\n\tsecret \"" + Convert.ToBase64String(new byte[32]) + "\";\n};\n");
        var e = await Assert.ThrowsAsync<StoreException>(() => Store(keyFile: wrong).SetAsync(new DnsRecordSet(name, "A", ["127.0.0.9"], 5), CancellationToken.None));
        Assert.Contains(Bind.Server, e.Message);
        Assert.Contains("NOTAUTH/BADSIG", e.Message);
        Assert.Contains("'lifeboat-update'", e.Message);
        Assert.Equal(DnsRcode.NotAuth, Details(e).Rcode);
        Assert.Equal(DnsRcode.BadSig, Details(e).TsigError);
        Assert.Equal(["127.0.0.2"], Bind.Dig(name, "A"));
    }

    [Fact]
    public async Task UnknownKey_IsBadKey()
    {
        var e = await Assert.ThrowsAsync<StoreException>(() => Store("unknown").SetAsync(new DnsRecordSet(Fqdn("badkey"), "A", ["127.0.0.2"], 5), CancellationToken.None));
        Assert.Contains("NOTAUTH/BADKEY", e.Message);
        Assert.Contains("does not know key 'lifeboat-unknown'", e.Message);
        Assert.Contains(Bind.Server, e.Message);
    }

    [Fact]
    public async Task ClockOffByAnHour_IsBadTime_WithTheServersTime()
    {
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddHours(1));
        var e = await Assert.ThrowsAsync<StoreException>(() => Store(time: clock).SetAsync(new DnsRecordSet(Fqdn("badtime"), "A", ["127.0.0.2"], 5), CancellationToken.None));
        Assert.Contains("NOTAUTH/BADTIME", e.Message);
        Assert.Contains("the server's clock", e.Message);
        Assert.Equal(DnsRcode.BadTime, Details(e).TsigError);
        Assert.DoesNotContain("does not verify", e.Message); // BIND signs BADTIME answers; the MAC checked out
    }

    [Fact]
    public async Task UnsignedUpdate_IsRefused()
    {
        var client = new DnsClient(new DnsClientOptions { Host = Bind.Host, Port = Bind.Port });
        var name = Fqdn("unsigned");
        var e = await Assert.ThrowsAsync<StoreException>(() => client.UpdateAsync(Bind.Zone, [],
            [new DnsRecord(name, DnsType.A, DnsClass.IN, 5, [127, 0, 0, 2])], CancellationToken.None));
        Assert.Contains("REFUSED", e.Message);
        Assert.Contains("unsigned", e.Message);
        Assert.Contains(Bind.Server, e.Message);
        Assert.Empty(Bind.Dig(name, "A"));
    }

    [Fact]
    public async Task KeyNotGrantedForTheZoneOrName_IsRefused()
    {
        // lifeboat-update has no grant in other.internal.
        var e = await Assert.ThrowsAsync<StoreException>(() => Store(zone: Bind.OtherZone).SetAsync(new DnsRecordSet($"app.{Bind.OtherZone}", "A", ["127.0.0.2"], 5), CancellationToken.None));
        Assert.Contains("REFUSED", e.Message);
        Assert.Contains("key 'lifeboat-update'", e.Message);
        Assert.Contains($"zone {Bind.OtherZone} at {Bind.Server}", e.Message);
        Assert.Equal(DnsRcode.Refused, Details(e).Rcode);

        // lifeboat-limited may set limited.example.internal A only.
        var limited = Store("limited");
        await limited.SetAsync(new DnsRecordSet($"limited.{Bind.Zone}", "A", ["127.0.0.5"], 5), CancellationToken.None);
        Assert.Equal(["127.0.0.5"], Bind.Dig($"limited.{Bind.Zone}", "A"));
        e = await Assert.ThrowsAsync<StoreException>(() => limited.SetAsync(new DnsRecordSet($"limited.{Bind.Zone}", "TXT", ["no"], 5), CancellationToken.None));
        Assert.Contains("REFUSED", e.Message);
        Assert.Contains("key 'lifeboat-limited'", e.Message);
    }

    [Fact]
    public async Task ZoneTheServerDoesNotServe_IsNotAuth_AndGetIsNotAuthoritative()
    {
        var store = Store(zone: "nowhere.internal");
        var e = await Assert.ThrowsAsync<StoreException>(() => store.SetAsync(new DnsRecordSet("app.nowhere.internal", "A", ["127.0.0.2"], 5), CancellationToken.None));
        Assert.Contains("NOTAUTH", e.Message);
        Assert.Contains("not authoritative for zone nowhere.internal", e.Message);
        Assert.Contains(Bind.Server, e.Message);

        var g = await Assert.ThrowsAnyAsync<Exception>(() => store.GetAsync("app.nowhere.internal", "A", CancellationToken.None));
        Assert.Contains(Bind.Server, g.Message);
    }

    [Fact]
    public async Task NameOutsideTheZone_IsRejectedLocally_AndNotZoneByTheServer()
    {
        var store = Store();
        var local = await Assert.ThrowsAsync<UserErrorException>(() => store.SetAsync(new DnsRecordSet("app.example.com", "A", ["127.0.0.2"], 5), CancellationToken.None));
        Assert.Contains("outside zone example.internal", local.Message);

        // The same mistake sent to the server anyway (the store never does): BIND answers NOTZONE.
        var e = await Assert.ThrowsAsync<StoreException>(() => store.Client.UpdateAsync(Bind.Zone, [],
            [new DnsRecord("app.example.com", DnsType.A, DnsClass.IN, 5, [127, 0, 0, 2])], CancellationToken.None));
        Assert.Contains("NOTZONE", e.Message);
        Assert.Contains("outside zone example.internal", e.Message);
        Assert.Equal(DnsRcode.NotZone, Details(e).Rcode);
    }

    [Fact]
    public async Task Prerequisites_AreEnforcedByTheServer()
    {
        var store = Store();
        var name = Fqdn("prereq");
        await store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.2"], 5), CancellationToken.None);
        // RFC 2136 2.4.2: "RRset exists (value dependent)" with another value fails with NXRRSET.
        var e = await Assert.ThrowsAsync<StoreException>(() => store.Client.UpdateAsync(Bind.Zone,
            [new DnsRecord(name, DnsType.A, DnsClass.IN, 0, [127, 0, 0, 9])],
            [new DnsRecord(name, DnsType.A, DnsClass.ANY, 0, [])], CancellationToken.None));
        Assert.Contains("NXRRSET", e.Message);
        Assert.Equal(["127.0.0.2"], Bind.Dig(name, "A"));
        // The right value: the delete goes through.
        await store.Client.UpdateAsync(Bind.Zone,
            [new DnsRecord(name, DnsType.A, DnsClass.IN, 0, [127, 0, 0, 2])],
            [new DnsRecord(name, DnsType.A, DnsClass.ANY, 0, [])], CancellationToken.None);
        Assert.Empty(Bind.Dig(name, "A"));
    }

    [Fact]
    public async Task CnameNextToOtherData_IsIgnoredByTheServer_AndReportedLoudly()
    {
        var store = Store();
        var name = Fqdn("clash");
        await store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.2"], 5), CancellationToken.None);
        var e = await Assert.ThrowsAsync<StoreException>(() => store.SetAsync(new DnsRecordSet(name, "CNAME", [$"other.{Bind.Zone}"], 5), CancellationToken.None));
        Assert.Contains("accepted the update", e.Message);
        Assert.Contains("CNAME", e.Message);
    }

    [Fact]
    public async Task NothingListening_NamesTheServer()
    {
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        var client = new DnsClient(new DnsClientOptions { Host = "127.0.0.1", Port = port, Key = TsigKeyFile.LoadOne(Bind.KeyFile, null), Timeout = TimeSpan.FromMilliseconds(300), Attempts = 1 });
        var store = new DnsZoneStore("zone", Bind.Zone, client);
        var e = await Assert.ThrowsAsync<StoreException>(() => store.SetAsync(new DnsRecordSet($"x.{Bind.Zone}", "A", ["127.0.0.2"], 5), CancellationToken.None));
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.Equal(StoreErrorKind.Transient, e.Kind);
    }

    [Fact]
    public async Task ConfigStore_KeyFileRelativeToTheConfig_Works()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "keys"));
        File.Copy(Bind.KeyFile, Path.Combine(dir.Path, "keys", "update.key"));
        var cfgFile = dir.File("lifeboat.yaml", $"""
            stores:
              zone: {"{"} type: dns, server: {Bind.Server}, zone: {Bind.Zone}, tsig_key_file: keys/update.key {"}"}
            """);
        var cfg = Configs.Load(cfgFile);
        IDnsRecordStore store = DnsStores.Create(cfg.Stores["zone"], TimeProvider.System);
        Assert.Equal("zone", store.Name);
        var name = Fqdn("cfg");
        await store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.2"], 5), CancellationToken.None);
        Assert.Equal(["127.0.0.2"], Bind.Dig(name, "A"));
        await store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.3"], 5), CancellationToken.None);
        Assert.Equal(["127.0.0.3"], (await store.GetAsync(name, "A", CancellationToken.None))!.Values);
    }

    [Fact]
    public async Task CompareAndSet_AppliesOnlyOverTheExpectedValues()
    {
        var store = Store();
        var name = Fqdn("cas");
        await store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.2"], 5), expectedCurrent: [], CancellationToken.None);
        Assert.Equal(["127.0.0.2"], Bind.Dig(name, "A"));
        // Expecting "none" again fails now: the set exists (YXRRSET).
        var e = await Assert.ThrowsAsync<StoreException>(() => store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.9"], 5), expectedCurrent: [], CancellationToken.None));
        Assert.Contains("holds 127.0.0.2, not the expected no record", e.Message);
        // The wrong current value (NXRRSET): nothing changes.
        e = await Assert.ThrowsAsync<StoreException>(() => store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.9"], 5), expectedCurrent: ["127.0.0.3"], CancellationToken.None));
        Assert.Contains("not the expected 127.0.0.3", e.Message);
        Assert.Equal(["127.0.0.2"], Bind.Dig(name, "A"));
        // The right one: switched.
        await store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.3", "127.0.0.4"], 5), expectedCurrent: ["127.0.0.2"], CancellationToken.None);
        Assert.Equal(["127.0.0.3", "127.0.0.4"], Bind.Dig(name, "A"));
        // A subset of the current values is not "exactly": refused.
        await Assert.ThrowsAsync<StoreException>(() => store.SetAsync(new DnsRecordSet(name, "A", ["127.0.0.5"], 5), expectedCurrent: ["127.0.0.3"], CancellationToken.None));
        Assert.Equal(["127.0.0.3", "127.0.0.4"], Bind.Dig(name, "A"));
    }
}
