using System.Globalization;
using Lifeboat.Core.Config;
using Lifeboat.Cost.Prices;

namespace Lifeboat.Cost.Model;

/// <summary>What a resource is, for the cost model.</summary>
public enum ResourceKind
{
    /// <summary>An S3 bucket replicated to another region.</summary>
    Bucket,
    /// <summary>A local folder (a bucket resource whose source store is <c>type: file</c>) synced to another region.</summary>
    Folder,
    /// <summary>A DynamoDB table.</summary>
    Table,
    /// <summary>An RDS (PostgreSQL) instance.</summary>
    Rds,
    /// <summary>A self-managed PostgreSQL server on EC2.</summary>
    Postgres,
}

public static class ResourceKinds
{
    public static readonly IReadOnlyDictionary<string, ResourceKind> ScenarioNames = new Dictionary<string, ResourceKind>(StringComparer.Ordinal)
    {
        ["bucket"] = ResourceKind.Bucket,
        ["folder"] = ResourceKind.Folder,
        ["table"] = ResourceKind.Table,
        ["rds"] = ResourceKind.Rds,
        ["postgres"] = ResourceKind.Postgres,
    };

    public static string Describe(ResourceKind k) => k switch
    {
        ResourceKind.Bucket => "S3 bucket, cross-region",
        ResourceKind.Folder => "folder sync",
        ResourceKind.Table => "DynamoDB table, cross-region",
        ResourceKind.Rds => "RDS PostgreSQL, cross-region",
        _ => "PostgreSQL on EC2, cross-region",
    };

    /// <summary>The workload key for the average size of one write.</summary>
    public static string SizeKey(ResourceKind k) => k switch
    {
        ResourceKind.Table => "avg_item_size",
        ResourceKind.Rds or ResourceKind.Postgres => "avg_write_size",
        _ => "avg_object_size",
    };

    public static bool IsDatabase(ResourceKind k) => k is ResourceKind.Rds or ResourceKind.Postgres;
}

public enum FigureSource { Configured, Measured, Derived }

/// <summary>A workload figure and where it came from (shown in every report).</summary>
public sealed record Figure(string Name, double Value, FigureSource Source, string Note);

/// <summary>The numbers the formulas take, per month.</summary>
public sealed record Workload(
    double WritesPerMonth,
    double AvgWriteBytes,
    double DataBytes,
    double Objects,
    double ChangedBytesPerMonth);

/// <summary>How each option runs (durations, sizes, instance types): not prices, and each has a default.</summary>
public sealed record CostOptions(
    TimeSpan FunctionDuration,
    double FunctionMemoryBytes,
    string InstanceType,
    double InstanceDiskBytes,
    TimeSpan? ReconcileEvery,
    string? DbInstanceClass,
    TimeSpan SnapshotEvery,
    TimeSpan SnapshotRetention,
    int StreamShards,
    TimeSpan StreamPollInterval,
    bool TargetIsFolder)
{
    public static CostOptions Default { get; } = new(
        FunctionDuration: TimeSpan.FromMilliseconds(200),
        FunctionMemoryBytes: 128 * 1024 * 1024,
        InstanceType: "t4g.nano",
        InstanceDiskBytes: 8.0 * (1 << 30),
        ReconcileEvery: TimeSpan.FromMinutes(10),
        DbInstanceClass: null,
        SnapshotEvery: TimeSpan.FromHours(24),
        SnapshotRetention: TimeSpan.FromDays(7),
        StreamShards: 1,
        StreamPollInterval: TimeSpan.FromSeconds(1),
        TargetIsFolder: false);
}

/// <summary>Figures Lifeboat measured in its state store for one resource.</summary>
public sealed record Measurement(long Puts, DateTimeOffset Since, double? WritesPerMonth, double? AvgSizeBytes, double? DataBytes, long? Objects)
{
    public string Note => $"measured: {Puts.ToString("N0", CultureInfo.InvariantCulture)} changes in the state store since {Since:yyyy-MM-dd HH:mm}Z";
}

/// <summary>A workload as written (all optional), with where it was written, before it is resolved into numbers.</summary>
public sealed class WorkloadSpec
{
    public const double MaxWrites = 1e15;

    public static readonly IReadOnlyList<string> FigureKeys = ["writes_per_month", "data_size", "change_rate", "objects"];

    private static readonly Dictionary<ResourceKind, string[]> OptionKeys = new()
    {
        [ResourceKind.Bucket] = ["function_duration", "function_memory", "instance_type", "instance_disk", "reconcile_every"],
        [ResourceKind.Folder] = ["instance_type", "instance_disk", "reconcile_every"],
        [ResourceKind.Table] = ["instance_type", "instance_disk", "stream_shards", "stream_poll_interval"],
        [ResourceKind.Rds] = ["instance_class", "snapshot_every", "snapshot_retention", "function_duration", "function_memory"],
        [ResourceKind.Postgres] = ["instance_class", "snapshot_every", "snapshot_retention", "function_duration", "function_memory"],
    };

    public required ResourceKind Kind { get; init; }
    /// <summary>The workload mapping, when there is one (errors about missing figures point at it).</summary>
    public YamlMap? Map { get; init; }
    public double? Writes { get; init; }
    public double? AvgSize { get; init; }
    public double? Data { get; init; }
    public double? ChangeRate { get; init; }
    public double? Objects { get; init; }
    public required CostOptions Options { get; init; }
    public string Where => Map is null ? "" : $"{Map.File}:{Map.Node.Start.Line}";

    /// <summary>Reads a <c>workload:</c> mapping. Unknown keys, keys of another resource type, malformed values and
    /// instance types without a price are errors naming file, line and key.</summary>
    public static WorkloadSpec Read(YamlMap? m, ResourceKind kind, PriceBook prices, CostOptions defaults, bool sweep = false)
    {
        if (m is null) return new WorkloadSpec { Kind = kind, Options = defaults };
        var sizeKey = ResourceKinds.SizeKey(kind);
        var writes = sweep ? null : Parse.OptNumber(m, "writes_per_month", 0, "a number of writes a month");
        if (writes > MaxWrites) throw m.Error("writes_per_month", $"more than {MaxWrites:0e0} writes a month is beyond this model");
        if (sweep && m.Has("writes_per_month"))
            throw m.Error("writes_per_month", "is what the scenario sweeps: set the range in sweep: from/to instead");
        var changeRate = Parse.OptFraction(m, "change_rate");
        if (changeRate < 0) throw m.Error("change_rate", "must not be negative");
        var spec = new WorkloadSpec
        {
            Kind = kind,
            Map = m,
            Writes = writes,
            AvgSize = Parse.OptSize(m, sizeKey, 1),
            Data = Parse.OptSize(m, "data_size", 0),
            ChangeRate = changeRate,
            Objects = kind is ResourceKind.Bucket or ResourceKind.Folder ? Parse.OptNumber(m, "objects", 0, "a number of objects") : null,
            Options = ReadOptions(m, kind, prices, defaults),
        };
        var allowed = FigureKeys.Where(k => k != "objects" || kind is ResourceKind.Bucket or ResourceKind.Folder).Append(sizeKey).Concat(OptionKeys[kind]).ToArray();
        foreach (var key in m.Keys)
        {
            if (allowed.Contains(key)) continue;
            var other = OptionKeys.Where(kv => kv.Value.Contains(key)).Select(kv => kv.Key.ToString().ToLowerInvariant())
                .Concat(ResourceKinds.ScenarioNames.Where(kv => ResourceKinds.SizeKey(kv.Value) == key).Select(kv => kv.Key)).Distinct().ToList();
            if (other.Count > 0)
                throw m.Error(m.Raw(key)!, m.Join(key), $"applies to {string.Join(", ", other)} resources, not to {kind.ToString().ToLowerInvariant()} (known here: {string.Join(", ", allowed)})");
        }
        m.EnsureNoUnknownKeys();
        return spec;
    }

    private static CostOptions ReadOptions(YamlMap m, ResourceKind kind, PriceBook prices, CostOptions d)
    {
        var o = d;
        if (OptionKeys[kind].Contains("function_duration"))
        {
            o = o with
            {
                FunctionDuration = Parse.OptDuration(m, "function_duration", TimeSpan.FromMilliseconds(1)) ?? d.FunctionDuration,
                FunctionMemoryBytes = Parse.OptSize(m, "function_memory", 128 * 1024 * 1024) ?? d.FunctionMemoryBytes,
            };
        }
        if (OptionKeys[kind].Contains("instance_type"))
        {
            var type = m.OptString("instance_type");
            if (type is not null)
            {
                if (!prices.HasEntry(PriceSchema.Ec2Hour, type))
                    throw m.Error("instance_type", $"'{type}' has no price in {PriceSchema.Ec2Hour} of {prices.File} (known: {string.Join(", ", prices.Entries(PriceSchema.Ec2Hour))})");
                if (!prices.HasEntry(PriceSchema.BaselineMbps, type))
                    throw m.Error("instance_type", $"'{type}' has no bandwidth in {PriceSchema.BaselineMbps} of {prices.File} (known: {string.Join(", ", prices.Entries(PriceSchema.BaselineMbps))})");
            }
            o = o with
            {
                InstanceType = type ?? d.InstanceType,
                InstanceDiskBytes = Parse.OptSize(m, "instance_disk", 1L << 30) ?? d.InstanceDiskBytes,
            };
        }
        if (OptionKeys[kind].Contains("reconcile_every"))
        {
            if (m.OptString("reconcile_every") is "off" or "never" or "0") o = o with { ReconcileEvery = null };
            else o = o with { ReconcileEvery = Parse.OptDuration(m, "reconcile_every", TimeSpan.FromSeconds(1)) ?? d.ReconcileEvery };
        }
        if (OptionKeys[kind].Contains("stream_shards"))
        {
            o = o with
            {
                StreamShards = m.OptInt("stream_shards", 1, 100_000) ?? d.StreamShards,
                StreamPollInterval = Parse.OptDuration(m, "stream_poll_interval", TimeSpan.FromMilliseconds(100)) ?? d.StreamPollInterval,
            };
        }
        if (OptionKeys[kind].Contains("instance_class"))
        {
            var table = kind == ResourceKind.Rds ? PriceSchema.RdsHour : PriceSchema.Ec2Hour;
            var cls = m.OptString("instance_class");
            if (cls is not null && !prices.HasEntry(table, cls))
                throw m.Error("instance_class", $"'{cls}' has no price in {table} of {prices.File} (known: {string.Join(", ", prices.Entries(table))})");
            o = o with
            {
                DbInstanceClass = cls ?? d.DbInstanceClass,
                SnapshotEvery = Parse.OptDuration(m, "snapshot_every", TimeSpan.FromMinutes(1)) ?? d.SnapshotEvery,
                SnapshotRetention = Parse.OptDuration(m, "snapshot_retention", TimeSpan.FromHours(1)) ?? d.SnapshotRetention,
            };
        }
        return o;
    }

    /// <summary>
    /// Resolves the figures: configured first, then measured, then derived. Returns null with a reason when a figure
    /// the model needs is missing; <see cref="Require"/> turns that into an error naming the workload block.
    /// </summary>
    public (Workload? Workload, IReadOnlyList<Figure> Figures, string? Missing) Resolve(Measurement? measured, double? sweepWrites = null)
    {
        var figs = new List<Figure>();
        var sizeKey = ResourceKinds.SizeKey(Kind);
        Figure? Pick(string name, double? configured, double? measuredValue)
        {
            if (configured is { } c) return Add(new Figure(name, c, FigureSource.Configured, $"configured{(Where.Length > 0 ? $" at {Where}" : "")}"));
            if (measuredValue is { } v && measured is not null) return Add(new Figure(name, v, FigureSource.Measured, measured.Note));
            return null;
        }
        Figure Add(Figure f) { figs.Add(f); return f; }

        var writes = sweepWrites is { } sw ? Add(new Figure("writes_per_month", sw, FigureSource.Configured, "swept"))
            : Pick("writes_per_month", Writes, measured?.WritesPerMonth);
        var avg = Pick(sizeKey, AvgSize, measured?.AvgSizeBytes);
        var data = Pick("data_size", Data, measured?.DataBytes);
        var listed = Kind is ResourceKind.Bucket or ResourceKind.Folder; // only listings need an object count
        var objects = listed ? Pick("objects", Objects, measured?.Objects) : null;
        if (ChangeRate is { } cr) Add(new Figure("change_rate", cr, FigureSource.Configured, $"configured{(Where.Length > 0 ? $" at {Where}" : "")}"));

        // Bytes changed a month: the writes when both their number and size are known, else data × change rate.
        double? changed = writes is not null && avg is not null ? writes.Value * avg.Value
            : data is not null && ChangeRate is { } rate ? data.Value * rate : null;
        if (writes is null && changed is not null && avg is not null)
            writes = Add(new Figure("writes_per_month", changed.Value / avg.Value, FigureSource.Derived, $"derived: data_size × change_rate / {sizeKey}"));

        if (ResourceKinds.IsDatabase(Kind))
        {
            if (data is null) return (null, figs, "data_size (the database's size)");
            if (changed is null) return (null, figs, $"writes_per_month and {sizeKey}, or change_rate (the share of data_size changed a month)");
            if (Options.DbInstanceClass is null) return (null, figs, "instance_class (the primary's instance class, which the replica repeats)");
            figs.Add(new Figure("changed_per_month", changed.Value, FigureSource.Derived,
                writes is not null && avg is not null ? $"derived: writes_per_month × {sizeKey}" : "derived: data_size × change_rate"));
            return (new Workload(writes?.Value ?? 0, avg?.Value ?? 0, data.Value, 0, changed.Value), figs, null);
        }

        if (avg is null) return (null, figs, $"{sizeKey} (the average size of one write)");
        if (writes is null) return (null, figs, "writes_per_month (or data_size with change_rate)");
        var dataBytes = data?.Value ?? Add(new Figure("data_size", writes.Value * avg.Value, FigureSource.Derived, $"derived: one month of writes, writes_per_month × {sizeKey}")).Value;
        var objectCount = objects?.Value ?? (listed ? Add(new Figure("objects", Math.Ceiling(dataBytes / avg.Value), FigureSource.Derived, $"derived: data_size / {sizeKey}")).Value : 0);
        return (new Workload(writes.Value, avg.Value, dataBytes, objectCount, writes.Value * avg.Value), figs, null);
    }

    /// <summary>Resolves, or throws an error naming the workload block (or <paramref name="where"/>) and what is missing.</summary>
    public (Workload Workload, IReadOnlyList<Figure> Figures) Require(Measurement? measured, double? sweepWrites, YamlMap where, string key)
    {
        var (w, figs, missing) = Resolve(measured, sweepWrites);
        if (w is not null) return (w, figs);
        if (Map is not null) throw Map.Error(Map.Node, Map.Path, $"{missing} is required for a {Kind.ToString().ToLowerInvariant()} resource");
        throw where.Error(key, $"{missing} is required for a {Kind.ToString().ToLowerInvariant()} resource");
    }
}
