using Lifeboat.Cli.Hosting;
using Lifeboat.Core.Config;

namespace Lifeboat.Cli.Commands;

public static class RestoreCommand
{
    /// <summary>Copies objects from the resource's replica back to its source (or elsewhere), through the same
    /// verified copier. Never deletes; by default restores only objects missing at the destination, so a newer
    /// version written after the incident is never replaced by an older replica (use --overwrite for that).</summary>
    public static async Task<int> RunAsync(string file, string resourceName, string? prefix, string? toStore, string? toBucket, bool overwrite, CancellationToken ct)
    {
        var cfg = ConfigLoader.Load(file);
        var res = cfg.Resource(resourceName);
        if (toStore is not null) toBucket ??= res.Source.Bucket;
        if (toStore is not null && !cfg.Stores.ContainsKey(toStore))
            throw new UserErrorException($"--to-store: no store named '{toStore}' in {file} (stores: {string.Join(", ", cfg.Stores.Keys)})");
        var rel = prefix ?? "";
        var dest = new Location(toStore ?? res.Source.Store, toBucket ?? res.Source.Bucket, res.Source.Prefix + rel, res.Source.Where);
        var restore = res with
        {
            Name = res.Name + ".restore",
            Source = res.Target with { Prefix = res.Target.Prefix + rel },
            Target = dest,
            Deletes = DeletePolicy.Retain,
        };
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs);
        var rep = rt.Replicator(restore, onlyMissing: !overwrite);
        await rep.PrepareAsync(shutdown.Abort).ConfigureAwait(false);
        await rep.RetryOpenChangesAsync(shutdown.Abort).ConfigureAwait(false);
        var r = await rep.ReconcileAsync(null, shutdown.Stop, shutdown.Abort).ConfigureAwait(false);
        var failed = rt.State.Failed(restore.Name);
        Console.WriteLine($"restore {res.Name}: {r.Copied} objects restored ({Sizes.Format(r.Bytes)}) to {dest.Store}/{dest.Bucket}/{dest.Prefix}, " +
                          $"{r.InSync} already present{(overwrite ? " and equal" : " (kept as they are)")}, {failed.Count} failed");
        foreach (var f in failed) Console.WriteLine($"  FAILED {f.Key}: {f.Error}");
        return failed.Count == 0 && r.Completed ? Cli.Ok : Cli.Failed;
    }
}
