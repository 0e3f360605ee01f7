using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Lifeboat.Core.Metrics;

/// <summary>
/// A minimal Prometheus registry (counters, gauges, histograms with labels) rendered in the text exposition
/// format. Written here when no Prometheus client package was in the NuGet copy this project can reach; prometheus-net
/// 8.2.1 is served since 2026-12-01, and replacing this registry with it or with System.Diagnostics.Metrics (typed
/// instruments, issue 15 item 4) waits for a measurement of its Native AOT start-up cost (ADR 0006/0008).
/// </summary>
public sealed class MetricsRegistry
{
    private readonly ConcurrentDictionary<string, Family> _families = new(StringComparer.Ordinal);

    private sealed class Family(string name, string help, string type, double[]? buckets)
    {
        public string Name { get; } = name;
        public string Help { get; } = help;
        public string Type { get; } = type;
        public double[]? Buckets { get; } = buckets;
        public ConcurrentDictionary<string, Series> Series { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Series(int buckets)
    {
        public readonly Lock Gate = new();
        public double Value;
        public readonly long[] Counts = new long[buckets];
        public long Count;
        public double Sum;
        public Func<double>? Callback;
    }

    private static string Labels(params (string Name, string Value)[] labels) =>
        labels.Length == 0 ? "" : "{" + string.Join(",", labels.Select(l => $"{l.Name}=\"{Escape(l.Value)}\"")) + "}";

    private static string Escape(string v) => v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private Series Get(string name, string help, string type, double[]? buckets, (string, string)[] labels)
    {
        var fam = _families.GetOrAdd(name, _ => new Family(name, help, type, buckets));
        return fam.Series.GetOrAdd(Labels(labels), _ => new Series(buckets?.Length ?? 0));
    }

    public void Inc(string name, string help, double by = 1, params (string, string)[] labels)
    {
        var s = Get(name, help, "counter", null, labels);
        lock (s.Gate) s.Value += by;
    }

    public void Set(string name, string help, double value, params (string, string)[] labels)
    {
        var s = Get(name, help, "gauge", null, labels);
        lock (s.Gate) s.Value = value;
    }

    public void Gauge(string name, string help, Func<double> read, params (string, string)[] labels) =>
        Get(name, help, "gauge", null, labels).Callback = read;

    public static readonly double[] LagBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];

    public void Observe(string name, string help, double value, double[] buckets, params (string, string)[] labels)
    {
        var s = Get(name, help, "histogram", buckets, labels);
        lock (s.Gate)
        {
            for (var i = 0; i < buckets.Length; i++) if (value <= buckets[i]) s.Counts[i]++;
            s.Count++;
            s.Sum += value;
        }
    }

    public double Read(string name, params (string, string)[] labels) =>
        _families.TryGetValue(name, out var f) && f.Series.TryGetValue(Labels(labels), out var s)
            ? (s.Callback?.Invoke() ?? (f.Type == "histogram" ? s.Count : s.Value))
            : 0;

    public string Render()
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        foreach (var f in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            sb.Append("# HELP ").Append(f.Name).Append(' ').Append(f.Help).Append('\n');
            sb.Append("# TYPE ").Append(f.Name).Append(' ').Append(f.Type).Append('\n');
            foreach (var (labels, s) in f.Series.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                lock (s.Gate)
                {
                    if (f.Type != "histogram")
                    {
                        var v = s.Callback?.Invoke() ?? s.Value;
                        sb.Append(f.Name).Append(labels).Append(' ').Append(v.ToString("R", inv)).Append('\n');
                        continue;
                    }
                    var inner = labels.Length == 0 ? "" : labels[1..^1] + ",";
                    for (var i = 0; i < f.Buckets!.Length; i++)
                        sb.Append(f.Name).Append("_bucket{").Append(inner).Append("le=\"").Append(f.Buckets[i].ToString("R", inv)).Append("\"} ").Append(s.Counts[i]).Append('\n');
                    sb.Append(f.Name).Append("_bucket{").Append(inner).Append("le=\"+Inf\"} ").Append(s.Count).Append('\n');
                    sb.Append(f.Name).Append("_sum").Append(labels).Append(' ').Append(s.Sum.ToString("R", inv)).Append('\n');
                    sb.Append(f.Name).Append("_count").Append(labels).Append(' ').Append(s.Count).Append('\n');
                }
            }
        }
        return sb.ToString();
    }
}
