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
    public override ResourceCapabilities Capabilities => History is null ? Caps : CapsWithHistory;
    public override TimeSpan? TargetRpo => Rpo;

    private static readonly ResourceCapabilities Caps = Replicated("prefix", "to_bucket");
    private static readonly ResourceCapabilities CapsWithHistory = WithHistory(Caps);

    public override string Describe() =>
        $"bucket {Source.Store}/{Source.Bucket}/{Source.Prefix} -> {Target.Store}/{Target.Bucket}/{Target.Prefix}{(Events is null ? "" : $", events on {Events.Listen}{Events.Path}")}";

    /// <summary><c>deep_reconcile_every</c>: how often continuous mode runs a deep pass (HEAD and tags of every object on
    /// both sides; repairs metadata and tag drift, which listings cannot show); null for <c>off</c>.</summary>
    public TimeSpan? DeepReconcileEvery { get; init; } = DefaultDeepReconcileEvery;

    public static TimeSpan DefaultDeepReconcileEvery { get; } = TimeSpan.FromHours(24);

    /// <summary><c>history:</c>: replaced and deleted versions kept for a while (ADR 0011); null = a mirror only.</summary>
    public HistoryConfig? History { get; init; }
}

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
    /// <summary>Every resource of every kind, in the order of the config file (ADR 0010): what commands iterate.
    /// <see cref="Resources"/> (buckets) and the providers' views (<c>Tables</c>, <c>Postgres</c>, <c>Rds</c>, extension
    /// members in each provider) are views of it for code that works on one kind.</summary>
    public IReadOnlyList<ResourceConfig> All
    {
        get => _all ?? Resources;
        init => _all = value;
    }

    private readonly IReadOnlyList<ResourceConfig>? _all;

    /// <summary>The resources of one kind, in config order.</summary>
    public IReadOnlyList<T> Of<T>() where T : ResourceConfig => All.OfType<T>().ToList();

    /// <summary>The resource of kind <typeparamref name="T"/> named; a user error listing that kind's resources.</summary>
    public T Find<T>(string name, string kind) where T : ResourceConfig =>
        All.OfType<T>().FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no {kind} resource named '{name}' ({kind} resources: {(Of<T>().Count == 0 ? "none" : string.Join(", ", Of<T>().Select(r => r.Name)))})");

    /// <summary>The resource named, of any kind; a user error listing every resource when there is none.</summary>
    public ResourceConfig Find(string name) =>
        All.FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no resource named '{name}' (resources: {(All.Count == 0 ? "none" : string.Join(", ", All.Select(r => $"{r.Name} ({r.Type})")))})");

    /// <summary>checks:, rules:, runbooks: and serve: (detection and failover).</summary>
    public RecoveryConfig Recovery { get; init; } = RecoveryConfig.Empty;

    public BucketResource Resource(string name) =>
        Resources.FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no resource named '{name}' (resources: {string.Join(", ", Resources.Select(r => r.Name))})");

    public IReadOnlyList<BucketResource> Select(string? name) => name is null ? Resources : [Resource(name)];
}
