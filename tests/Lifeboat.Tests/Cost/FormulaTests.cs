using Lifeboat.Cost.Model;
using Xunit;
using static Lifeboat.Tests.Cost.TestPrices;

namespace Lifeboat.Tests.Cost;

/// <summary>
/// Every formula against values worked out by hand (arithmetic in the comments), for two workloads each, with the
/// round test prices of <see cref="TestPrices"/> (a month is 1000 h = 3,600,000 s).
/// </summary>
public sealed class FormulaTests
{
    private const double Tol = 1e-6;

    // Bucket workload A: 1,000,000 writes of 1 MiB; 1 TiB stored in 2,000,000 objects.
    //   changed = 1e6 MiB = 976.5625 GiB; data = 1024 GiB.
    private static readonly Workload A = new(1_000_000, 1 * MiB, 1024 * GiB, 2_000_000, 1_000_000 * MiB);

    // Bucket workload B: 100,000,000 writes of 256 KiB; 50 TiB stored in 200,000,000 objects.
    //   changed = 1e8 × 262,144 B = 2.62144e13 B = 24,414.0625 GiB; data = 51,200 GiB.
    private static readonly Workload B = new(100_000_000, 256 * KiB, 51_200 * GiB, 200_000_000, 100_000_000.0 * 256 * KiB);

    [Fact]
    public void S3Crr_workload_A()
    {
        // storage 1024 × 0.02 = 20.48; PUTs 1e6/1000 × 0.005 = 5; transfer 976.5625 × 0.02 = 19.53125 → 45.01125
        var crr = Formulas.S3Crr(A, Options(), Book, metrics: false, rtc: false);
        Assert.Equal(20.48, Amount(crr, "replica storage"), Tol);
        Assert.Equal(5.0, Amount(crr, "replication PUTs"), Tol);
        Assert.Equal(19.53125, Amount(crr, "inter-region transfer"), Tol);
        Assert.Equal(45.01125, crr.Total, Tol);
        // + metrics: 4 metrics × 0.30 = 1.20 → 46.21125
        Assert.Equal(46.21125, Formulas.S3Crr(A, Options(), Book, metrics: true, rtc: false).Total, Tol);
        // + RTC: 976.5625 × 0.015 = 14.6484375, and metrics 1.20 → 60.8596875
        var rtc = Formulas.S3Crr(A, Options(), Book, metrics: false, rtc: true);
        Assert.Equal(14.6484375, Amount(rtc, "Replication Time Control"), Tol);
        Assert.Equal(1.2, Amount(rtc, "replication metrics"), Tol);
        Assert.Equal(60.8596875, rtc.Total, Tol);
    }

    [Fact]
    public void S3Crr_workload_B()
    {
        // storage 51,200 × 0.02 = 1024; PUTs 1e8/1000 × 0.005 = 500; transfer 24,414.0625 × 0.02 = 488.28125 → 2012.28125
        Assert.Equal(2012.28125, Formulas.S3Crr(B, Options(), Book, false, false).Total, Tol);
        Assert.Equal(2013.48125, Formulas.S3Crr(B, Options(), Book, true, false).Total, Tol);
        // RTC 24,414.0625 × 0.015 = 366.2109375; + 1.20 metrics → 2379.6921875
        Assert.Equal(2379.6921875, Formulas.S3Crr(B, Options(), Book, false, true).Total, Tol);
    }

    [Fact]
    public void S3Function_workload_A()
    {
        // 200 ms × 128 MiB, reconcile every 1 h.
        // storage 20.48; GETs 1e6/1000 × 0.0004 = 0.40; PUTs 5; transfer 19.53125;
        // invocations 1e6/1e6 × 0.20 = 0.20; duration 1e6 × 0.2 s × 0.125 GB = 25,000 GB-s × 0.00001 = 0.25;
        // reconcile: 1000 passes × ceil(2e6/1000) = 2000 pages × 2 buckets = 4e6 LISTs /1000 × 0.005 = 20
        // total 65.86125
        var o = Options(reconcile: TimeSpan.FromHours(1));
        var f = Formulas.S3Function(A, o, Book);
        Assert.Equal(0.4, Amount(f, "source GETs"), Tol);
        Assert.Equal(0.2, Amount(f, "function invocations"), Tol);
        Assert.Equal(0.25, Amount(f, "function duration"), Tol);
        Assert.Equal(20.0, Amount(f, "reconcile LISTs"), Tol);
        Assert.Equal(65.86125, f.Total, Tol);
    }

    [Fact]
    public void S3Function_workload_B()
    {
        // 1 s × 1024 MiB, no reconciliation.
        // storage 1024; GETs 1e8/1000 × 0.0004 = 40; PUTs 500; transfer 488.28125; invocations 100 × 0.20 = 20;
        // duration 1e8 × 1 s × 1 GB = 1e8 GB-s × 0.00001 = 1000 → 3072.28125
        var o = Options() with { FunctionDuration = TimeSpan.FromSeconds(1), FunctionMemoryBytes = 1024 * MiB };
        var f = Formulas.S3Function(B, o, Book);
        Assert.Equal(1000.0, Amount(f, "function duration"), Tol);
        Assert.DoesNotContain(f.Items, i => i.What.StartsWith("reconcile", StringComparison.Ordinal));
        Assert.Equal(3072.28125, f.Total, Tol);
    }

    [Fact]
    public void S3Instance_workload_A()
    {
        // 1 t4g.nano (2.3 kbit/s is far below its 32 Mbit/s), 8 GiB volume, reconcile every 1 h.
        // storage 20.48; GETs 0.40; PUTs 5; transfer 19.53125; SNS publish 1e6/1e6 × 0.50 = 0.50;
        // SNS deliveries 1e6/1e6 × 0.60 = 0.60; instance 1000 h × 0.004 = 4; volume 8 × 0.10 = 0.80; LISTs 20
        // total 71.31125
        var i = Formulas.S3Instance(A, Options(reconcile: TimeSpan.FromHours(1)), Book);
        Assert.Equal(4.0, Amount(i, "instance: t4g.nano"), Tol);
        Assert.Equal(0.8, Amount(i, "instance volume"), Tol);
        Assert.Equal(0.5, Amount(i, "event notifications"), Tol);
        Assert.Equal(0.6, Amount(i, "SNS deliveries"), Tol);
        Assert.Equal(71.31125, i.Total, Tol);
    }

    [Fact]
    public void S3Instance_workload_B_needs_two_instances()
    {
        // 2.62144e13 B × 8 / 3.6e6 s = 58.25 Mbit/s > 32 → ceil(1.82) = 2 t4g.nano.
        // storage 1024; GETs 40; PUTs 500; transfer 488.28125; SNS 1e8/1e6 × 0.50 = 50 and × 0.60 = 60;
        // instances 2 × 1000 × 0.004 = 8; volumes 2 × 8 × 0.10 = 1.6;
        // reconcile every 24 h: 1000/24 passes × 200,000 pages × 2 = 16,666,666.67 LISTs /1000 × 0.005 = 83.3333
        // total 2255.2145833
        Assert.Equal(2, Formulas.InstancesFor(B.ChangedBytesPerMonth, "t4g.nano", Book));
        var i = Formulas.S3Instance(B, Options(reconcile: TimeSpan.FromHours(24)), Book);
        Assert.Equal(8.0, Amount(i, "instance: 2 × t4g.nano"), Tol);
        Assert.Equal(1.6, Amount(i, "instance volume"), Tol);
        Assert.Equal(83.3333333, Amount(i, "reconcile LISTs"), 1e-5);
        Assert.Equal(2255.2145833, i.Total, 1e-5);
    }

    [Fact]
    public void DataSync_two_workloads()
    {
        // A: storage 20.48; DataSync 976.5625 × 0.0125 = 12.20703125; transfer 19.53125; PUTs 5;
        //    agent m5.2xlarge 1000 × 0.4 = 400; agent volume 80 × 0.10 = 8 → 465.21828125
        var a = Formulas.DataSync(A, Options(), Book);
        Assert.Equal(12.20703125, Amount(a, "DataSync data copied"), Tol);
        Assert.Equal(400.0, Amount(a, "agent: m5.2xlarge"), Tol);
        Assert.Equal(465.21828125, a.Total, Tol);
        // B: storage 1024; DataSync 24,414.0625 × 0.0125 = 305.17578125; transfer 488.28125; PUTs 500; agent 408
        //    → 2725.45703125
        Assert.Equal(2725.45703125, Formulas.DataSync(B, Options(), Book).Total, Tol);
    }

    [Fact]
    public void FolderInstance_two_workloads()
    {
        // A (t4g.nano, reconcile every 1 h, S3 target): storage 20.48; transfer 19.53125; PUTs 5; instance 4;
        //    volume 0.8; LISTs of the target only: 1000 × 2000 = 2e6 /1000 × 0.005 = 10 → 59.81125
        var a = Formulas.FolderInstance(A, Options(reconcile: TimeSpan.FromHours(1)), Book);
        Assert.Equal(10.0, Amount(a, "reconcile LISTs"), Tol);
        Assert.Equal(59.81125, a.Total, Tol);
        // B (t4g.micro: 58.25 ≤ 64 Mbit/s, one instance; 20 GiB volume; no reconciliation):
        //    storage 1024; transfer 488.28125; PUTs 500; instance 1000 × 0.008 = 8; volume 20 × 0.10 = 2 → 2022.28125
        var b = Formulas.FolderInstance(B, Options("t4g.micro", diskGiB: 20), Book);
        Assert.Equal(2022.28125, b.Total, Tol);
        // B into a folder (EBS, no PUTs, no LISTs): storage 51,200 × 0.10 = 5120; transfer 488.28125; 8; 2 → 5618.28125
        var f = Formulas.FolderInstance(B, Options("t4g.micro", diskGiB: 20) with { TargetIsFolder = true }, Book);
        Assert.Equal(5618.28125, f.Total, Tol);
    }

    // Table workload T1: 10,000,000 writes of 2.5 KiB (3 write units each), 100 GiB stored.
    //   changed = 1e7 × 2560 B = 2.56e10 B = 23.8418579 GiB.
    private static readonly Workload T1 = new(10_000_000, 2560, 100 * GiB, 40_000_000, 10_000_000 * 2560.0);

    // Table workload T2: 10,000,000,000 writes of 400 B (1 write unit each), 1000 GiB stored.
    //   changed = 4e12 B = 3725.2902985 GiB.
    private static readonly Workload T2 = new(10_000_000_000, 400, 1000 * GiB, 2_000_000_000, 10_000_000_000 * 400.0);

    [Fact]
    public void GlobalTables_two_workloads()
    {
        // T1: storage 100 × 0.25 = 25; replicated 1e7 × 3 = 3e7 /1e6 × 1.5 = 45; transfer 23.8418579 × 0.02 = 0.4768372
        //     → 70.4768372
        Assert.Equal(3, Formulas.WriteUnits(T1, Book));
        var t1 = Formulas.GlobalTables(T1, Options(), Book);
        Assert.Equal(45.0, Amount(t1, "replicated writes"), Tol);
        Assert.Equal(70.4768372, t1.Total, 1e-6);
        // T2: storage 250; replicated 1e10 /1e6 × 1.5 = 15,000; transfer 3725.2902985 × 0.02 = 74.5058060 → 15,324.5058060
        Assert.Equal(15_324.505806, Formulas.GlobalTables(T2, Options(), Book).Total, 1e-5);
    }

    [Fact]
    public void StreamsApply_two_workloads()
    {
        // T1 (1 shard, polled every 1 s): polls 3.6e6 > 1e7/1000 → 3.6e6 reads /1e5 × 0.02 = 0.72;
        //     writes 3e7 /1e6 × 1.0 = 30; storage 25; transfer 0.4768372; instance 4; volume 0.8 → 60.9968372
        var t1 = Formulas.StreamsApply(T1, Options(), Book);
        Assert.Equal(0.72, Amount(t1, "stream reads"), Tol);
        Assert.Equal(30.0, Amount(t1, "replica writes"), Tol);
        Assert.Equal(60.9968372, t1.Total, 1e-6);
        // T2 (1 shard, 1 s): 1e10/1000 = 1e7 reads > 3.6e6 polls → 1e7 /1e5 × 0.02 = 2;
        //     writes 1e10 /1e6 × 1.0 = 10,000; storage 250; transfer 74.5058060; 8.9 Mbit/s → 1 instance: 4 + 0.8
        //     → 10,331.3058060
        var t2 = Formulas.StreamsApply(T2, Options(), Book);
        Assert.Equal(2.0, Amount(t2, "stream reads"), Tol);
        Assert.Equal(10_331.305806, t2.Total, 1e-5);
        // 4 shards polled every 500 ms: 4 × 3.6e6 / 0.5 = 2.88e7 polls > 1e7 → 288 × 0.02 = 5.76
        var t2b = Formulas.StreamsApply(T2, Options() with { StreamShards = 4, StreamPollInterval = TimeSpan.FromMilliseconds(500) }, Book);
        Assert.Equal(5.76, Amount(t2b, "stream reads"), Tol);
    }

    // RDS workload D1: 500 GiB, 20% changed a month = 100 GiB; db.m6g.large.
    private static readonly Workload D1 = new(0, 0, 500 * GiB, 0, 100 * GiB);

    // PostgreSQL workload D2: 2 TiB; 1e8 writes of 4 KiB a month = 4.096e11 B = 381.4697266 GiB; m6g.large on EC2.
    private static readonly Workload D2 = new(100_000_000, 4096, 2048 * GiB, 0, 100_000_000 * 4096.0);

    [Fact]
    public void DbReplica_two_workloads()
    {
        // D1 (rds): instance 1000 × 0.15 = 150; storage 500 × 0.10 = 50; transfer 100 × 0.02 = 2 → 202
        var d1 = Formulas.DbReplica(ResourceKind.Rds, D1, Options() with { DbInstanceClass = "db.m6g.large" }, Book);
        Assert.Equal(150.0, Amount(d1, "replica instance"), Tol);
        Assert.Equal(202.0, d1.Total, Tol);
        // D2 (postgres): EC2 1000 × 0.08 = 80; EBS 2048 × 0.10 = 204.8; transfer 381.4697266 × 0.02 = 7.6293945
        //     → 292.4293945
        var d2 = Formulas.DbReplica(ResourceKind.Postgres, D2, Options() with { DbInstanceClass = "m6g.large" }, Book);
        Assert.Equal(292.4293945, d2.Total, 1e-6);
    }

    [Fact]
    public void DbSnapshots_two_workloads()
    {
        // D1 (rds, every 24 h, kept 7 d = 168 h): copies 1000/24 = 41.6667; kept = 500 + 100 × 168/1000 = 516.8 GiB
        //     × 0.10 = 51.68; transfer 2; invocations 41.6667 × 0.20/1e6 = 0.0000083;
        //     duration 41.6667 × 0.2 s × 0.125 GB = 1.0416667 GB-s × 0.00001 = 0.0000104 → 53.6800188
        var o1 = Options() with { DbInstanceClass = "db.m6g.large", SnapshotEvery = TimeSpan.FromHours(24), SnapshotRetention = TimeSpan.FromDays(7) };
        var d1 = Formulas.DbSnapshots(ResourceKind.Rds, D1, o1, Book);
        Assert.Equal(51.68, Amount(d1, "snapshots in the recovery region"), Tol);
        Assert.Equal(53.6800188, d1.Total, 1e-6);
        // D2 (postgres, every 6 h, kept 14 d = 336 h): kept = 2048 + 381.4697266 × 0.336 = 2176.1738281 GiB in S3
        //     × 0.02 = 43.5234766; transfer 7.6293945; invocations 166.6667 × 0.2/1e6 = 0.0000333;
        //     duration 166.6667 × 0.025 GB-s = 4.1666667 × 0.00001 = 0.0000417 → 51.1529461
        var o2 = Options() with { DbInstanceClass = "m6g.large", SnapshotEvery = TimeSpan.FromHours(6), SnapshotRetention = TimeSpan.FromDays(14) };
        var d2 = Formulas.DbSnapshots(ResourceKind.Postgres, D2, o2, Book);
        Assert.Equal(43.5234766, Amount(d2, "backups in the recovery region"), 1e-6);
        Assert.Equal(51.1529461, d2.Total, 1e-6);
    }

    [Fact]
    public void Every_line_item_is_quantity_over_per_times_a_price_from_the_book()
    {
        foreach (var kind in Enum.GetValues<ResourceKind>())
        {
            var o = Options(reconcile: TimeSpan.FromHours(1)) with { DbInstanceClass = kind == ResourceKind.Rds ? "db.m6g.large" : "m6g.large" };
            foreach (var option in Formulas.Options(kind, kind is ResourceKind.Table ? T1 : A, o, Book))
                foreach (var i in option.Items)
                {
                    var price = i.Entry is null ? Book.Number(i.PriceKey) : Book.Entry(i.PriceKey, i.Entry);
                    Assert.Equal(price, i.UnitPrice);
                    Assert.Equal(i.Quantity / i.Per * price, i.Amount, 1e-12);
                }
        }
    }
}
