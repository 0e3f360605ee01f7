using System.Globalization;
using Lifeboat.Core.Traffic;

namespace Lifeboat.Core.Config;

public enum DnsTransport { Udp, Tcp }

/// <summary>
/// A <c>type: dns</c> store: an authoritative zone changed by RFC 2136 dynamic updates signed with TSIG.
/// <see cref="Host"/> is an IP address or a host name (resolved when used); <see cref="Zone"/> has no trailing dot;
/// <see cref="Key"/> is read from <see cref="KeyFile"/> (resolved against the config file's folder) at load time, so
/// <c>lifeboat validate</c> reports a bad key file with its line. <see cref="Transport"/> udp falls back to TCP when an
/// answer is truncated. <see cref="Timeout"/> applies to each attempt; UDP tries <see cref="Attempts"/> times.
/// </summary>
public sealed record DnsStoreSettings(
    string Host,
    int Port,
    string Zone,
    string KeyFile,
    TsigKey Key,
    DnsTransport Transport,
    TimeSpan Timeout,
    int Attempts,
    bool SignQueries)
{
    public string Server => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

public sealed partial record StoreConfig
{
    /// <summary>Set for <c>type: dns</c> stores.</summary>
    public DnsStoreSettings? Dns { get; init; }
}

public static partial class ConfigLoader
{
    private static readonly Dictionary<string, DnsTransport> DnsTransports = new() { ["udp"] = DnsTransport.Udp, ["tcp"] = DnsTransport.Tcp };

    // stores: { zone: { type: dns, server: 127.0.0.1:5354, zone: example.internal, tsig_key_file: keys/update.key } }
    private static StoreConfig ReadDnsStore(string name, YamlMap m, string baseDir, ConfigLocation where)
    {
        var (host, port) = ParseDnsServer(m, "server");
        var zone = m.String("zone").TrimEnd('.');
        if (!IsDomainName(zone))
            throw m.Error("zone", $"'{zone}' is not a valid domain name (labels of 1 to 63 letters, digits, '-' or '_', 253 characters at most)");
        var keyPath = m.String("tsig_key_file");
        var keyFile = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, keyPath));
        if (!System.IO.File.Exists(keyFile))
            throw m.Error("tsig_key_file", $"{keyFile} does not exist (write one with: tsig-keygen -a hmac-sha256 NAME > {keyPath})");
        var key = TsigKeyFile.LoadOne(keyFile, m.OptString("tsig_key_name"));
        var settings = new DnsStoreSettings(
            host, port, zone.ToLowerInvariant(), keyFile, key,
            m.OneOf("transport", DnsTransports, DnsTransport.Udp),
            m.OptDuration("timeout", TimeSpan.FromMilliseconds(100)) ?? TimeSpan.FromSeconds(2),
            m.OptInt("attempts", 1, 10) ?? 3,
            m.OptBool("sign_queries") ?? true);
        return new StoreConfig(name, StoreType.Dns, where) { Dns = settings };
    }

    private static (string Host, int Port) ParseDnsServer(YamlMap m, string key)
    {
        var v = m.String(key).Trim();
        string host;
        var port = 53;
        string? portText = null;
        if (v.StartsWith('['))
        {
            var close = v.IndexOf(']');
            if (close < 0) throw m.Error(key, $"'{v}': missing ']' after the IPv6 address");
            host = v[1..close];
            if (close + 1 < v.Length)
            {
                if (v[close + 1] != ':') throw m.Error(key, $"expected HOST, HOST:PORT or [IPv6]:PORT, got '{v}'");
                portText = v[(close + 2)..];
            }
        }
        else if (v.Count(c => c == ':') == 1)
        {
            var i = v.IndexOf(':');
            host = v[..i];
            portText = v[(i + 1)..];
        }
        else host = v; // a host name, an IPv4 address or a bare IPv6 address
        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
            throw m.Error(key, $"'{portText}' is not a port number (1-65535) in '{v}'");
        if (host.Length == 0 || (!System.Net.IPAddress.TryParse(host, out _) && !IsDomainName(host)))
            throw m.Error(key, $"'{host}' is neither an IP address nor a host name (expected e.g. 127.0.0.1:5354 or ns1.example.com)");
        return (host, port);
    }

    internal static bool IsDomainName(string name)
    {
        name = name.TrimEnd('.');
        if (name.Length is 0 or > 253) return false;
        foreach (var label in name.Split('.'))
            if (label.Length is 0 or > 63 || label.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '*'))) return false;
        return true;
    }
}
