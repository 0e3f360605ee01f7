using Lifeboat.Cost.Input;
using Lifeboat.Cost.Model;
using Lifeboat.Cost.Prices;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Cost;

public sealed class SweepTests
{
    private static OptionCost Flat(string id, Side side, double fixedCost, double perWrite, double w) =>
        new(id, id, side, [new LineItem(Category.Compute, "x", w, "write", PriceSchema.LambdaRequest, null, perWrite, 1, fixedCost + perWrite * w)]);

    [Fact]
    public void Finds_the_break_even_of_a_fixed_fee_against_a_higher_rate()
    {
        // native: 1.20 + 1e-6 w; Lifeboat: 2e-6 w → equal at w = 1.20 / 1e-6 = 1,200,000; Lifeboat cheaper below.
        var r = Sweep.Run(w => [Flat("n", Side.Native, 1.2, 1e-6, w), Flat("l", Side.Lifeboat, 0, 2e-6, w)], 1000, 1e9, 1);
        var pair = Assert.Single(r.Pairs);
        var c = Assert.Single(pair.Crossings);
        Assert.Equal(1_200_000, c.Writes, 1_200_000 * 1e-6);
        Assert.Equal(2.4, c.Cost, 1e-5);
        Assert.False(c.LifeboatCheaperAbove);
        Assert.Equal("Lifeboat cheaper below 1.2M writes/month", pair.Verdict);
    }

    [Fact]
    public void Reports_no_break_even_when_one_side_is_cheaper_throughout()
    {
        var r = Sweep.Run(w => [Flat("n", Side.Native, 0, 1e-6, w), Flat("l", Side.Lifeboat, 5, 2e-6, w)], 1000, 1e9, 1);
        Assert.Empty(r.Pairs[0].Crossings);
        Assert.Equal("native cheaper across the range", r.Pairs[0].Verdict);
        var r2 = Sweep.Run(w => [Flat("n", Side.Native, 3, 2e-6, w), Flat("l", Side.Lifeboat, 1, 1e-6, w)], 1000, 1e9, 1);
        Assert.Equal("Lifeboat cheaper across the range", r2.Pairs[0].Verdict);
    }

    [Fact]
    public void Finds_a_break_even_where_Lifeboat_wins_above()
    {
        // native 3e-6 w; Lifeboat 10 + 1e-6 w → equal at 10 / 2e-6 = 5,000,000; Lifeboat cheaper above.
        var r = Sweep.Run(w => [Flat("n", Side.Native, 0, 3e-6, w), Flat("l", Side.Lifeboat, 10, 1e-6, w)], 1000, 1e9, 1);
        var c = Assert.Single(r.Pairs[0].Crossings);
        Assert.Equal(5_000_000, c.Writes, 5_000_000 * 1e-6);
        Assert.True(c.LifeboatCheaperAbove);
    }

    [Fact]
    public void Grid_has_rows_per_decade_and_ends_at_to()
    {
        Assert.Equal([1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 5_000_000_000], Sweep.Grid(1000, 5e9, 1));
        Assert.Equal([1000, 3162.278, 10_000], Sweep.Grid(1000, 10_000, 2));
    }

    [Fact]
    public void Seed_scenario_break_evens_match_the_hand_computed_points()
    {
        // Built-in prices, 50 KiB per write (51,200 B), 200 ms × 128 MiB, daily reconciliation of both buckets.
        // Per write, the function pays more than CRR: GET 0.0004/1000 = 4e-7; invocation 0.20/1e6 = 2e-7;
        // duration 0.2 s × 0.125 GB × 0.0000166667 = 4.166675e-7; LISTs (730/24 passes × 2 buckets / 1000 keys
        // per page × 0.005/1000) = 3.0416667e-7 per object → 1.32083417e-6 per write.
        // CRR + metrics has a fixed 4 × 0.30 = 1.20 → break-even 1.20 / 1.32083417e-6 = 908,516 (pages are whole
        // numbers, so within one page's worth: ±300 writes).
        // CRR + RTC also pays 51,200 / 2^30 × 0.015 = 7.1525574e-7 per write → 1.20 / 6.0557843e-7 = 1,981,576.
        var s = Scenario.BuiltIn("seed");
        var r = s.Run();
        Assert.Equal(908_516, Pair(r, "s3-crr-metrics", "lifeboat-function").Crossings.Single().Writes, 300.0);
        Assert.Equal(1_981_576, Pair(r, "s3-crr-rtc", "lifeboat-function").Crossings.Single().Writes, 600.0);
        Assert.False(Pair(r, "s3-crr-rtc", "lifeboat-function").Crossings.Single().LifeboatCheaperAbove);
        // Plain CRR pays only the PUT and transfer that Lifeboat pays too: never more expensive.
        Assert.Equal("native cheaper across the range", Pair(r, "s3-crr", "lifeboat-function").Verdict);
        Assert.Equal(8, r.Rows.Count);
        Assert.Equal(5e9, r.Rows[^1].Writes);
        // The 1,000,000 row, by hand: CRR 47.6837 GiB × (0.023 + 0.02) + 1000 × 0.005 = 7.0504;
        // function: 7.0504 + 0.40 + 0.20 + 0.41667 + 60,833.33 LISTs × 0.005/1000 (0.30417) = 8.37124.
        var row = r.Rows.Single(x => x.Writes == 1_000_000);
        Assert.Equal(7.0504, row["s3-crr"].Total, 1e-4);
        Assert.Equal(8.37124, row["lifeboat-function"].Total, 1e-4);
    }

    private static PairResult Pair(SweepResult r, string native, string lifeboat) => r.Pairs.Single(p => p.NativeId == native && p.LifeboatId == lifeboat);

    [Fact]
    public void DataSync_versus_a_small_instance_breaks_even_where_the_agent_is_paid_for()
    {
        // Folder, 1 MiB files, test prices, t4g.nano, no reconciliation. Per write both pay PUT and transfer;
        // DataSync adds 1 MiB × 0.0125/GiB = 0.0000122070 and a fixed 408 (agent + volume); Lifeboat a fixed 4.8
        // per t4g.nano, one more per 32 Mbit/s: never more than DataSync in 1e3..1e8 (at 1e8: 233 Mbit/s → 8
        // instances = 38.4 against 408 + 1220.7).
        using var dir = new TempDir();
        var prices = dir.File("test-prices.yaml", TestPrices.Yaml);
        var s = Scenario.Parse("folder.yaml", $"""
            name: folder
            resource: folder
            sweep: {"{"} from: 1000, to: 100000000 {"}"}
            workload: {"{"} avg_object_size: 1MiB, instance_type: t4g.nano, reconcile_every: "off" {"}"}
            prices:
              file: {prices}
            """);
        var r = s.Run();
        Assert.Equal("Lifeboat cheaper across the range", r.Pairs.Single().Verdict);
        var last = r.Rows[^1];
        Assert.Equal(8 * 4.8, last["lifeboat-sync"].Items.Where(i => i.What.StartsWith("instance", StringComparison.Ordinal)).Sum(i => i.Amount), 1e-9);
    }
}
