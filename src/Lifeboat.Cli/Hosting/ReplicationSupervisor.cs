using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Hosting;

/// <summary>
/// Runs each resource's continuous replication in the mode a runbook asked for (<see cref="ReplicationControl"/>):
/// forward, paused/stopped (idle; copies in flight finish first), or reversed (target -> source, journal NAME.reverse;
/// tables as <c>replicate --reverse</c> does, buckets with source and target swapped, deletes retained). The mode is
/// read every <see cref="ReplicationControl.PollInterval"/>; a change stops the running loop gracefully and starts the
/// new one, then confirms the mode (<see cref="ReplicationControl.Acknowledge"/>) so the runbook step can go on.
/// Used by <c>lifeboat replicate</c> (continuous) and <c>lifeboat serve</c>.
/// </summary>
public sealed class ReplicationSupervisor(Runtime rt, ILogger log)
{
    private readonly List<ObjectReplicator[]> _routes = [];
    private readonly Lock _gate = new();

    /// <summary>An array of replicators an event route enqueues into: replaced in place when a loop restarts, so
    /// events keep reaching the live replicator.</summary>
    public void Register(ObjectReplicator[] route)
    {
        lock (_gate) _routes.Add(route);
    }

    private void Swap(ObjectReplicator old, ObjectReplicator now)
    {
        lock (_gate)
            foreach (var r in _routes)
                for (var i = 0; i < r.Length; i++)
                    if (ReferenceEquals(r[i], old)) r[i] = now;
    }

    public static BucketResource Reverse(BucketResource res) => res with
    {
        Name = res.Name + TableReplicator.ReverseSuffix,
        Source = res.Target,
        Target = res.Source,
        Deletes = DeletePolicy.Retain,
        Events = null,
    };

    private long NowMs => rt.Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Cancels <paramref name="cts"/> when the resource's mode is no longer <paramref name="mode"/>.</summary>
    private async Task WatchAsync(string resource, ReplicationMode mode, CancellationTokenSource cts)
    {
        try
        {
            while (!cts.IsCancellationRequested)
            {
                await Task.Delay(ReplicationControl.PollInterval, rt.Time, cts.Token).ConfigureAwait(false);
                if (ReplicationControl.Get(rt.State, resource) != mode) { await cts.CancelAsync().ConfigureAwait(false); return; }
            }
        }
        catch (OperationCanceledException) { }
    }

    private ReplicationMode Enter(string resource)
    {
        var mode = ReplicationControl.Get(rt.State, resource);
        ReplicationControl.Acknowledge(rt.State, resource, mode, NowMs);
        return mode;
    }

    public Task RunBucketAsync(ObjectReplicator first, CancellationToken stop, CancellationToken abort)
    {
        var res = first.Resource;
        ObjectReplicator? fresh = first; // prepared, not run yet
        var inRoutes = first;
        return SuperviseAsync(res.Name, stop, abort, async (mode, token) =>
        {
            if (mode == ReplicationMode.Forward)
            {
                var rep = fresh ?? rt.Replicator(res);
                fresh = null;
                if (!ReferenceEquals(rep, first) || !ReferenceEquals(inRoutes, rep))
                {
                    if (!ReferenceEquals(rep, first)) await rep.PrepareAsync(abort).ConfigureAwait(false);
                    Swap(inRoutes, rep);
                    inRoutes = rep;
                }
                await rep.RunAsync(null, token, abort).ConfigureAwait(false);
                return;
            }
            var rev = rt.Replicator(Reverse(res));
            await rev.PrepareAsync(abort).ConfigureAwait(false);
            await rev.RunAsync(null, token, abort).ConfigureAwait(false);
        });
    }

    public Task RunTableAsync(TableReplicator first, CancellationToken stop, CancellationToken abort)
    {
        var res = first.Resource;
        TableReplicator? fresh = first;
        return SuperviseAsync(res.Name, stop, abort, async (mode, token) =>
        {
            if (mode == ReplicationMode.Forward)
            {
                var rep = fresh ?? rt.TableReplicator(res);
                if (fresh is null) await rep.PrepareAsync(abort).ConfigureAwait(false);
                fresh = null;
                await Task.WhenAll(rep.RunAsync(token, abort, TimeSpan.FromMilliseconds(250)), rep.RunCanaryAsync(token)).ConfigureAwait(false);
                return;
            }
            var rev = rt.TableReplicator(res, reverse: true);
            await rev.PrepareAsync(abort).ConfigureAwait(false);
            await rev.RunAsync(token, abort, TimeSpan.FromMilliseconds(250)).ConfigureAwait(false);
        });
    }

    /// <summary>Runs a resource in the mode the state store names (set by runbooks or failback) until <paramref name="stop"/>:
    /// <paramref name="run"/> is called for forward and reversed and cancelled when the mode changes; paused and stopped wait.</summary>
    private async Task SuperviseAsync(string name, CancellationToken stop, CancellationToken abort, Func<ReplicationMode, CancellationToken, Task> run)
    {
        ReplicationMode? previous = null;
        while (!stop.IsCancellationRequested)
        {
            var mode = Enter(name);
            if (mode != previous && previous is not null) log.LogWarning("{Resource}: replication now {Mode} (set by a runbook or failback)", name, ReplicationControl.Name(mode));
            previous = mode;
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var watch = WatchAsync(name, mode, cts);
            try
            {
                if (mode is ReplicationMode.Forward or ReplicationMode.Reversed) await run(mode, cts.Token).ConfigureAwait(false);
                else await Task.Delay(Timeout.InfiniteTimeSpan, rt.Time, cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested && !abort.IsCancellationRequested) { }
            await cts.CancelAsync().ConfigureAwait(false);
            await watch.ConfigureAwait(false);
        }
    }
}
