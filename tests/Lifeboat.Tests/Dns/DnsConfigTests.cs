using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Dns;

public sealed class DnsConfigTests
{
    private const string Key = "key \"lifeboat-update\" {\n\talgorithm hmac-sha256;\n\tsecret \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";\n};\n";

    private static string Write(TempDir dir, string store, string extra = "")
    {
        Directory.CreateDirectory(Path.Combine(dir.Path, "keys"));
        File.WriteAllText(Path.Combine(dir.Path, "keys", "update.key"), Key);
        return dir.File("lifeboat.yaml", $"stores:\n  zone: {store}\n{extra}");
    }

    [Fact]
    public void DnsStore_ParsesWithDefaults()
    {
        using var dir = new TempDir();
        var cfg = Configs.Load(Write(dir, "{ type: dns, server: 127.0.0.1:5354, zone: Example.Internal., tsig_key_file: keys/update.key }"));
        var s = cfg.Stores["zone"];
        Assert.Equal(StoreType.Dns, s.Type);
        var d = s.Dns!;
        Assert.Equal("127.0.0.1", d.Host);
        Assert.Equal(5354, d.Port);
        Assert.Equal("example.internal", d.Zone);
        Assert.Equal(Path.Combine(dir.Path, "keys", "update.key"), d.KeyFile);
        Assert.Equal("lifeboat-update", d.Key.Name);
        Assert.Equal(DnsTransport.Udp, d.Transport);
        Assert.Equal(TimeSpan.FromSeconds(2), d.Timeout);
        Assert.Equal(3, d.Attempts);
        Assert.True(d.SignQueries);
        Assert.Equal("127.0.0.1:5354", d.Server);
    }

    [Theory]
    [InlineData("ns1.example.com", "ns1.example.com", 53)]
    [InlineData("[::1]:5354", "::1", 5354)]
    [InlineData("::1", "::1", 53)]
    public void Server_Forms(string server, string host, int port)
    {
        using var dir = new TempDir();
        var cfg = Configs.Load(Write(dir, $"{{ type: dns, server: \"{server}\", zone: example.internal, tsig_key_file: keys/update.key, transport: tcp, timeout: 500ms }}"));
        Assert.Equal(host, cfg.Stores["zone"].Dns!.Host);
        Assert.Equal(port, cfg.Stores["zone"].Dns!.Port);
        Assert.Equal(DnsTransport.Tcp, cfg.Stores["zone"].Dns!.Transport);
    }

    [Theory]
    [InlineData("{ type: dns, server: 127.0.0.1:99999, zone: example.internal, tsig_key_file: keys/update.key }", "stores.zone.server", "not a port number")]
    [InlineData("{ type: dns, server: 'bad host!', zone: example.internal, tsig_key_file: keys/update.key }", "stores.zone.server", "neither an IP address nor a host name")]
    [InlineData("{ type: dns, server: 127.0.0.1, tsig_key_file: keys/update.key }", "stores.zone.zone", "is required")]
    [InlineData("{ type: dns, server: 127.0.0.1, zone: 'a..b', tsig_key_file: keys/update.key }", "stores.zone.zone", "not a valid domain name")]
    [InlineData("{ type: dns, server: 127.0.0.1, zone: example.internal }", "stores.zone.tsig_key_file", "is required")]
    [InlineData("{ type: dns, server: 127.0.0.1, zone: example.internal, tsig_key_file: keys/missing.key }", "stores.zone.tsig_key_file", "does not exist (write one with: tsig-keygen")]
    [InlineData("{ type: dns, server: 127.0.0.1, zone: example.internal, tsig_key_file: keys/update.key, transport: quic }", "stores.zone.transport", "'quic' is not one of udp, tcp")]
    [InlineData("{ type: dns, server: 127.0.0.1, zone: example.internal, tsig_key_file: keys/update.key, region: x }", "stores.zone.region", "")]
    public void Errors_NameLineAndKey(string store, string key, string message)
    {
        using var dir = new TempDir();
        var file = Write(dir, store);
        var e = Assert.Throws<ConfigException>(() => Configs.Load(file));
        Assert.StartsWith($"{file}:2:", e.Message);
        Assert.Contains(key, e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void BadKeyFile_IsReportedInTheKeyFile()
    {
        using var dir = new TempDir();
        var file = Write(dir, "{ type: dns, server: 127.0.0.1, zone: example.internal, tsig_key_file: keys/update.key }");
        File.WriteAllText(Path.Combine(dir.Path, "keys", "update.key"), Key.Replace("hmac-sha256", "hmac-md5"));
        var e = Assert.Throws<ConfigException>(() => Configs.Load(file));
        Assert.StartsWith($"{Path.Combine(dir.Path, "keys", "update.key")}:2:12:", e.Message);
    }

    [Fact]
    public void DnsStore_CannotHoldABucket()
    {
        using var dir = new TempDir();
        var file = Write(dir, "{ type: dns, server: 127.0.0.1, zone: example.internal, tsig_key_file: keys/update.key }\n  files: { type: file, path: f }",
            "resources:\n  - name: r\n    source: { store: zone, bucket: a }\n    target: { store: files, bucket: b }\n");
        var e = Assert.Throws<ConfigException>(() => Configs.Load(file));
        Assert.Contains("store 'zone' is of type dns", e.Message);
        Assert.Contains("resources[0].source.store", e.Message);
    }
}
