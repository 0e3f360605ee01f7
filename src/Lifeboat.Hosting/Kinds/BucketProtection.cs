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

    /// <summary>Its kept versions (history:); wired to the history engine.</summary>
    public IPointInTime? PointInTime => null;

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

    public async Task<bool> RunOnceAsync(OnceOptions options, TextWriter output, CancellationToken stop, CancellationToken abort)
    {
        var rep = _fresh ?? First;
        if (_fresh is null) await rep.PrepareAsync(abort).ConfigureAwait(false);
        _fresh = null;
        var name = Resource.Name;
        var retry = await rep.RetryOpenChangesAsync(abort).ConfigureAwait(false);
        // Without this line, objects an earlier run failed to copy and this one did would only show as "in sync".
        if (retry.Retried > 0)
            output.WriteLine($"{name}: {retry.Retried} changes left open by an earlier run retried first: {retry.Copied} copied, {retry.Failed} failed");
        var result = options.ShowPass is { } show
            ? await show(name, p => rep.ReconcileAsync(p, stop, abort)).ConfigureAwait(false)
            : await rep.ReconcileAsync(null, stop, abort).ConfigureAwait(false);
        await rep.ApplyDueDeletesAsync(abort).ConfigureAwait(false);
        // --deep: metadata and tags of every object, which listings cannot show (after a complete pass only).
        var deepPass = options.Deep && result.Completed ? await rep.DeepReconcileAsync(stop, abort).ConfigureAwait(false) : null;
        var failed = _rt.State.Failed(name);
        var backlog = _rt.State.Backlog(name);
        output.WriteLine($"{name}: {result.Listed} listed, {result.InSync} already in sync, {result.Copied} copied ({Sizes.Format(result.Bytes)}), " +
                         $"{result.Deleted} deleted, {result.Held} deletes held, {failed.Count} failed{(result.Completed ? "" : " (pass interrupted)")}" +
                         (deepPass is null ? "" : $"; deep pass: {deepPass.Checked} checked, {deepPass.Repaired} metadata/tag drifts repaired{(deepPass.Completed ? "" : " (interrupted)")}"));
        foreach (var f in failed.Take(20)) output.WriteLine($"  FAILED {f.Key}: {f.Error}");
        if (failed.Count > 20) output.WriteLine($"  ... and {failed.Count - 20} more");
        return result.Completed && failed.Count == 0 && backlog == 0 && deepPass is not { Completed: false };
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
