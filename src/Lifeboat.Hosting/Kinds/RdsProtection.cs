using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.Aws.Rds;

namespace Lifeboat.Hosting.Kinds;

/// <summary>An rds resource: the snapshot schedule (create, copy cross-region, tag, retention). Paused or stopped by
/// a runbook, no new cycle starts; a cycle in flight resumes from the state store when protection resumes.</summary>
public sealed class RdsProtection(Runtime rt, RdsResource res) : IProtectedResource
{
    private RdsSnapshotRunner? _runner;

    /// <summary>Around a runner already created (by replicate).</summary>
    public RdsProtection(Runtime rt, RdsSnapshotRunner runner) : this(rt, runner.Resource) => _runner = runner;

    public ResourceConfig Config => res;

    public Task PrepareAsync(CancellationToken abort)
    {
        _runner = rt.RdsRunner(res);
        return Task.CompletedTask;
    }

    public Task RunAsync(ReplicationMode mode, CancellationToken stop, CancellationToken abort)
    {
        if (mode != ReplicationMode.Forward)
            throw new UserErrorException($"{res.Where}: an rds resource cannot be replicated {ReplicationControl.Name(mode)} (set by a runbook or failback)");
        return (_runner ??= rt.RdsRunner(res)).RunAsync(stop);
    }
}
