using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;

namespace Lifeboat.Hosting.Kinds;

/// <summary>A table resource: stream replication (<see cref="TableReplicator"/>) with its canary forward, or from
/// the target back to the source (journal NAME.reverse) as <c>replicate --reverse</c> does.</summary>
public sealed class TableProtection(Runtime rt, TableResource res, ClaimMode claim) : IProtectedResource
{
    private TableReplicator? _fresh;

    /// <summary>Around a replicator already prepared (by replicate).</summary>
    public TableProtection(Runtime rt, TableReplicator prepared) : this(rt, prepared.Resource, ClaimMode.Claim) => _fresh = prepared;

    public ResourceConfig Config => res;

    public async Task PrepareAsync(CancellationToken abort)
    {
        var rep = rt.TableReplicator(res, claim: claim);
        await rep.PrepareAsync(abort).ConfigureAwait(false);
        _fresh = rep;
    }

    public async Task RunAsync(ReplicationMode mode, CancellationToken stop, CancellationToken abort)
    {
        if (mode == ReplicationMode.Forward)
        {
            var rep = _fresh ?? rt.TableReplicator(res);
            if (_fresh is null) await rep.PrepareAsync(abort).ConfigureAwait(false);
            _fresh = null;
            await Task.WhenAll(rep.RunAsync(stop, abort, TimeSpan.FromMilliseconds(250)), rep.RunCanaryAsync(stop)).ConfigureAwait(false);
            return;
        }
        var rev = rt.TableReplicator(res, reverse: true);
        await rev.PrepareAsync(abort).ConfigureAwait(false);
        await rev.RunAsync(stop, abort, TimeSpan.FromMilliseconds(250)).ConfigureAwait(false);
    }
}
