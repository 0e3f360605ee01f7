using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Lifeboat.Core.Metrics;

/// <summary>
/// A minimal Prometheus registry (counters, gauges, histograms with labels) rendered in the text exposition
/// format, written to through the typed definitions in <see cref="Instruments"/> (no name or help text at a call site).
/// Written here when no Prometheus client package was in the NuGet copy this project can reach; prometheus-net 8.2.1
/// is served since 2026-12-01, and replacing this registry with it or with System.Diagnostics.Metrics waits for a
/// measurement of its Native AOT start-up cost (ADR 0006/0008).
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

    private Series Get(Instrument i, string type, string[] values)
    {
        if (i.Type != type || values.Length != i.LabelNames.Length)
            throw new InvalidOperationException($"metric {i.Name} is a {i.Type} with labels ({string.Join(", ", i.LabelNames)}); used as a {type} with {values.Length} label values");
        var labels = new (string, string)[values.Length];
        for (var k = 0; k < values.Length; k++) labels[k] = (i.LabelNames[k], values[k]);
        return Get(i.Name, i.Help, i.Type, i.Buckets, labels);
    }

    /// <summary>Adds <paramref name="by"/> to a counter; label values in the order the instrument names them.</summary>
    public void Inc(Instrument counter, double by, params string[] labelValues)
    {
        var s = Get(counter, "counter", labelValues);
        lock (s.Gate) s.Value += by;
    }

    /// <summary>A gauge read when the metrics are rendered.</summary>
    public void Gauge(Instrument gauge, Func<double> read, params string[] labelValues) => Get(gauge, "gauge", labelValues).Callback = read;

    public void Observe(Instrument histogram, double value, params string[] labelValues)
    {
        var s = Get(histogram, "histogram", labelValues);
        var buckets = histogram.Buckets!;
        lock (s.Gate)
        {
            for (var i = 0; i < buckets.Length; i++) if (value <= buckets[i]) s.Counts[i]++;
            s.Count++;
            s.Sum += value;
        }
    }

    /// <summary>A series' current value (a histogram's count), 0 when it was never written; for tests and status.</summary>
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
