using System.Text.Json;
using Lifeboat.Cli.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;

namespace Lifeboat.Cli.Commands;

public static class VerifyCommand
{
    public static async Task<int> RunAsync(string file, string? resourceName, bool json, CancellationToken ct)
    {
        var cfg = ConfigLoader.Load(file);
        using var logs = Cli.Logs(Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var rt = new Runtime(cfg, TimeProvider.System, logs);
        var results = new List<VerifyResult>();
        foreach (var res in cfg.Select(resourceName))
        {
            var rep = rt.Replicator(res);
            await rep.PrepareAsync(ct).ConfigureAwait(false);
            results.Add(await new Verifier(res, rt.Store(res.Source.Store), rt.Store(res.Target.Store), rt.State).RunAsync(ct).ConfigureAwait(false));
        }
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(results.Select(r => new
            {
                resource = r.Resource, ok = r.Ok, @checked = r.Checked, equal = r.Equal,
                differences = r.Differences.Select(d => new { key = d.Key, kind = d.Kind.ToString().ToLowerInvariant(), detail = d.Detail }),
                held_by_delete_policy = r.Held,
            }), new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var r in results)
            {
                Console.WriteLine($"{r.Resource}: {(r.Ok ? "OK" : "DIFFERENT")}: {r.Checked} keys checked, {r.Equal} equal, {r.Differences.Count} differences, {r.Held.Count} held by the delete policy");
                foreach (var d in r.Differences) Console.WriteLine($"  {d.Kind.ToString().ToLowerInvariant(),-9} {d.Key}: {d.Detail}");
                foreach (var h in r.Held.Take(50)) Console.WriteLine($"  held      {h}: deleted at the source, kept on the target");
                if (r.Held.Count > 50) Console.WriteLine($"  ... and {r.Held.Count - 50} more held");
            }
        }
        return results.All(r => r.Ok) ? Cli.Ok : Cli.Failed;
    }
}
