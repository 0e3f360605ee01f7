using Lifeboat.Cli.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Rds;

namespace Lifeboat.Cli.Commands;

/// <summary>What status shows of an rds resource.</summary>
public sealed record RdsStatus(
    string Instance, string SourceRegion, string TargetRegion, string Schedule, int Keep,
    string? InFlight, string? InFlightPhase, string? Waiting,
    string? LastSnapshot, DateTimeOffset? LastCreatedAt, DateTimeOffset? LastCopiedAt, DateTimeOffset? LastFinishedAt,
    DateTimeOffset? NextRun, string? LastError, DateTimeOffset? LastErrorAt);

/// <summary><c>lifeboat rds snapshot -c FILE --resource NAME</c>: one snapshot now, created, copied, tagged, and
/// retention applied (or the cycle in flight finished).</summary>
public static class RdsCommand
{
    public static async Task<int> SnapshotAsync(string file, string resourceName, CancellationToken ct, bool resetState = false)
    {
        var cfg = ConfigLoader.Load(file);
        var res = cfg.RdsResource(resourceName);
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        rt.LockResource(res.Name);
        return await RunCycleAsync(rt.RdsRunner(res), ct).ConfigureAwait(false) ? Cli.Ok : Cli.Failed;
    }

    /// <summary>Runs one cycle to its end and prints the outcome; false when it failed (the reason is printed).</summary>
    public static async Task<bool> RunCycleAsync(RdsSnapshotRunner runner, CancellationToken ct)
    {
        var r = runner.Resource;
        try
        {
            var last = await runner.RunCycleAsync(ct).ConfigureAwait(false);
            Console.WriteLine($"{r.Name}: snapshot {last.SnapshotId} of {r.Instance} copied {r.SourceRegion} -> {r.TargetRegion}" +
                              $" (created in {D(last.CreatedAtMs - last.StartedAtMs)}, copied in {D(last.CopiedAtMs - last.CreatedAtMs)});" +
                              $" expired {last.ExpiredTarget} copies in {r.TargetRegion} and {last.ExpiredSource} snapshots in {r.SourceRegion} (keep {r.Keep})");
            return true;
        }
        catch (RdsCycleFailedException e)
        {
            Console.WriteLine($"{r.Name}: FAILED: {e.Message}");
            return false;
        }
        catch (AwsServiceException e)
        {
            Console.WriteLine($"{r.Name}: FAILED: {e.Message}");
            return false;
        }
    }

    private static string D(long? ms) => ms is { } v ? Durations.Format(TimeSpan.FromMilliseconds(Math.Max(0, v))) : "-";

    public static RdsStatus Status(StateStore state, RdsResource r, DateTimeOffset now)
    {
        var cycle = RdsSnapshotRunner.LoadCycle(state, r.Name);
        var last = RdsSnapshotRunner.LoadLast(state, r.Name);
        var err = RdsSnapshotRunner.LoadError(state, r.Name);
        static DateTimeOffset? T(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;
        return new RdsStatus(r.Instance, r.SourceRegion, r.TargetRegion, r.Schedule.Expression, r.Keep,
            cycle?.SnapshotId, cycle?.Phase, cycle?.Waiting,
            last?.SnapshotId, T(last?.CreatedAtMs), T(last?.CopiedAtMs), T(last?.FinishedAtMs),
            r.Schedule.Next(RdsSnapshotRunner.LoadLastTick(state, r.Name) ?? now), err?.Message, T(err?.AtMs));
    }
}
