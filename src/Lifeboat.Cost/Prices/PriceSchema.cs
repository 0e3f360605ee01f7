namespace Lifeboat.Cost.Prices;

public enum PriceKind
{
    /// <summary>A unit price in the book's currency: amount = quantity / Per × price.</summary>
    Price,
    /// <summary>A named table of hourly prices (instance type → price per hour).</summary>
    PriceTable,
    /// <summary>A number that is not money (hours in a month, metrics per rule...).</summary>
    Number,
    /// <summary>A named table of numbers (instance type → baseline Mbit/s).</summary>
    NumberTable,
    /// <summary>A name (an instance type).</summary>
    Name,
}

/// <summary>One key a price file may (and a full price file must) hold.</summary>
/// <param name="Unit">What the quantity is counted in, for display ("GB-month", "request").</param>
/// <param name="Per">How many units the price is for (1000 for "per 1,000 requests").</param>
public sealed record PriceKey(string Key, PriceKind Kind, string Unit, double Per, string Description)
{
    public string Section => Key[..Key.IndexOf('.', StringComparison.Ordinal)];
    public string Name => Key[(Key.IndexOf('.', StringComparison.Ordinal) + 1)..];
}

/// <summary>Every key of a price file. The formulas read prices only through these names.</summary>
public static class PriceSchema
{
    public const string S3Storage = "s3.storage_gb_month";
    public const string S3Put = "s3.put_per_1000";
    public const string S3Get = "s3.get_per_1000";
    public const string S3List = "s3.list_per_1000";
    public const string S3Rtc = "s3.rtc_transfer_gb";
    public const string InterRegion = "transfer.inter_region_gb";
    public const string CloudWatchMetric = "cloudwatch.metric_month";
    public const string LambdaRequest = "lambda.request_per_million";
    public const string LambdaGbSecond = "lambda.gb_second";
    public const string SnsPublish = "sns.publish_per_million";
    public const string SnsHttp = "sns.http_delivery_per_million";
    public const string Ebs = "ec2.ebs_gp3_gb_month";
    public const string Ec2Hour = "ec2.instance_hour";
    public const string DynamoWrite = "dynamodb.write_request_per_million";
    public const string DynamoReplicatedWrite = "dynamodb.replicated_write_request_per_million";
    public const string DynamoStorage = "dynamodb.storage_gb_month";
    public const string StreamRead = "dynamodb.stream_read_request_per_100000";
    public const string RdsStorage = "rds.storage_gb_month";
    public const string RdsSnapshot = "rds.snapshot_gb_month";
    public const string RdsHour = "rds.instance_hour";
    public const string DataSyncGb = "datasync.per_gb";
    public const string HoursPerMonth = "facts.hours_per_month";
    public const string MetricsPerRule = "facts.s3_replication_metrics_per_rule";
    public const string WriteUnitBytes = "facts.dynamodb_write_unit_bytes";
    public const string KeysPerList = "facts.s3_keys_per_list";
    public const string RecordsPerRead = "facts.stream_records_per_read";
    public const string AgentInstance = "facts.datasync_agent_instance";
    public const string AgentDiskGb = "facts.datasync_agent_disk_gb";
    public const string BaselineMbps = "facts.ec2_baseline_mbps";

    public static IReadOnlyList<PriceKey> Keys { get; } =
    [
        new(S3Storage, PriceKind.Price, "GB-month", 1, "S3 Standard storage"),
        new(S3Put, PriceKind.Price, "request", 1000, "S3 PUT/COPY/POST requests"),
        new(S3Get, PriceKind.Price, "request", 1000, "S3 GET/HEAD requests"),
        new(S3List, PriceKind.Price, "request", 1000, "S3 LIST requests"),
        new(S3Rtc, PriceKind.Price, "GB", 1, "S3 Replication Time Control data transfer"),
        new(InterRegion, PriceKind.Price, "GB", 1, "data transfer to another region"),
        new(CloudWatchMetric, PriceKind.Price, "metric-month", 1, "CloudWatch metric"),
        new(LambdaRequest, PriceKind.Price, "request", 1_000_000, "Lambda requests"),
        new(LambdaGbSecond, PriceKind.Price, "GB-second", 1, "Lambda duration"),
        new(SnsPublish, PriceKind.Price, "request", 1_000_000, "SNS publish requests"),
        new(SnsHttp, PriceKind.Price, "delivery", 1_000_000, "SNS HTTP/S deliveries"),
        new(Ebs, PriceKind.Price, "GB-month", 1, "EBS gp3 volume"),
        new(Ec2Hour, PriceKind.PriceTable, "instance-hour", 1, "EC2 instance, per hour"),
        new(DynamoWrite, PriceKind.Price, "write unit", 1_000_000, "DynamoDB on-demand write request units"),
        new(DynamoReplicatedWrite, PriceKind.Price, "replicated write unit", 1_000_000, "DynamoDB replicated write request units"),
        new(DynamoStorage, PriceKind.Price, "GB-month", 1, "DynamoDB storage"),
        new(StreamRead, PriceKind.Price, "read request", 100_000, "DynamoDB Streams read request units"),
        new(RdsStorage, PriceKind.Price, "GB-month", 1, "RDS storage"),
        new(RdsSnapshot, PriceKind.Price, "GB-month", 1, "RDS snapshot storage"),
        new(RdsHour, PriceKind.PriceTable, "instance-hour", 1, "RDS instance, per hour"),
        new(DataSyncGb, PriceKind.Price, "GB", 1, "DataSync data copied"),
        new(HoursPerMonth, PriceKind.Number, "hours", 1, "hours in a billing month"),
        new(MetricsPerRule, PriceKind.Number, "metrics", 1, "CloudWatch metrics per S3 replication rule"),
        new(WriteUnitBytes, PriceKind.Number, "bytes", 1, "item bytes per DynamoDB write unit"),
        new(KeysPerList, PriceKind.Number, "keys", 1, "keys per S3 LIST request"),
        new(RecordsPerRead, PriceKind.Number, "records", 1, "records per DynamoDB Streams read"),
        new(AgentInstance, PriceKind.Name, "", 1, "EC2 instance type of a DataSync agent"),
        new(AgentDiskGb, PriceKind.Number, "GB", 1, "EBS volume of a DataSync agent"),
        new(BaselineMbps, PriceKind.NumberTable, "Mbit/s", 1, "EC2 baseline network bandwidth"),
    ];

    public static readonly IReadOnlyDictionary<string, PriceKey> ByKey = Keys.ToDictionary(k => k.Key, StringComparer.Ordinal);

    public static IEnumerable<string> Sections => Keys.Select(k => k.Section).Distinct();
}
