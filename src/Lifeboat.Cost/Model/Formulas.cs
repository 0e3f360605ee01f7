using System.Globalization;
using Lifeboat.Cost.Prices;
using P = Lifeboat.Cost.Prices.PriceSchema;

namespace Lifeboat.Cost.Model;

public enum Side { Native, Lifeboat }

public enum Category { Storage, Requests, Transfer, Compute, Metrics, Notifications }

/// <summary>One line of a bill: <c>Amount = Quantity / Per × UnitPrice</c>, with the price key it used.</summary>
public sealed record LineItem(Category Category, string What, double Quantity, string Unit, string PriceKey, string? Entry, double UnitPrice, double Per, double Amount);

/// <summary>The monthly DR-related cost of one way of protecting a resource.</summary>
public sealed record OptionCost(string Id, string Name, Side Side, IReadOnlyList<LineItem> Items)
{
    public double Total => Items.Sum(i => i.Amount);
}

/// <summary>
/// The cost formulas. Each is a pure function of (workload, options, prices) and returns its line items; every
/// unit price comes from the <see cref="PriceBook"/>, none is written here. Free tiers are not modelled.
/// Costs both sides pay alike (the replica's storage, its inter-region transfer) are shown on both, so totals are
/// complete while differences stay fair.
/// </summary>
public static class Formulas
{
    public const double GiB = 1024.0 * 1024 * 1024;

    private static LineItem Item(PriceBook p, Category c, string what, double quantity, string key, string? entry = null)
    {
        var k = PriceSchema.ByKey[key];
        var price = entry is null ? p.Number(key) : p.Entry(key, entry);
        return new LineItem(c, what, quantity, k.Unit, key, entry, price, k.Per, quantity / k.Per * price);
    }

    private static double SecondsPerMonth(PriceBook p) => p.HoursPerMonth * 3600;

    /// <summary>Instances of <paramref name="type"/> needed to move <paramref name="bytesPerMonth"/> at its baseline
    /// network bandwidth (sized on the monthly average; peaks use burst credits or add lag).</summary>
    public static int InstancesFor(double bytesPerMonth, string type, PriceBook p)
    {
        var bitsPerSecond = bytesPerMonth * 8 / SecondsPerMonth(p);
        var baseline = p.Entry(P.BaselineMbps, type) * 1_000_000;
        var n = Math.Ceiling(bitsPerSecond / baseline - 1e-9);
        if (n > 1_000_000)
            throw new Core.Config.UserErrorException($"the workload moves {bitsPerSecond / 1e9:N0} Gbit/s on average: more than a million {type} instances; check the figures, or price a larger instance_type");
        return Math.Max(1, (int)n);
    }

    private static IEnumerable<LineItem> Instance(PriceBook p, string role, string type, int count, double diskGiB)
    {
        var n = count == 1 ? "" : $"{count} × ";
        yield return Item(p, Category.Compute, $"{role}: {n}{type}", count * p.HoursPerMonth, P.Ec2Hour, type);
        yield return Item(p, Category.Storage, $"{role} volume: {n}{Gb(diskGiB)} gp3", count * diskGiB, P.Ebs);
    }

    /// <summary>LIST requests of a reconciliation pass over <paramref name="sides"/> listings, every <c>reconcile_every</c>.</summary>
    private static IEnumerable<LineItem> Reconcile(Workload w, CostOptions o, PriceBook p, int sides)
    {
        if (o.ReconcileEvery is not { } every) yield break;
        var passes = p.HoursPerMonth * 3600 / every.TotalSeconds;
        var pages = Math.Max(1, Math.Ceiling(w.Objects / p.Number(P.KeysPerList)));
        yield return Item(p, Category.Requests, $"reconcile LISTs every {Format.Duration(every)} ({sides} listing{(sides == 1 ? "" : "s")})",
            passes * pages * sides, P.S3List);
    }

    // ---- S3 bucket ------------------------------------------------------------------------------------------------

    /// <summary>S3 Cross-Region Replication: replica storage, replication PUTs, inter-region transfer; with RTC its
    /// transfer fee; with metrics (always with RTC) the CloudWatch replication metrics of one rule.</summary>
    public static OptionCost S3Crr(Workload w, CostOptions o, PriceBook p, bool metrics, bool rtc)
    {
        var items = new List<LineItem>
        {
            Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, P.S3Storage),
            Item(p, Category.Requests, "replication PUTs", w.WritesPerMonth, P.S3Put),
            Item(p, Category.Transfer, "inter-region transfer", w.ChangedBytesPerMonth / GiB, P.InterRegion),
        };
        if (rtc) items.Add(Item(p, Category.Transfer, "Replication Time Control", w.ChangedBytesPerMonth / GiB, P.S3Rtc));
        if (metrics || rtc) items.Add(Item(p, Category.Metrics, "replication metrics (1 rule)", p.Number(P.MetricsPerRule), P.CloudWatchMetric));
        var (id, name) = rtc ? ("s3-crr-rtc", "S3 CRR + RTC") : metrics ? ("s3-crr-metrics", "S3 CRR + metrics") : ("s3-crr", "S3 CRR");
        return new OptionCost(id, name, Side.Native, items);
    }

    /// <summary>Lifeboat as an event-driven function: S3 invokes it per PUT (no notification charge); it GETs the
    /// source and PUTs the target; invocations and GB-seconds; reconciliation LISTs of both buckets.</summary>
    public static OptionCost S3Function(Workload w, CostOptions o, PriceBook p)
    {
        var memGb = o.FunctionMemoryBytes / GiB;
        var items = new List<LineItem>
        {
            Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, P.S3Storage),
            Item(p, Category.Requests, "source GETs", w.WritesPerMonth, P.S3Get),
            Item(p, Category.Requests, "target PUTs", w.WritesPerMonth, P.S3Put),
            Item(p, Category.Transfer, "inter-region transfer", w.ChangedBytesPerMonth / GiB, P.InterRegion),
            Item(p, Category.Compute, "function invocations", w.WritesPerMonth, P.LambdaRequest),
            Item(p, Category.Compute, $"function duration {Ms(o.FunctionDuration)} × {Mb(o.FunctionMemoryBytes)}",
                w.WritesPerMonth * o.FunctionDuration.TotalSeconds * memGb, P.LambdaGbSecond),
        };
        items.AddRange(Reconcile(w, o, p, sides: 2));
        return new OptionCost("lifeboat-function", $"Lifeboat function ({Ms(o.FunctionDuration)}, {Mb(o.FunctionMemoryBytes)})", Side.Lifeboat, items);
    }

    /// <summary>Lifeboat on a small always-on instance: S3 event notifications through SNS to its webhook, the same
    /// GET/PUT/transfer as the function, instances sized on bandwidth, reconciliation LISTs.</summary>
    public static OptionCost S3Instance(Workload w, CostOptions o, PriceBook p)
    {
        var n = InstancesFor(w.ChangedBytesPerMonth, o.InstanceType, p);
        var items = new List<LineItem>
        {
            Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, P.S3Storage),
            Item(p, Category.Requests, "source GETs", w.WritesPerMonth, P.S3Get),
            Item(p, Category.Requests, "target PUTs", w.WritesPerMonth, P.S3Put),
            Item(p, Category.Transfer, "inter-region transfer", w.ChangedBytesPerMonth / GiB, P.InterRegion),
            Item(p, Category.Notifications, "event notifications published to SNS", w.WritesPerMonth, P.SnsPublish),
            Item(p, Category.Notifications, "SNS deliveries to the webhook", w.WritesPerMonth, P.SnsHttp),
        };
        items.AddRange(Instance(p, "instance", o.InstanceType, n, o.InstanceDiskBytes / GiB));
        items.AddRange(Reconcile(w, o, p, sides: 2));
        return new OptionCost("lifeboat-instance", $"Lifeboat on {o.InstanceType}", Side.Lifeboat, items);
    }

    // ---- Folder sync ----------------------------------------------------------------------------------------------

    private static string TargetStorage(CostOptions o) => o.TargetIsFolder ? P.Ebs : P.S3Storage;

    /// <summary>AWS DataSync: per GB copied, the agent instance (and its volume) running all month, and the same
    /// target storage, requests and transfer as any sync.</summary>
    public static OptionCost DataSync(Workload w, CostOptions o, PriceBook p)
    {
        var agent = p.NameOf(P.AgentInstance);
        var items = new List<LineItem>
        {
            Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, TargetStorage(o)),
            Item(p, Category.Transfer, "DataSync data copied", w.ChangedBytesPerMonth / GiB, P.DataSyncGb),
            Item(p, Category.Transfer, "inter-region transfer", w.ChangedBytesPerMonth / GiB, P.InterRegion),
        };
        if (!o.TargetIsFolder) items.Add(Item(p, Category.Requests, "target PUTs", w.WritesPerMonth, P.S3Put));
        items.AddRange(Instance(p, "agent", agent, 1, p.Number(P.AgentDiskGb)));
        return new OptionCost("datasync", $"DataSync ({agent} agent)", Side.Native, items);
    }

    /// <summary>Lifeboat syncing the folder from a small instance: the instance(s), requests, transfer, and the
    /// target LISTs of reconciliation (listing a local folder is free).</summary>
    public static OptionCost FolderInstance(Workload w, CostOptions o, PriceBook p)
    {
        var n = InstancesFor(w.ChangedBytesPerMonth, o.InstanceType, p);
        var items = new List<LineItem>
        {
            Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, TargetStorage(o)),
            Item(p, Category.Transfer, "inter-region transfer", w.ChangedBytesPerMonth / GiB, P.InterRegion),
        };
        if (!o.TargetIsFolder) items.Add(Item(p, Category.Requests, "target PUTs", w.WritesPerMonth, P.S3Put));
        items.AddRange(Instance(p, "instance", o.InstanceType, n, o.InstanceDiskBytes / GiB));
        if (!o.TargetIsFolder) items.AddRange(Reconcile(w, o, p, sides: 1));
        return new OptionCost("lifeboat-sync", $"Lifeboat sync on {o.InstanceType}", Side.Lifeboat, items);
    }

    // ---- DynamoDB -------------------------------------------------------------------------------------------------

    /// <summary>Write units of one item: one per <c>dynamodb_write_unit_bytes</c>, rounded up.</summary>
    public static double WriteUnits(Workload w, PriceBook p) => Math.Max(1, Math.Ceiling(w.AvgWriteBytes / p.Number(P.WriteUnitBytes)));

    /// <summary>DynamoDB Global Tables with one replica: replicated write units, the replica's storage, transfer.</summary>
    public static OptionCost GlobalTables(Workload w, CostOptions o, PriceBook p) => new("dynamodb-global-tables", "DynamoDB Global Tables", Side.Native,
    [
        Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, P.DynamoStorage),
        Item(p, Category.Requests, $"replicated writes ({WriteUnits(w, p)} unit{(WriteUnits(w, p) == 1 ? "" : "s")} each)", w.WritesPerMonth * WriteUnits(w, p), P.DynamoReplicatedWrite),
        Item(p, Category.Transfer, "inter-region transfer", w.ChangedBytesPerMonth / GiB, P.InterRegion),
    ]);

    /// <summary>Lifeboat applying the table's stream: stream reads (polls of every shard, or one per full batch of
    /// records when busier), standard writes to the replica table, transfer, and the instance running the apply.</summary>
    public static OptionCost StreamsApply(Workload w, CostOptions o, PriceBook p)
    {
        var polls = o.StreamShards * SecondsPerMonth(p) / o.StreamPollInterval.TotalSeconds;
        var reads = Math.Max(polls, Math.Ceiling(w.WritesPerMonth / p.Number(P.RecordsPerRead)));
        var n = InstancesFor(w.ChangedBytesPerMonth, o.InstanceType, p);
        var items = new List<LineItem>
        {
            Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, P.DynamoStorage),
            Item(p, Category.Requests, $"replica writes ({WriteUnits(w, p)} unit{(WriteUnits(w, p) == 1 ? "" : "s")} each)", w.WritesPerMonth * WriteUnits(w, p), P.DynamoWrite),
            Item(p, Category.Requests, $"stream reads ({o.StreamShards} shard{(o.StreamShards == 1 ? "" : "s")}, polled every {Format.Duration(o.StreamPollInterval)})", reads, P.StreamRead),
            Item(p, Category.Transfer, "inter-region transfer", w.ChangedBytesPerMonth / GiB, P.InterRegion),
        };
        items.AddRange(Instance(p, "instance", o.InstanceType, n, o.InstanceDiskBytes / GiB));
        return new OptionCost("lifeboat-streams", $"Lifeboat Streams apply on {o.InstanceType}", Side.Lifeboat, items);
    }

    // ---- RDS / PostgreSQL -----------------------------------------------------------------------------------------

    /// <summary>A cross-region replica: the same instance class running all month, its storage, and the replication
    /// stream (the bytes changed) across regions. RDS prices for <c>rds</c>, EC2 + EBS for <c>postgres</c>.</summary>
    public static OptionCost DbReplica(ResourceKind kind, Workload w, CostOptions o, PriceBook p)
    {
        var cls = o.DbInstanceClass ?? throw new ArgumentException("instance class required", nameof(o));
        var rds = kind == ResourceKind.Rds;
        return new OptionCost("db-replica", rds ? $"RDS read replica ({cls})" : $"streaming replica on {cls}", Side.Native,
        [
            Item(p, Category.Compute, $"replica instance {cls}", p.HoursPerMonth, rds ? P.RdsHour : P.Ec2Hour, cls),
            Item(p, Category.Storage, "replica storage", w.DataBytes / GiB, rds ? P.RdsStorage : P.Ebs),
            Item(p, Category.Transfer, "replication traffic, inter-region", w.ChangedBytesPerMonth / GiB, P.InterRegion),
        ]);
    }

    /// <summary>Scheduled cross-region copies (RDS snapshot copies, or PostgreSQL backups to S3): the copies kept in
    /// the recovery region (one full copy plus the changes within the retention), the incremental transfer, and a
    /// function that schedules each copy.</summary>
    public static OptionCost DbSnapshots(ResourceKind kind, Workload w, CostOptions o, PriceBook p)
    {
        var rds = kind == ResourceKind.Rds;
        var copies = p.HoursPerMonth / o.SnapshotEvery.TotalHours;
        var retainedMonths = o.SnapshotRetention.TotalHours / p.HoursPerMonth;
        var stored = (w.DataBytes + w.ChangedBytesPerMonth * retainedMonths) / GiB;
        var memGb = o.FunctionMemoryBytes / GiB;
        return new OptionCost("db-snapshots", $"Lifeboat {(rds ? "snapshot copies" : "backup copies")} every {Format.Duration(o.SnapshotEvery)}", Side.Lifeboat,
        [
            Item(p, Category.Storage, $"{(rds ? "snapshots" : "backups")} in the recovery region (full + {Format.Duration(o.SnapshotRetention)} of changes)", stored, rds ? P.RdsSnapshot : P.S3Storage),
            Item(p, Category.Transfer, "incremental copies, inter-region", w.ChangedBytesPerMonth / GiB, P.InterRegion),
            Item(p, Category.Compute, "scheduler invocations", copies, P.LambdaRequest),
            Item(p, Category.Compute, $"scheduler duration {Ms(o.FunctionDuration)} × {Mb(o.FunctionMemoryBytes)}", copies * o.FunctionDuration.TotalSeconds * memGb, P.LambdaGbSecond),
        ]);
    }

    /// <summary>Every option for a resource of <paramref name="kind"/>: native ones first, then Lifeboat's.</summary>
    public static IReadOnlyList<OptionCost> Options(ResourceKind kind, Workload w, CostOptions o, PriceBook p) => kind switch
    {
        ResourceKind.Bucket =>
        [
            S3Crr(w, o, p, metrics: false, rtc: false), S3Crr(w, o, p, metrics: true, rtc: false), S3Crr(w, o, p, metrics: true, rtc: true),
            S3Function(w, o, p), S3Instance(w, o, p),
        ],
        ResourceKind.Folder => [DataSync(w, o, p), FolderInstance(w, o, p)],
        ResourceKind.Table => [GlobalTables(w, o, p), StreamsApply(w, o, p)],
        _ => [DbReplica(kind, w, o, p), DbSnapshots(kind, w, o, p)],
    };

    public static string Gb(double gib) => gib.ToString(gib < 10 ? "0.##" : "N0", CultureInfo.InvariantCulture) + " GiB";
    private static string Ms(TimeSpan t) => Format.Duration(t);
    private static string Mb(double bytes) => (bytes / (1024 * 1024)).ToString("0", CultureInfo.InvariantCulture) + "MiB";
}
