using System.Text.RegularExpressions;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// The real BIND 9 (named) the DNS tests run against: zone example.internal (and other.internal) on 127.0.0.1,
/// RFC 2136 updates allowed for the TSIG keys tests/servers/bind.sh writes. Uses LIFEBOAT_BIND_SERVER and
/// LIFEBOAT_BIND_KEYS_DIR when set (tests/run.sh starts the server and exports them); otherwise starts it with
/// tests/servers/bind.sh (port LIFEBOAT_BIND_PORT, default 5354). Never skipped: without a server the DNS tests fail.
/// </summary>
public sealed class BindServer
{
    private static readonly Lazy<BindServer> Shared = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    public static BindServer Instance => Shared.Value;

    public string Host => "127.0.0.1";
    public int Port { get; private init; }
    public string Server => $"{Host}:{Port}";
    public string Zone { get; private init; } = "example.internal";
    public string OtherZone { get; private init; } = "other.internal";
    public string KeysDir { get; private init; } = "";

    /// <summary>hmac-sha256 key granted `zonesub ANY` in example.internal.</summary>
    public string KeyFile => Key("update");
    /// <summary>update (sha256), sha512, sha1, limited (only limited.example.internal A), other (only other.internal),
    /// unknown (not known to the server).</summary>
    public string Key(string name) => Path.Combine(KeysDir, name + ".key");

    private static BindServer Start()
    {
        var env = new Dictionary<string, string>();
        if (Environment.GetEnvironmentVariable("LIFEBOAT_BIND_SERVER") is { Length: > 0 } server &&
            Environment.GetEnvironmentVariable("LIFEBOAT_BIND_KEYS_DIR") is { Length: > 0 } keys)
        {
            env["LIFEBOAT_BIND_SERVER"] = server;
            env["LIFEBOAT_BIND_KEYS_DIR"] = keys;
        }
        else
        {
            // Output goes to a file: the daemon the script starts outlives it.
            var log = Path.Combine(Path.GetTempPath(), $"lifeboat-bind-start-{Environment.ProcessId}.log");
            var (code, _) = Proc.Run("bash", ["-c", $"bash \"$0\" start >\"$1\" 2>&1 </dev/null", Path.Combine(Repo.Root, "tests/servers/bind.sh"), log], TimeSpan.FromMinutes(2));
            var output = File.ReadAllText(log);
            if (code != 0) throw new InvalidOperationException("tests/servers/bind.sh start failed:\n" + output);
            foreach (Match m in Regex.Matches(output, @"export (LIFEBOAT_BIND_\w+)=(\S+)"))
                env[m.Groups[1].Value] = m.Groups[2].Value.Trim('\'', '"');
        }
        var s = env["LIFEBOAT_BIND_SERVER"];
        return new BindServer
        {
            Port = int.Parse(s[(s.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture),
            KeysDir = env["LIFEBOAT_BIND_KEYS_DIR"],
        };
    }

    /// <summary>Runs dig against this server; returns the values of the answer (dig +short), sorted.</summary>
    public List<string> Dig(string name, string type, bool tcp = false)
    {
        var args = new List<string> { "+short", "+norec", "+time=2", "+tries=2", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "@" + Host, name, type };
        if (tcp) args.Insert(0, "+tcp");
        var (code, output) = Proc.Run("dig", args, TimeSpan.FromSeconds(20));
        if (code != 0) throw new InvalidOperationException($"dig {string.Join(' ', args)} failed ({code}):\n{output}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order(StringComparer.Ordinal).ToList();
    }

    public static string NewName(string hint) => $"{hint}-{Guid.NewGuid().ToString("N")[..10]}";
}
