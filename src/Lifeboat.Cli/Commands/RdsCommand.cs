using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Rds;

namespace Lifeboat.Cli.Commands;

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
}
