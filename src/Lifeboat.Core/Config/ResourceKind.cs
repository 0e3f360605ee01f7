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

    protected static IReadOnlySet<T> Set<T>(params T[] items) => new HashSet<T>(items);

    /// <summary>The capabilities of the kinds that replicate changes (buckets, tables): every replication action, every
    /// figure, restore, no point in time.</summary>
    protected static readonly ResourceCapabilities Replicated = new(true,
        Set(ReplicationAction.Pause, ReplicationAction.Resume, ReplicationAction.Stop, ReplicationAction.Reverse),
        Set(StatusFigure.Lag, StatusFigure.Rpo, StatusFigure.Backlog, StatusFigure.Failed), Restore: true, PointInTime: false);

    /// <summary><see cref="Replicated"/> with <c>history:</c>: restores to a point in time too.</summary>
    protected static readonly ResourceCapabilities ReplicatedWithHistory = Replicated with { PointInTime = true };
}
