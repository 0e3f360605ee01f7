using Lifeboat.Providers.Postgres;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Core.Status;
using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Providers.DynamoDb;

namespace Lifeboat.Hosting.Kinds;

/// <summary>
/// One configured resource, running (ADR 0010): what <c>replicate</c> and <c>serve</c> protect continuously, through
/// one <see cref="ReplicationSupervisor"/> that applies the replication mode runbooks set, for every kind alike.
/// </summary>
public interface IProtectedResource
{
    ResourceConfig Config { get; }

    /// <summary>Checks what the resource needs before anything runs (endpoints, buckets, the target's claim); a
    /// problem here is a user error that stops the command, naming the resource.</summary>
    Task PrepareAsync(CancellationToken abort);

    /// <summary>Protects the resource in <paramref name="mode"/> (<see cref="ReplicationMode.Forward"/>, or
    /// <see cref="ReplicationMode.Reversed"/> for kinds whose capabilities include reverse) until
    /// <paramref name="stop"/>: work in flight finishes first; <paramref name="abort"/> cancels it.</summary>
    Task RunAsync(ReplicationMode mode, CancellationToken stop, CancellationToken abort);

    /// <summary><c>replicate --once</c>: one pass that brings the copy up to the source's present (buckets: a listing
    /// pass; tables: the initial sync if needed and the stream to its end; postgres: WAL up to the server's position;
    /// rds: one snapshot cycle), its outcome written to <paramref name="output"/> as lines starting with the resource's
    /// name. False when anything is left undone (failed copies, a backlog, an interrupted pass).</summary>
    Task<bool> RunOnceAsync(OnceOptions options, TextWriter output, CancellationToken stop, CancellationToken abort);

    /// <summary>Its point-in-time history (<c>windows</c>, <c>restore --all --time</c>); null when it keeps none (a
    /// bucket or table without <c>history:</c>; rds, whose history is RDS snapshots).</summary>
    IPointInTime? PointInTime { get; }
}

/// <summary>How <c>replicate --once</c> runs. <see cref="Deep"/>: buckets also compare metadata and tags of every object
/// (after a complete pass). <see cref="ShowPass"/>: how a bucket pass is shown while it runs (the CLI's progress bar on
/// a terminal); null = no progress.</summary>
public sealed record OnceOptions(bool Deep = false, Func<string, Func<IProgress<PassProgress>?, Task<PassResult>>, Task<PassResult>>? ShowPass = null);

/// <summary>
/// The registry of resource kinds: the one place that maps a kind's configuration to its running implementation.
/// Adding a kind is its own folder (its config record in Lifeboat.Core.Config declaring its capabilities, its
/// provider) plus one line here.
/// </summary>
public static class ResourceKinds
{
    /// <summary>The kinds besides buckets (the engine's own): each provider reads its own config keys. One line per kind.</summary>
    public static IReadOnlyList<IResourceKindReader> Readers { get; } =
    [
        new TableKind(),
        new Providers.Postgres.PostgresKind(),
        new RdsKind(),
    ];

    /// <param name="claim">What forward replication does with the target's claim marker (ADR 0009).</param>
    public static IProtectedResource Create(Runtime rt, ResourceConfig config, ReplicationSupervisor? routes = null, ClaimMode claim = ClaimMode.Claim) => config switch
    {
        BucketResource b => new BucketProtection(rt, b, routes, claim),
        TableResource t => new TableProtection(rt, t, claim),
        PostgresResource p => new PostgresProtection(rt, p),
        RdsResource r => new RdsProtection(rt, r),
        _ => throw new UserErrorException($"{config.Where}: resources of type {config.Type} are not supported by this build"),
    };

    /// <summary>The status rows of a resource (<c>status</c>, the serve API): <see cref="ResourceStatus"/> for the kinds
    /// measured from the state store, <see cref="Providers.Postgres.PgStatus"/> for postgres (read from its server and
    /// archive; an archive not created yet, or unreadable, is its row's state, never an error for the others).</summary>
    public static async Task<IReadOnlyList<object>> StatusAsync(LifeboatConfig cfg, StateStore state, ResourceConfig config, DateTimeOffset now, CancellationToken ct)
    {
        switch (config)
        {
            case PostgresResource p:
                var archive = Runtime.PgArchiveOf(cfg, p, out var store);
                await using (store)
                    return [await Providers.Postgres.PgStatusReader.ReadAsync(p, archive, now, ct).ConfigureAwait(false)];
            default:
                return Measured(state, config, now) is { } rows ? [.. rows] : [];
        }
    }

    /// <summary>The figures of the kinds measured from the state store (the ones alarms read: see
    /// <see cref="ResourceCapabilities.Figures"/>); the first row is the resource's own, forward direction.</summary>
    public static IReadOnlyList<ResourceStatus>? Measured(StateStore state, ResourceConfig config, DateTimeOffset now) => config switch
    {
        BucketResource b => [BucketStatus.Compute(state, b, now)],
        TableResource t => [.. TableResourceStatus.Rows(state, t, now)],
        RdsResource r => [RdsStatusReader.Row(state, r, now)],
        _ => null,
    };

    /// <summary>How a resource is listed at start-up: its name, kind and what it protects from and to.</summary>
    public static string Describe(ResourceConfig r) => $"{r.Name} ({Redact(r.Describe())})";

    private static string Redact(string text) => Abstractions.Redact.Text(text);
}
