using Lifeboat.Core.Scheduling;

namespace Lifeboat.Core.Config;

/// <summary>Route 53 settings of a <c>type: route53</c> store (credentials come from the shared AWS keys).</summary>
public sealed partial record StoreConfig
{
    /// <summary>The hosted zone's id (Z123..., without "/hostedzone/").</summary>
    public string? HostedZoneId { get; init; }

    /// <summary>How long a change may take to become INSYNC before the switch fails.</summary>
    public TimeSpan? ChangeTimeout { get; init; }
}

/// <summary>
/// A <c>type: rds</c> resource: manual snapshots of an RDS instance taken in <see cref="SourceRegion"/> on
/// <see cref="Schedule"/>, copied to <see cref="TargetRegion"/> (the copy is started from the target side), with the
/// newest <see cref="Keep"/> Lifeboat-made snapshots kept in each region. <see cref="KmsKeyId"/> is a key in the target
/// region, needed for encrypted snapshots. Credentials: the AWS settings of <see cref="Store"/> (any AWS store), or
/// <see cref="Profile"/>, or the default chain. <see cref="SourceEndpoint"/>/<see cref="TargetEndpoint"/> override
/// the regions' RDS endpoints (VPC endpoints; tests).
/// </summary>
public sealed record RdsResource(
    string Name,
    string Instance,
    string SourceRegion,
    string TargetRegion,
    Cron Schedule,
    int Keep,
    string? KmsKeyId,
    string? Store,
    string? Profile,
    string? SourceEndpoint,
    string? TargetEndpoint,
    TimeSpan PollEvery,
    ConfigLocation Where) : ResourceConfig(Name, Where)
{
    public override string Type => "rds";

    /// <summary>The snapshot schedule can be paused or stopped, not reversed; snapshots are restored with AWS's own
    /// tools (no restore step).</summary>
    public override ResourceCapabilities Capabilities => Caps;

    private static readonly ResourceCapabilities Caps = new(true, Set(ReplicationAction.Pause, ReplicationAction.Resume, ReplicationAction.Stop),
        Set<StatusFigure>(), Restore: false, PointInTime: false);

    public override string Describe() => $"rds {Instance}: snapshots {SourceRegion} -> {TargetRegion}, schedule \"{Schedule.Expression}\", keep {Keep}";
}

public sealed partial record LifeboatConfig
{
    /// <summary>The <c>type: rds</c> resources; resource names are unique across every kind.</summary>
    public IReadOnlyList<RdsResource> Rds { get; init; } = [];

    public RdsResource RdsResource(string name) =>
        Rds.FirstOrDefault(r => r.Name == name)
        ?? throw new UserErrorException($"{File}: no rds resource named '{name}' (rds resources: {(Rds.Count == 0 ? "none" : string.Join(", ", Rds.Select(r => r.Name)))})");
}
