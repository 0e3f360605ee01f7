using System.Text.Json;
using Lifeboat.Cli.Commands;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Cost.Input;
using Lifeboat.Cost.Model;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Cost;

public sealed class CostCommandTests
{
    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static (int Code, string Out, string Err) Run(string? config, string? scenario, bool json = false, string? outDir = null)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = CostCommand.Run(config, scenario, json, outDir, o, e, new FixedTime(Now));
        return (code, o.ToString(), e.ToString());
    }

    private const string AllTypes = """
        state: state.db
        stores:
          east: { type: s3, region: us-east-1 }
          west: { type: s3, region: us-west-2 }
          share: { type: file, path: /srv/share }
        resources:
          - name: photos
            type: bucket
            source: { store: east, bucket: photos }
            target: { store: west, bucket: photos-dr }
            reconcile_every: 1h
            workload: { writes_per_month: 1_000_000, avg_object_size: 50KB }
          - name: share
            source: { store: share, bucket: docs }
            target: { store: west, bucket: docs-dr }
            workload: { data_size: 2TB, change_rate: 5%, avg_object_size: 1MB }
          - name: orders
            type: table
            table: orders
            workload: { writes_per_month: 50_000_000, avg_item_size: 2KB, data_size: 40GB }
          - name: billing
            type: rds
            instance: billing-db
            workload: { data_size: 500GB, change_rate: 20%, instance_class: db.m6g.large }
          - name: wiki
            type: postgres
            workload: { data_size: 50GB, writes_per_month: 2_000_000, avg_write_size: 4KB, instance_class: m6g.large, snapshot_every: 6h }
        prices:
          s3: { storage_gb_month: 0.021 }
        """;

    [Fact]
    public void Config_with_every_resource_type_shows_every_option_and_line_item()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", AllTypes);
        var (code, text, _) = Run(cfg, null);
        Assert.Equal(0, code);
        foreach (var s in new[]
                 {
                     "photos: S3 bucket, cross-region", "S3 CRR + RTC", "Lifeboat function (200ms, 128MiB)", "Lifeboat on t4g.nano",
                     "reconcile LISTs every 1h", "share: folder sync", "DataSync (m5.2xlarge agent)", "Lifeboat sync on t4g.nano",
                     "orders: DynamoDB table", "DynamoDB Global Tables", "Lifeboat Streams apply on t4g.nano", "replicated writes (2 units each)",
                     "billing: RDS PostgreSQL", "RDS read replica (db.m6g.large)", "Lifeboat snapshot copies every 24h",
                     "wiki: PostgreSQL on EC2", "streaming replica on m6g.large", "Lifeboat backup copies every 6h",
                     "Overridden: s3.storage_gb_month = 0.021", "configured at", "cheapest native:",
                 })
            Assert.Contains(s, text, StringComparison.Ordinal);
        // The folder: 2 TiB × 5% = 102.4 GiB changed a month, in 1 MiB files = 104,857.6 writes (derived).
        Assert.Contains("derived: data_size × change_rate / avg_object_size", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Config_json_has_totals_and_line_items()
    {
        using var dir = new TempDir();
        var (code, json, _) = Run(dir.File("lifeboat.yaml", AllTypes), null, json: true);
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(json);
        var photos = doc.RootElement.GetProperty("resources")[0];
        Assert.Equal("photos", photos.GetProperty("name").GetString());
        var crr = photos.GetProperty("options")[0];
        Assert.Equal("s3-crr", crr.GetProperty("id").GetString());
        // 1e6 × 51,200 B = 47.6837 GiB: storage × 0.021 (override) + 1000 × 0.005 + transfer × 0.02 = 6.95733
        Assert.Equal(47.6837158203125 * 0.021 + 5 + 47.6837158203125 * 0.02, crr.GetProperty("total").GetDouble(), 1e-5);
        Assert.Equal("s3-crr", photos.GetProperty("cheapest_native").GetString());
        Assert.Equal(5, doc.RootElement.GetProperty("resources").GetArrayLength());
        Assert.Equal("configured", photos.GetProperty("workload")[0].GetProperty("source").GetString());
    }

    [Fact]
    public void Resource_without_workload_uses_the_state_store_measurements()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", """
            state: state.db
            stores:
              east: { type: s3, region: us-east-1 }
              west: { type: s3, region: us-west-2 }
            resources:
              - name: photos
                source: { store: east, bucket: photos }
                target: { store: west, bucket: photos-dr }
              - name: logs
                source: { store: east, bucket: logs }
                target: { store: west, bucket: logs-dr }
            """);
        using (var state = new StateStore(Path.Combine(dir.Path, "state.db")))
        {
            // 100 copies of 1,000 bytes spread over the last 10 hours: 10 an hour = 7,300 a 730-hour month.
            var start = Now.AddHours(-10).ToUnixTimeMilliseconds();
            for (var i = 0; i < 100; i++)
            {
                var seen = start + i * 360_000L;
                var (id, _) = state.BeginChange("photos", $"k{i}", ChangeOp.Put, seen);
                state.MarkDurable(id, seen + 500, new ReplicatedRecord("e", 1000, "e", seen + 500), "photos", $"k{i}");
            }
        }
        var (code, text, _) = Run(cfg, null);
        Assert.Equal(0, code);
        var estimates = CostCommand.Estimate(CostConfig.Load(cfg), Now);
        var photos = estimates.Single(e => e.Name == "photos");
        var writes = photos.Figures.Single(f => f.Name == "writes_per_month");
        Assert.Equal(FigureSource.Measured, writes.Source);
        Assert.Equal(7300, writes.Value, 1e-6);
        Assert.Equal(1000, photos.Figures.Single(f => f.Name == "avg_object_size").Value);
        Assert.Equal(100_000, photos.Figures.Single(f => f.Name == "data_size").Value);
        Assert.Contains("measured: 100 changes in the state store since", text, StringComparison.Ordinal);
        // A resource with neither: said, not guessed.
        Assert.Contains("logs: S3 bucket, cross-region", text, StringComparison.Ordinal);
        Assert.Contains("not estimated: no workload: block, and no measurements", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Seed_scenario_writes_table_and_chart()
    {
        using var dir = new TempDir();
        var (code, md, err) = Run(null, "seed", outDir: dir.Path);
        Assert.Equal(0, code);
        Assert.Contains("| 1,000,000,000 |", md, StringComparison.Ordinal);
        Assert.Contains("## Break-even", md, StringComparison.Ordinal);
        Assert.Equal(md, File.ReadAllText(Path.Combine(dir.Path, "cost-seed.md")));
        var svg = File.ReadAllText(Path.Combine(dir.Path, "cost-seed.svg"));
        Assert.StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"", svg, StringComparison.Ordinal);
        Assert.Contains("<circle", svg, StringComparison.Ordinal); // break-even marked
        Assert.Equal(5, System.Text.RegularExpressions.Regex.Matches(svg, "<polyline").Count);
        System.Xml.Linq.XDocument.Parse(svg); // well-formed
        // PNG where possible: either written, or a note that it was skipped.
        Assert.True(File.Exists(Path.Combine(dir.Path, "cost-seed.png")) || err.Contains("PNG skipped", StringComparison.Ordinal), err);
    }

    [Fact]
    public void Scenario_json_lists_rows_and_break_evens()
    {
        using var dir = new TempDir();
        var (code, json, _) = Run(null, "seed", json: true, outDir: dir.Path);
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(8, doc.RootElement.GetProperty("rows").GetArrayLength());
        Assert.Equal(6, doc.RootElement.GetProperty("pairs").GetArrayLength());
        Assert.Equal("2025-06-01", doc.RootElement.GetProperty("prices").GetProperty("taken").GetString());
    }

    [Fact]
    public void Scenario_without_out_writes_no_file_json_or_not()
    {
        // A read verb: the table or the data on standard output, and no file anywhere unless --out asks for them.
        using var dir = new TempDir();
        var (code, output) = LifeboatCli.Run(dir.Path, null, "cost", "--scenario", "seed", "--json");
        Assert.True(code == 0, output);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.Equal(8, doc.RootElement.GetProperty("rows").GetArrayLength());
            Assert.Equal(0, doc.RootElement.GetProperty("files").GetArrayLength());
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
        (code, output) = LifeboatCli.Run(dir.Path, null, "cost", "--scenario", "seed");
        Assert.True(code == 0, output);
        Assert.Contains("## Break-even", output, StringComparison.Ordinal);
        Assert.DoesNotContain("cost-seed.svg", output, StringComparison.Ordinal); // no chart to link to
        Assert.DoesNotContain("lifeboat: wrote", output, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
        // With --out: the files, and the JSON lists them.
        (code, output) = LifeboatCli.Run(dir.Path, null, "cost", "--scenario", "seed", "--json", "--out", "charts");
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "charts", "cost-seed.md")), output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "charts", "cost-seed.svg")), output);
    }

    [Fact]
    public void Checked_in_seed_table_is_current()
    {
        using var dir = new TempDir();
        var (_, md, _) = Run(null, "seed", outDir: dir.Path);
        var docs = Path.Combine(Repo.Root, "docs", "cost-seed.md");
        Assert.True(File.Exists(docs), "docs/cost-seed.md is missing: ./lifeboat cost --scenario seed --out docs");
        Assert.True(File.ReadAllText(docs) == md, "docs/cost-seed.md is out of date: regenerate with ./lifeboat cost --scenario seed --out docs");
        Assert.True(File.Exists(Path.Combine(Repo.Root, "docs", "cost-seed.svg")));
    }

    [Fact]
    public async Task Cli_exit_codes_for_user_errors()
    {
        using var dir = new TempDir();
        Assert.Equal(2, await Lifeboat.Cli.Program.Main(["cost"]));
        Assert.Equal(2, await Lifeboat.Cli.Program.Main(["cost", "-c", dir.File("a.yaml", AllTypes), "--scenario", "seed"]));
        Assert.Equal(2, await Lifeboat.Cli.Program.Main(["cost", "--scenario", "no-such-scenario"]));
        Assert.Equal(2, await Lifeboat.Cli.Program.Main(["cost", "-c", dir.File("b.yaml", "resources:\n  - name: x\n    type: bucket\n    workload: { writes: 1 }\n")]));
        Assert.Equal(0, await Lifeboat.Cli.Program.Main(["cost", "--scenario", "seed", "--out", dir.Path, "--json"]));
    }

    [Fact]
    public void Scenario_file_for_a_table_with_price_overrides()
    {
        using var dir = new TempDir();
        var file = dir.File("orders.yaml", """
            name: orders
            title: DynamoDB, 1 KB items
            resource: table
            sweep: { from: 1000, to: 1e10, rows_per_decade: 2 }
            workload: { avg_item_size: 1KB, data_size: 10GB }
            prices:
              dynamodb: { replicated_write_request_per_million: 1.875 }
            """);
        var (code, md, _) = Run(null, file, outDir: dir.Path);
        Assert.Equal(0, code);
        Assert.Contains("| DynamoDB Global Tables | Lifeboat Streams apply on t4g.nano |", md, StringComparison.Ordinal);
        Assert.Contains("dynamodb.replicated_write_request_per_million = 1.875", md, StringComparison.Ordinal);
        // Global Tables at 1.875/M against 0.625/M + stream reads + an instance: Lifeboat wins above a break-even.
        var s = Scenario.Load(file);
        var pair = s.Run().Pairs.Single();
        Assert.True(Assert.Single(pair.Crossings).LifeboatCheaperAbove);
        Assert.True(File.Exists(Path.Combine(dir.Path, "cost-orders.svg")));
    }

    [Fact]
    public void Validate_checks_workload_blocks_too()
    {
        using var dir = new TempDir();
        var good = dir.File("good.yaml", """
            stores:
              east: { type: s3, region: us-east-1 }
              west: { type: s3, region: us-west-2 }
            resources:
              - name: photos
                source: { store: east, bucket: photos }
                target: { store: west, bucket: photos-dr }
                workload: { writes_per_month: 1000, avg_object_size: 50KB }
            prices: { s3: { storage_gb_month: 0.02 } }
            """);
        Assert.Equal(0, ValidateCommand.Run(good));
        var bad = dir.File("bad.yaml", File.ReadAllText(good).Replace("writes_per_month", "writes_per_mnth", StringComparison.Ordinal));
        var e = Assert.Throws<ConfigException>(() => ValidateCommand.Run(bad));
        Assert.Equal("resources[0].workload.writes_per_mnth", e.Key);
        Assert.Equal(8, e.Line);
    }
}
