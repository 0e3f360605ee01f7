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

    /// <summary>None: an rds resource's history is its RDS snapshots (restored with RDS).</summary>
    public IPointInTime? PointInTime => null;

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

    /// <summary>One snapshot cycle to its end (snapshot, cross-region copy, retention), its outcome on one line.</summary>
    public async Task<bool> RunOnceAsync(OnceOptions options, TextWriter output, CancellationToken stop, CancellationToken abort)
    {
        var runner = _runner ??= rt.RdsRunner(res);
        try
        {
            var last = await runner.RunCycleAsync(abort).ConfigureAwait(false);
            output.WriteLine($"{res.Name}: snapshot {last.SnapshotId} of {res.Instance} copied {res.SourceRegion} -> {res.TargetRegion}" +
                             $" (created in {D(last.CreatedAtMs - last.StartedAtMs)}, copied in {D(last.CopiedAtMs - last.CreatedAtMs)});" +
                             $" expired {last.ExpiredTarget} copies in {res.TargetRegion} and {last.ExpiredSource} snapshots in {res.SourceRegion} (keep {res.Keep})");
            return true;
        }
        catch (Exception e) when (e is RdsCycleFailedException or Providers.Aws.AwsServiceException)
        {
            output.WriteLine($"{res.Name}: FAILED: {e.Message}");
            return false;
        }
    }

    private static string D(long? ms) => ms is { } v ? Durations.Format(TimeSpan.FromMilliseconds(Math.Max(0, v))) : "-";
}
