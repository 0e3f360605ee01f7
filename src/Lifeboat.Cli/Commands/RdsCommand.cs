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
        var cfg = Configs.Load(file);
        var res = cfg.RdsResource(resourceName);
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        rt.LockResource(res.Name);
        return await new Hosting.Kinds.RdsProtection(rt, res).RunOnceAsync(new(), Console.Out, ct, ct).ConfigureAwait(false) ? Cli.Ok : Cli.Failed;
    }

}
