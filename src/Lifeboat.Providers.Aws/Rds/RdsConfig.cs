using System.Text.RegularExpressions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Scheduling;

namespace Lifeboat.Providers.Aws.Rds;

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

/// <summary>Reads <c>type: rds</c> resources (ADR 0010: the provider owns its keys and their errors).</summary>
public sealed partial class RdsKind : IResourceKindReader
{
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")]
    private static partial Regex InstancePattern();

    public string Type => "rds";

    public ResourceConfig Read(YamlMap r, ConfigReadContext context)
    {
        var name = context.Name(r);
        context.RefuseHistory(r, "an rds resource's history is its snapshots (keep: sets how many): history: is for bucket and table resources");
        var instance = r.String("instance");
        if (instance.Length > 63 || !InstancePattern().IsMatch(instance))
            throw r.Error("instance", $"'{instance}' is not an RDS DB instance identifier (1 to 63 letters, digits or hyphens, starting with a letter)");
        var source = context.Region(r, "source_region");
        var target = context.Region(r, "target_region");
        if (source == target) throw r.Error("target_region", "is the same as source_region: a cross-region copy needs two regions");
        var scheduleText = r.String("schedule");
        Cron schedule;
        try { schedule = Cron.Parse(scheduleText); }
        catch (FormatException e) { throw r.Error("schedule", e.Message); }
        var keep = r.OptInt("keep", 1, 1000) ?? throw r.Error("keep", "is required (how many snapshots to keep in each region, e.g. 14)");
        string? store = null;
        if (r.Has("store"))
        {
            store = context.StoreRef(r);
            if (context.Stores[store].Type == StoreType.File)
                throw r.Error("store", $"store '{store}' is a file store: name an AWS store (s3, dynamodb, route53) whose credentials to use");
        }
        var profile = r.OptString("profile");
        if (store is not null && profile is not null) throw r.Error("profile", "give store or profile for the credentials, not both");
        var res = new RdsResource(name, instance, source, target, schedule, keep,
            KmsKeyId: r.OptString("kms_key_id"),
            Store: store,
            Profile: profile,
            SourceEndpoint: context.Url(r, "source_endpoint"),
            TargetEndpoint: context.Url(r, "target_endpoint"),
            PollEvery: r.OptDuration("poll_every", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromSeconds(30),
            Where: ConfigReadContext.Where(r));
        r.EnsureNoUnknownKeys();
        return res;
    }
}

/// <summary>The rds resources of a config (a view of <see cref="LifeboatConfig.All"/>).</summary>
public static class RdsConfigViews
{
    extension(LifeboatConfig cfg)
    {
        public IReadOnlyList<RdsResource> Rds => cfg.Of<RdsResource>();

        public RdsResource RdsResource(string name) => cfg.Find<RdsResource>(name, "rds");
    }
}
