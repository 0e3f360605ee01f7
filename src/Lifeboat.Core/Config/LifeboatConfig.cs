using System.Net;

namespace Lifeboat.Core.Config;

/// <summary>Routes: a local routing file (JSON) that stands for a DNS zone in the demo and tests (traffic switching without a DNS server).</summary>
public enum StoreType { S3, File, DynamoDb, Dns, Route53, Routes }

/// <summary>Where a setting came from, for errors found after load (e.g. an unreachable endpoint).</summary>
public sealed record ConfigLocation(string File, long Line, string Key)
{
    public long Column { get; init; } = 1;

    public override string ToString() => $"{File}:{Line}: {Key}";
}

public sealed partial record StoreConfig(
    string Name,
    StoreType Type,
    ConfigLocation Where,
    string? Endpoint = null,
    string? Region = null,
    bool? ForcePathStyle = null,
    string? Profile = null,
    string? RoleArn = null,
    string? ExternalId = null,
    string? AccessKeyEnv = null,
    string? SecretKeyEnv = null,
    string? Path = null,
    string? StsEndpoint = null);

public sealed record Location(string Store, string Bucket, string Prefix, ConfigLocation Where);

public enum DeleteMode { Retain, Propagate, Delayed }

public sealed record DeletePolicy(DeleteMode Mode, TimeSpan Delay)
{
    public static DeletePolicy Retain { get; } = new(DeleteMode.Retain, TimeSpan.Zero);
    public static DeletePolicy Propagate { get; } = new(DeleteMode.Propagate, TimeSpan.Zero);

    public override string ToString() => Mode switch
    {
        DeleteMode.Retain => "retain",
        DeleteMode.Propagate => "propagate",
        _ => $"propagate after {Durations.Format(Delay)}",
    };
}

/// <summary>The webhook of a bucket resource. <see cref="VerifySns"/>: messages in SNS's shape must carry a valid
/// Amazon SNS signature (default; off only for a trusted sender that relays SNS-shaped bodies unsigned).
/// <see cref="TopicArns"/>: the only SNS topics whose messages are accepted (none when empty).</summary>
public sealed record EventsConfig(IPEndPoint Listen, string? Token, string Path, bool VerifySns = true, IReadOnlyList<string>? TopicArns = null)
{
    /// <summary><c>insecure: true</c> in effect: a listener reachable from other hosts without a token (logged as a
    /// warning at every start).</summary>
    public bool Insecure { get; init; }
    /// <summary>Where <c>listen</c> and <c>path</c> are written (or the <c>events:</c> section, for a default), for
    /// listener conflicts.</summary>
    public ConfigLocation? ListenWhere { get; init; }
    public ConfigLocation? PathWhere { get; init; }
}

public sealed record BucketResource(
    string Name,
    Location Source,
    Location Target,
    DeletePolicy Deletes,
    TimeSpan Rpo,
    EventsConfig? Events,
    TimeSpan ReconcileEvery,
    int Concurrency,
    long? MultipartThreshold,
    long? PartSize,
    ConfigLocation Where,
    YamlMap? Workload = null) : ResourceConfig(Name, Where)
{
    public override string Type => "bucket";
    public override ResourceCapabilities Capabilities => History is null ? Replicated : ReplicatedWithHistory;
    public override string Describe() =>
        $"bucket {Source.Store}/{Source.Bucket}/{Source.Prefix} -> {Target.Store}/{Target.Bucket}/{Target.Prefix}{(Events is null ? "" : $", events on {Events.Listen}{Events.Path}")}";

    /// <summary><c>deep_reconcile_every</c>: how often continuous mode runs a deep pass (HEAD and tags of every object on
    /// both sides; repairs metadata and tag drift, which listings cannot show); null for <c>off</c>.</summary>
    public TimeSpan? DeepReconcileEvery { get; init; } = DefaultDeepReconcileEvery;

    public static TimeSpan DefaultDeepReconcileEvery { get; } = TimeSpan.FromHours(24);

    /// <summary><c>history:</c>: replaced and deleted versions kept for a while (ADR 0011); null = a mirror only.</summary>
    public HistoryConfig? History { get; init; }
}

/// <summary>A DynamoDB table in a <c>type: dynamodb</c> store.</summary>
public sealed record TableLocation(string Store, string Table, ConfigLocation Where);

/// <summary>
/// A <c>type: table</c> resource: a DynamoDB table replicated from its stream into a table of another store.
/// <see cref="CreateTarget"/> creates the target with the source's keys, indexes and billing mode when it is absent;
/// <see cref="ExcludeAttributes"/> are left out of every copied item (never key attributes);
/// <see cref="Concurrency"/> is the number of parallel Scan segments (and writers) of the initial sync;
/// <see cref="Canary"/> optionally writes a marker item to the source every so often and times its arrival.
/// </summary>
public sealed record TableResource(
    string Name,
    TableLocation Source,
    TableLocation Target,
    bool CreateTarget,
    IReadOnlyList<string> ExcludeAttributes,
    DeletePolicy Deletes,
    TimeSpan Rpo,
    int Concurrency,
    ConfigLocation Where,
    TableCanary? Canary = null) : ResourceConfig(Name, Where)
{
    public override string Type => "table";
    public override ResourceCapabilities Capabilities => History is null ? Replicated : ReplicatedWithHistory;

    /// <summary><c>history:</c>: archived stream changes and periodic snapshots (ADR 0011); null = a mirror only.</summary>
    public HistoryConfig? History { get; init; }
    public override string Describe() => $"table {Source.Store}/{Source.Table} -> {Target.Store}/{Target.Table} (stream)";
}

/// <summary>
/// <c>canary: 10s</c> or <c>canary: { every: 10s, key: { pk: lifeboat-canary } }</c>: while replicating
/// continuously, Lifeboat writes a small marker item with this key to the source every <see cref="Every"/> and
/// measures when it is durable on the target. <see cref="Key"/> gives a value per key attribute as text (converted
/// to the attribute's type from the table's definition); null = every key attribute is "lifeboat-canary" (0 for a
/// number).
/// </summary>
public sealed record TableCanary(TimeSpan Every, IReadOnlyDictionary<string, string>? Key, ConfigLocation Where);

public sealed record MetricsConfig(IPEndPoint Listen)
{
    public ConfigLocation? Where { get; init; }
}

public sealed partial record LifeboatConfig(
    string File,
    string StatePath,
    IReadOnlyDictionary<string, StoreConfig> Stores,
    IReadOnlyList<BucketResource> Resources,
    MetricsConfig? Metrics)
{
    /// <summary>The <c>type: table</c> resources (DynamoDB), kept apart from the bucket resources in
    /// <see cref="Resources"/>; resource names are unique across both.</summary>
    public IReadOnlyList<TableResource> Tables { get; init; } = [];

    /// <summary>The <c>type: postgres</c> resources (WAL shipping and base backups).</summary>
    public IReadOnlyList<PostgresResource> Postgres { get; init; } = [];

    public PostgresResource PostgresResource(string name) =>
        Postgres.FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no postgres resource named '{name}' (postgres resources: {string.Join(", ", Postgres.Select(r => r.Name))})");

    /// <summary>Every resource of every kind, in the order of the config file (ADR 0010): what commands iterate. The
    /// per-kind lists (<see cref="Resources"/>, <see cref="Tables"/>, <see cref="Postgres"/>, <see cref="Rds"/>) are
    /// views of it for code that works on one kind.</summary>
    public IReadOnlyList<ResourceConfig> All
    {
        get => _all ?? [.. Resources, .. Tables, .. Postgres, .. Rds];
        init => _all = value;
    }

    private readonly IReadOnlyList<ResourceConfig>? _all;

    /// <summary>The resource named, of any kind; a user error listing every resource when there is none.</summary>
    public ResourceConfig Find(string name) =>
        All.FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no resource named '{name}' (resources: {(All.Count == 0 ? "none" : string.Join(", ", All.Select(r => $"{r.Name} ({r.Type})")))})");

    /// <summary>checks:, rules:, runbooks: and serve: (detection and failover).</summary>
    public RecoveryConfig Recovery { get; init; } = RecoveryConfig.Empty;

    public TableResource Table(string name) =>
        Tables.FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no table resource named '{name}' (tables: {string.Join(", ", Tables.Select(r => r.Name))})");

    public BucketResource Resource(string name) =>
        Resources.FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no resource named '{name}' (resources: {string.Join(", ", Resources.Select(r => r.Name))})");

    public IReadOnlyList<BucketResource> Select(string? name) => name is null ? Resources : [Resource(name)];

    /// <summary>Every resource (null), or the one bucket or table resource named.</summary>
    public (IReadOnlyList<BucketResource> Buckets, IReadOnlyList<TableResource> Tables) SelectAny(string? name)
    {
        if (name is null) return (Resources, Tables);
        if (Resources.FirstOrDefault(r => r.Name == name) is { } b) return ([b], []);
        if (Tables.FirstOrDefault(r => r.Name == name) is { } t) return ([], [t]);
        throw new UserErrorException($"{File}: no resource named '{name}' (resources: {string.Join(", ", Resources.Select(r => r.Name).Concat(Tables.Select(r => r.Name)))})");
    }
}
