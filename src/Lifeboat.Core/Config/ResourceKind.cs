namespace Lifeboat.Core.Config;

/// <summary>A figure a kind of resource measures and <c>status</c>, the serve API and alarms read (ADR 0010).</summary>
public enum StatusFigure { Lag, Rpo, Backlog, Failed }

/// <summary>
/// What the engine, the CLI and runbooks may ask of one kind of protected resource (ADR 0010). <c>validate</c> refuses a
/// config that asks a kind for what it does not declare here (a runbook <c>replication:</c> action it cannot
/// acknowledge, an alarm on a figure it does not measure, a <c>restore:</c> step it cannot run), at the step's
/// file:line:key: never a hang or a silent skip at run time.
/// </summary>
/// <param name="Continuous">Protected continuously by <c>replicate</c> and <c>serve</c> (always true today: a kind that is not
/// protected by the daemon is a gap, not a capability).</param>
/// <param name="Actions">The runbook <c>replication:</c> actions the kind acknowledges (the supervisor applies the mode).</param>
/// <param name="Figures">The figures it measures (alarms may read only these).</param>
/// <param name="Restore">A runbook <c>restore:</c> step can restore it.</param>
/// <param name="Verify"><c>verify</c> checks it (every kind today; declared so a kind that cannot is listed, not skipped).</param>
/// <param name="PointInTime">It restores to a point in time (<c>point_in_time</c> on a restore step).</param>
public sealed record ResourceCapabilities(
    bool Continuous,
    IReadOnlySet<ReplicationAction> Actions,
    IReadOnlySet<StatusFigure> Figures,
    bool Restore,
    bool PointInTime,
    bool Verify = true)
{
    /// <summary>The keys a runbook <c>restore:</c> step may give for this kind (besides <c>resource</c>); a key of
    /// another kind is refused by <c>validate</c> at the step.</summary>
    public IReadOnlySet<string> RestoreKeys { get; init; } = new HashSet<string>();

    /// <summary>The keys a <c>restore:</c> step of this kind must give (postgres: point_in_time and target_dir).</summary>
    public IReadOnlySet<string> RestoreRequired { get; init; } = new HashSet<string>();

    public static string Name(ReplicationAction a) => a.ToString().ToLowerInvariant();
    public static string Name(StatusFigure f) => f.ToString().ToLowerInvariant();
}

/// <summary>
/// One configured resource of any kind (ADR 0010). Each kind's record derives from this and declares its
/// <see cref="Type"/> (the <c>type:</c> in the config) and <see cref="Capabilities"/>; the hosting layer creates the
/// running resource from it (<c>Lifeboat.Hosting.ResourceKinds</c>), and every command iterates
/// <see cref="LifeboatConfig.All"/> instead of a list per kind.
/// </summary>
public abstract record ResourceConfig(string Name, ConfigLocation Where)
{
    public abstract string Type { get; }
    public abstract ResourceCapabilities Capabilities { get; }

    /// <summary>One line for start-up logs and listings: where it is protected from and to.</summary>
    public abstract string Describe();

    /// <summary>The recovery point objective configured for it (<c>rpo:</c>), for alarms; null when the kind has none.</summary>
    public virtual TimeSpan? TargetRpo => null;

    protected static IReadOnlySet<T> Set<T>(params T[] items) => new HashSet<T>(items);

    /// <summary>The capabilities of the kinds that replicate changes (buckets, tables): every replication action, every
    /// figure, restore, no point in time.</summary>
    protected static ResourceCapabilities Replicated(params string[] restoreKeys) => new(true,
        Set(ReplicationAction.Pause, ReplicationAction.Resume, ReplicationAction.Stop, ReplicationAction.Reverse),
        Set(StatusFigure.Lag, StatusFigure.Rpo, StatusFigure.Backlog, StatusFigure.Failed), Restore: true, PointInTime: false)
    {
        RestoreKeys = Set(["to_store", "overwrite", .. restoreKeys]),
    };

    /// <summary>A replicated kind with <c>history:</c>: restores to a point in time too (<c>point_in_time</c> and
    /// <c>exact</c> on a restore step).</summary>
    protected static ResourceCapabilities WithHistory(ResourceCapabilities c) =>
        c with { PointInTime = true, RestoreKeys = Set([.. c.RestoreKeys, "point_in_time", "exact"]) };
}

/// <summary>
/// How one kind of resource reads its configuration (ADR 0010): the provider that implements the kind owns its keys
/// and their errors. The hosting layer registers the kinds it builds with (<c>Lifeboat.Hosting.ResourceKinds</c>); the
/// loader dispatches on <c>type:</c> and knows only buckets (the engine's own kind) by itself.
/// </summary>
public interface IResourceKindReader
{
    /// <summary>The <c>type:</c> value of the kind.</summary>
    string Type { get; }

    ResourceConfig Read(YamlMap resource, ConfigReadContext context);
}

/// <summary>What a kind's reader may use while reading its resource: the stores, and the readers of the keys every
/// kind shares (name, store references, locations, deletes, history, URLs and regions), with their errors.</summary>
public sealed class ConfigReadContext(IReadOnlyDictionary<string, StoreConfig> stores)
{
    public IReadOnlyDictionary<string, StoreConfig> Stores { get; } = stores;

    /// <summary><c>name:</c>, checked; and <c>type:</c> checked against the registered kinds.</summary>
    public string Name(YamlMap r) => ConfigLoader.ResourceNameOf(r);

    /// <summary>A <c>store:</c> reference to a defined store.</summary>
    public string StoreRef(YamlMap m) => ConfigLoader.StoreRefOf(m, Stores);

    /// <summary>A bucket location (<c>store</c>, <c>bucket</c>, <c>prefix</c>) in an s3 or file store.</summary>
    public Location Location(YamlMap m) => ConfigLoader.LocationOf(m, Stores);

    public DeletePolicy Deletes(YamlMap r) => ConfigLoader.DeletesOf(r);

    /// <summary><c>history:</c> (ADR 0011); <paramref name="table"/>: with snapshots, and a store required.</summary>
    public HistoryConfig? History(YamlMap r, bool table) => ConfigLoader.HistoryOf(r, Stores, table);

    /// <summary>Refuses <c>history:</c> on a kind that keeps its history another way, saying where it is.</summary>
    public void RefuseHistory(YamlMap r, string why) => ConfigLoader.RefuseHistoryOf(r, why);

    public string? Url(YamlMap m, string key) => ConfigLoader.UrlOf(m, key);

    public string Region(YamlMap m, string key) => ConfigLoader.RegionOf(m, key);

    public string TypeName(StoreType t) => ConfigLoader.TypeNameOf(t);

    public static ConfigLocation Where(YamlMap m) => new(m.File, m.Node.Start.Line, m.Path);
}
