using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;

namespace Lifeboat.Hosting.Kinds;

/// <summary>A bucket resource: object replication (<see cref="ObjectReplicator"/>) forward, or reversed with source
/// and target swapped and deletes retained. Event routes that enqueue into it follow the live replicator.</summary>
public sealed class BucketProtection : IProtectedResource
{
    private readonly Runtime _rt;
    private readonly ReplicationSupervisor? _routes;
    private ObjectReplicator? _fresh; // prepared, not run yet
    private ObjectReplicator _inRoutes;

    public BucketProtection(Runtime rt, BucketResource res, ReplicationSupervisor? routes, ClaimMode claim)
    {
        _rt = rt;
        _routes = routes;
        Resource = res;
        First = rt.Replicator(res, claim: claim);
        _inRoutes = First;
    }

    /// <summary>Around a replicator already prepared (replicate prepares its buckets while the state opens).</summary>
    public BucketProtection(Runtime rt, ObjectReplicator prepared, ReplicationSupervisor? routes)
    {
        _rt = rt;
        _routes = routes;
        Resource = prepared.Resource;
        First = prepared;
        _inRoutes = First;
        _fresh = prepared;
    }

    public BucketResource Resource { get; }
    public ResourceConfig Config => Resource;

    /// <summary>The replicator prepared first: the one webhook routes are built with.</summary>
    public ObjectReplicator First { get; }

    public async Task PrepareAsync(CancellationToken abort)
    {
        await First.PrepareAsync(abort).ConfigureAwait(false);
        _fresh = First;
    }

    public async Task RunAsync(ReplicationMode mode, CancellationToken stop, CancellationToken abort)
    {
        if (mode == ReplicationMode.Forward)
        {
            var rep = _fresh ?? _rt.Replicator(Resource);
            if (_fresh is null) await rep.PrepareAsync(abort).ConfigureAwait(false);
            _fresh = null;
            if (!ReferenceEquals(_inRoutes, rep))
            {
                _routes?.Swap(_inRoutes, rep);
                _inRoutes = rep;
            }
            await rep.RunAsync(null, stop, abort).ConfigureAwait(false);
            return;
        }
        var rev = _rt.Replicator(Reverse(Resource));
        await rev.PrepareAsync(abort).ConfigureAwait(false);
        await rev.RunAsync(null, stop, abort).ConfigureAwait(false);
    }

    public static BucketResource Reverse(BucketResource res) => res with
    {
        Name = res.Name + Providers.DynamoDb.TableReplicator.ReverseSuffix,
        Source = res.Target,
        Target = res.Source,
        Deletes = DeletePolicy.Retain,
        Events = null,
    };
}
