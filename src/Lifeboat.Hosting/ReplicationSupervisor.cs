using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Hosting;

/// <summary>
/// Runs each resource's continuous replication in the mode a runbook asked for (<see cref="ReplicationControl"/>):
/// forward, paused/stopped (idle; copies in flight finish first), or reversed (target -> source, journal NAME.reverse;
/// tables as <c>replicate --reverse</c> does, buckets with source and target swapped, deletes retained). The mode is
/// read every <see cref="ReplicationControl.PollInterval"/>; a change stops the running loop gracefully and starts the
/// new one, then confirms the mode (<see cref="ReplicationControl.Acknowledge"/>) so the runbook step can go on.
/// Every kind runs through it (ADR 0010: <see cref="Kinds.IProtectedResource"/>). Used by <c>lifeboat replicate</c>
/// (continuous) and <c>lifeboat serve</c>.
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

    /// <summary>Points the event routes at <paramref name="now"/> where they held <paramref name="old"/>.</summary>
    public void Swap(ObjectReplicator old, ObjectReplicator now)
    {
        lock (_gate)
            foreach (var r in _routes)
                for (var i = 0; i < r.Length; i++)
                    if (ReferenceEquals(r[i], old)) r[i] = now;
    }

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

    /// <summary>Protects <paramref name="resource"/> (any kind) in the mode the state store names until
    /// <paramref name="stop"/>. A mode the kind cannot run (reversed, for a kind that does not declare it: only an old
    /// state file or a hand edit can ask for it, validate refuses such runbooks) is logged as an error and held like
    /// paused, never a crash of the other resources.</summary>
    public Task RunAsync(Kinds.IProtectedResource resource, CancellationToken stop, CancellationToken abort)
    {
        var caps = resource.Config.Capabilities;
        return SuperviseAsync(resource.Config.Name, stop, abort, async (mode, token) =>
        {
            if (mode == ReplicationMode.Reversed && !caps.Actions.Contains(ReplicationAction.Reverse))
            {
                log.ReverseNotSupported(resource.Config.Name, resource.Config.Type);
                await Task.Delay(Timeout.InfiniteTimeSpan, rt.Time, token).ConfigureAwait(false);
                return;
            }
            await resource.RunAsync(mode, token, abort).ConfigureAwait(false);
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
            if (mode != previous && previous is not null) log.ModeChanged(name, ReplicationControl.Name(mode));
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
