using Lifeboat.Cost.Model;
using Lifeboat.Cost.Prices;

namespace Lifeboat.Tests.Cost;

/// <summary>A full price file with round numbers, so the expected values of the formula tests can be worked out
/// by hand (hours_per_month 1000 makes a month 3,600,000 seconds).</summary>
public static class TestPrices
{
    public const string Yaml = """
        format: 1
        name: test-prices
        region: test-1
        currency: USD
        taken: 2025-01-31
        notice: round numbers for tests
        sources: [tests/Lifeboat.Tests/Cost/TestPrices.cs]
        s3: { storage_gb_month: 0.02, put_per_1000: 0.005, get_per_1000: 0.0004, list_per_1000: 0.005, rtc_transfer_gb: 0.015 }
        transfer: { inter_region_gb: 0.02 }
        cloudwatch: { metric_month: 0.30 }
        lambda: { request_per_million: 0.20, gb_second: 0.00001 }
        sns: { publish_per_million: 0.50, http_delivery_per_million: 0.60 }
        ec2:
          ebs_gp3_gb_month: 0.10
          instance_hour: { t4g.nano: 0.004, t4g.micro: 0.008, m5.2xlarge: 0.4, m6g.large: 0.08 }
        dynamodb: { write_request_per_million: 1.0, replicated_write_request_per_million: 1.5, storage_gb_month: 0.25, stream_read_request_per_100000: 0.02 }
        rds:
          storage_gb_month: 0.10
          snapshot_gb_month: 0.10
          instance_hour: { db.m6g.large: 0.15 }
        datasync: { per_gb: 0.0125 }
        facts:
          hours_per_month: 1000
          s3_replication_metrics_per_rule: 4
          s3_keys_per_list: 1000
          dynamodb_write_unit_bytes: 1024
          stream_records_per_read: 1000
          datasync_agent_instance: m5.2xlarge
          datasync_agent_disk_gb: 80
          ec2_baseline_mbps: { t4g.nano: 32, t4g.micro: 64, m5.2xlarge: 2500, m6g.large: 750 }
        """;

    public static PriceBook Book { get; } = PriceBook.Parse("test-prices.yaml", Yaml);

    public const double GiB = 1024.0 * 1024 * 1024;
    public const double MiB = 1024.0 * 1024;
    public const double KiB = 1024.0;

    public static CostOptions Options(string instance = "t4g.nano", TimeSpan? reconcile = null, double diskGiB = 8) => CostOptions.Default with
    {
        InstanceType = instance,
        InstanceDiskBytes = diskGiB * GiB,
        ReconcileEvery = reconcile,
    };

    /// <summary>Line item amount by its label prefix.</summary>
    public static double Amount(OptionCost o, string what) => o.Items.Single(i => i.What.StartsWith(what, StringComparison.Ordinal)).Amount;
}
