using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Cost.Input;
using Lifeboat.Cost.Prices;
using Xunit;

namespace Lifeboat.Tests.Cost;

/// <summary>Malformed workload, price and scenario files: one clear error naming file, line and key.</summary>
public sealed class InputErrorTests
{
    private static ConfigException Config(string yaml) => Assert.Throws<ConfigException>(() => CostConfig.Parse("lifeboat.yaml", yaml));

    private static void AssertAt(ConfigException e, string file, long line, string key, string text)
    {
        Assert.Equal(file, e.File);
        Assert.Equal(line, e.Line);
        Assert.Equal(key, e.Key);
        Assert.Contains(text, e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{file}:{line}:", e.Message, StringComparison.Ordinal);
    }

    private const string Stores = """
        stores:
          a: { type: s3, region: us-east-1 }
          b: { type: s3, region: us-west-2 }
        resources:
          - name: photos
            source: { store: a, bucket: p }
            target: { store: b, bucket: p }
            workload:
        """;

    [Fact]
    public void Workload_value_that_is_not_a_number()
    {
        var e = Config(Stores + "\n      writes_per_month: lots\n      avg_object_size: 50KB\n");
        AssertAt(e, "lifeboat.yaml", 9, "resources[0].workload.writes_per_month", "expected a number of writes a month");
    }

    [Fact]
    public void Workload_size_that_is_not_a_size()
    {
        var e = Config(Stores + "\n      writes_per_month: 1000\n      avg_object_size: fifty\n");
        AssertAt(e, "lifeboat.yaml", 10, "resources[0].workload.avg_object_size", "expected a size such as 50KB");
    }

    [Fact]
    public void Workload_unknown_key()
    {
        var e = Config(Stores + "\n      writes_per_day: 1000\n");
        AssertAt(e, "lifeboat.yaml", 9, "resources[0].workload.writes_per_day", "unknown key");
    }

    [Fact]
    public void Workload_key_of_another_resource_type()
    {
        var e = Config(Stores + "\n      writes_per_month: 1000\n      instance_class: db.m6g.large\n");
        AssertAt(e, "lifeboat.yaml", 10, "resources[0].workload.instance_class", "applies to rds, postgres resources, not to bucket");
    }

    [Fact]
    public void Workload_instance_type_without_a_price()
    {
        var e = Config(Stores + "\n      writes_per_month: 1000\n      instance_type: z9.huge\n");
        AssertAt(e, "lifeboat.yaml", 10, "resources[0].workload.instance_type", "'z9.huge' has no price in ec2.instance_hour");
    }

    [Fact]
    public void Workload_that_is_not_a_mapping()
    {
        var e = Config(Stores + " 1000\n");
        AssertAt(e, "lifeboat.yaml", 8, "resources[0].workload", "expected a mapping");
    }

    [Fact]
    public void Workload_missing_a_figure_names_the_block()
    {
        var cfg = CostConfig.Parse("lifeboat.yaml", Stores + "\n      writes_per_month: 1000\n");
        var r = cfg.Resources.Single();
        var e = Assert.Throws<ConfigException>(() => r.Workload.Require(null, null, r.Map, "workload"));
        AssertAt(e, "lifeboat.yaml", 9, "resources[0].workload", "avg_object_size (the average size of one write) is required");
    }

    [Fact]
    public void Unknown_resource_type()
    {
        var e = Config("resources:\n  - name: q\n    type: queue\n");
        AssertAt(e, "lifeboat.yaml", 3, "resources[0].type", "resource type 'queue' has no cost model");
    }

    [Fact]
    public void Price_override_with_a_bad_value()
    {
        var e = Config(Stores + "\n      writes_per_month: 1000\nprices:\n  s3:\n    storage_gb_month: cheap\n");
        AssertAt(e, "lifeboat.yaml", 12, "prices.s3.storage_gb_month", "expected a price in USD per GB-month");
    }

    [Fact]
    public void Price_override_with_an_unknown_key()
    {
        var e = Config(Stores + "\n      writes_per_month: 1000\nprices:\n  s3:\n    storage_gb_mnth: 0.01\n");
        AssertAt(e, "lifeboat.yaml", 12, "prices.s3.storage_gb_mnth", "unknown key");
        var e2 = Config(Stores + "\n      writes_per_month: 1000\nprices:\n  gcs: { storage_gb_month: 0.01 }\n");
        AssertAt(e2, "lifeboat.yaml", 11, "prices.gcs", "unknown key");
    }

    [Fact]
    public void Price_override_of_a_negative_price()
    {
        var e = Config(Stores + "\n      writes_per_month: 1000\nprices:\n  transfer: { inter_region_gb: -1 }\n");
        AssertAt(e, "lifeboat.yaml", 11, "prices.transfer.inter_region_gb", "≥ 0");
    }

    [Fact]
    public void Price_file_missing_a_key()
    {
        var text = TestPrices.Yaml.Replace("put_per_1000: 0.005, ", "", StringComparison.Ordinal);
        var e = Assert.Throws<ConfigException>(() => PriceBook.Parse("p.yaml", text));
        AssertAt(e, "p.yaml", 8, "s3.put_per_1000", "is required");
    }

    [Fact]
    public void Price_file_missing_a_section_or_the_date()
    {
        var e = Assert.Throws<ConfigException>(() => PriceBook.Parse("p.yaml", TestPrices.Yaml.Replace("datasync: { per_gb: 0.0125 }\n", "", StringComparison.Ordinal)));
        Assert.Equal("datasync", e.Key);
        var e2 = Assert.Throws<ConfigException>(() => PriceBook.Parse("p.yaml", TestPrices.Yaml.Replace("2025-01-31", "January 2025", StringComparison.Ordinal)));
        AssertAt(e2, "p.yaml", 5, "taken", "YYYY-MM-DD");
    }

    [Fact]
    public void Price_file_with_a_bad_table_entry()
    {
        var e = Assert.Throws<ConfigException>(() => PriceBook.Parse("p.yaml", TestPrices.Yaml.Replace("t4g.micro: 0.008", "t4g.micro: free", StringComparison.Ordinal)));
        AssertAt(e, "p.yaml", 15, "ec2.instance_hour.t4g.micro", "expected a price in USD per instance-hour");
    }

    [Fact]
    public void Price_file_that_is_not_yaml()
    {
        var e = Assert.Throws<ConfigException>(() => PriceBook.Parse("p.yaml", "format: 1\ns3: { storage_gb_month: 0.02\n"));
        Assert.Equal("(yaml)", e.Key);
        Assert.Equal("p.yaml", e.File);
    }

    [Fact]
    public void Price_file_path_that_does_not_exist()
    {
        var e = Config(Stores + "\n      writes_per_month: 1000\nprices: nowhere/prices.yaml\n");
        AssertAt(e, "lifeboat.yaml", 10, "prices", "does not exist");
    }

    [Fact]
    public void Built_in_price_file_is_complete_dated_and_sourced()
    {
        var p = PriceBook.BuiltIn();
        Assert.Equal("us-east-1", p.Region);
        Assert.Equal("USD", p.Currency);
        Assert.True(p.Taken.Year >= 2025);
        Assert.NotEmpty(p.Sources);
        Assert.Contains("check", p.Notice, StringComparison.Ordinal);
        foreach (var k in PriceSchema.Keys.Where(k => k.Kind is PriceKind.Price or PriceKind.Number))
            Assert.True(p.Number(k.Key) > 0 || k.Kind == PriceKind.Price, k.Key);
        Assert.True(p.HasEntry(PriceSchema.Ec2Hour, p.NameOf(PriceSchema.AgentInstance)));
        foreach (var type in p.Entries(PriceSchema.BaselineMbps)) Assert.True(p.HasEntry(PriceSchema.Ec2Hour, type), type);
    }

    private static ConfigException Scenario(string yaml) => Assert.Throws<ConfigException>(() => Lifeboat.Cost.Input.Scenario.Parse("s.yaml", yaml));

    [Fact]
    public void Scenario_errors_name_file_line_and_key()
    {
        AssertAt(Scenario("name: x\nresource: bucket\nsweep: { to: 1000 }\nworkload: { avg_object_size: 1KB }\n"), "s.yaml", 3, "sweep.from", "is required");
        AssertAt(Scenario("name: x\nresource: bucket\nsweep:\n  from: 1000\n  to: 10\nworkload: { avg_object_size: 1KB }\n"), "s.yaml", 5, "sweep.to", "must be greater than from");
        AssertAt(Scenario("name: x\nresource: bucket\nsweep:\n  from: 1000\n  to: 1e18\nworkload: { avg_object_size: 1KB }\n"), "s.yaml", 5, "sweep.to", "beyond this model");
        AssertAt(Scenario("name: x\nresource: queue\nsweep: { from: 1, to: 10 }\nworkload: { avg_object_size: 1KB }\n"), "s.yaml", 2, "resource", "'queue' is not one of");
        AssertAt(Scenario("name: x\nresource: bucket\nsweep: { from: 1, to: 10 }\nworkload:\n  avg_object_size: 1KB\n  writes_per_month: 5\n"), "s.yaml", 6, "workload.writes_per_month", "is what the scenario sweeps");
        AssertAt(Scenario("name: x\nresource: bucket\nsweep: { from: 1, to: 10 }\nworkload:\n  function_duration: 1s\n"), "s.yaml", 5, "workload", "avg_object_size (the average size of one write) is required");
        AssertAt(Scenario("name: x\nresource: bucket\nsweep: { from: 1, to: 10, step: 2 }\nworkload: { avg_object_size: 1KB }\n"), "s.yaml", 3, "sweep.step", "unknown key");
        AssertAt(Scenario("name: a/b\nresource: bucket\nsweep: { from: 1, to: 10 }\nworkload: { avg_object_size: 1KB }\n"), "s.yaml", 1, "name", "may only contain");
        AssertAt(Scenario("name: x\nresource: rds\nsweep: { from: 1, to: 10 }\nworkload:\n  data_size: 100GB\n  avg_write_size: 1KB\n  instance_class: db.z1\n"), "s.yaml", 7, "workload.instance_class", "has no price in rds.instance_hour");
    }

    [Fact]
    public void Main_config_loader_accepts_workload_and_prices_and_rejects_a_malformed_prices_value()
    {
        var ok = Configs.Parse("l.yaml", Stores + "\n      writes_per_month: 1000\n      avg_object_size: 1KB\nprices:\n  s3: { storage_gb_month: 0.01 }\n");
        Assert.NotNull(ok.Resources.Single().Workload);
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("l.yaml", Stores + "\n      writes_per_month: 1000\nprices: [a, b]\n"));
        AssertAt(e, "l.yaml", 10, "prices", "expected a price file path or a mapping");
    }
}
