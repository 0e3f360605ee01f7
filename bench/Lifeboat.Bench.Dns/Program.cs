using System.Diagnostics;
using System.Globalization;
using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;
using Lifeboat.Providers.Dns;

// Usage: Lifeboat.Bench.Dns HOST PORT ZONE KEYFILE RUNS
// Times RUNS record-set switches (one signed UPDATE: delete the A set + add the new value, then the signed read-back
// query) and RUNS signed reads, sequentially, over UDP and over TCP. Prints Markdown rows.
var host = args[0];
var port = int.Parse(args[1], CultureInfo.InvariantCulture);
var zone = args[2];
var key = TsigKeyFile.LoadOne(args[3], null);
var runs = int.Parse(args[4], CultureInfo.InvariantCulture);

foreach (var transport in new[] { DnsTransport.Udp, DnsTransport.Tcp })
{
    var store = new DnsZoneStore("bench", zone, new DnsClient(new DnsClientOptions { Host = host, Port = port, Key = key, Transport = transport }));
    var name = $"bench-{transport.ToString().ToLowerInvariant()}.{zone}";
    // Warm-up (JIT, first connection).
    for (var i = 0; i < 10; i++) await store.SetAsync(new DnsRecordSet(name, "A", [$"10.0.0.{i + 1}"], 5), CancellationToken.None);

    var set = new List<double>();
    var get = new List<double>();
    var total = Stopwatch.StartNew();
    for (var i = 0; i < runs; i++)
    {
        var sw = Stopwatch.StartNew();
        await store.SetAsync(new DnsRecordSet(name, "A", [$"10.0.{i / 250 % 250}.{i % 250 + 1}"], 5), CancellationToken.None);
        set.Add(sw.Elapsed.TotalMilliseconds);
    }
    var setTotal = total.Elapsed.TotalSeconds;
    for (var i = 0; i < runs; i++)
    {
        var sw = Stopwatch.StartNew();
        _ = await store.GetAsync(name, "A", CancellationToken.None) ?? throw new InvalidOperationException("record vanished");
        get.Add(sw.Elapsed.TotalMilliseconds);
    }
    Console.WriteLine($"| switch (update + verified read-back), {transport.ToString().ToUpperInvariant()} | {runs} | {P(set, 50):0.00} ms | {P(set, 95):0.00} ms | {P(set, 100):0.00} ms | {runs / setTotal:0} /s |");
    Console.WriteLine($"| signed authoritative read, {transport.ToString().ToUpperInvariant()} | {runs} | {P(get, 50):0.00} ms | {P(get, 95):0.00} ms | {P(get, 100):0.00} ms | {runs / (get.Sum() / 1000):0} /s |");
}

static double P(List<double> xs, int pct)
{
    var s = xs.Order().ToList();
    return s[Math.Min(s.Count - 1, (int)Math.Ceiling(pct / 100.0 * s.Count) - 1)];
}
