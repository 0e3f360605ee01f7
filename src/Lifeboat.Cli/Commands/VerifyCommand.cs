using System.Text.Json;
using Lifeboat.Cli.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;

namespace Lifeboat.Cli.Commands;

public static class VerifyCommand
{
    private sealed record Checked(VerifyResult Result, string Type, string Source, string Target);

    /// <summary>Compares every selected resource's source and target; <paramref name="reverse"/> compares table
    /// resources the failback way (the recovery table as the source): "missing" then lists what exists only on the
    /// recovery side, e.g. written there during a failover.</summary>
    public static async Task<int> RunAsync(string file, string? resourceName, bool json, CancellationToken ct, bool reverse = false, bool resetState = false)
    {
        var cfg = ConfigLoader.Load(file);
        using var logs = Cli.Logs(Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        var (buckets, tables) = cfg.SelectAny(resourceName);
        if (reverse && buckets.Count > 0)
            throw new UserErrorException(resourceName is null
                ? $"{file}: --reverse compares table resources the failback way; name a table with --resource"
                : $"--reverse: '{resourceName}' is a bucket resource; --reverse is for table resources");
        var results = new List<Checked>();
        // The state file whole (a replicate run checks only small ones when it opens them; ADR 0009).
        rt.State.CheckWhole();
        foreach (var res in buckets)
        {
            // Checks the target's claim marker: a target another state file protects is refused, nothing is written.
            var rep = rt.Replicator(res, claim: ClaimMode.Check);
            await rep.PrepareAsync(ct).ConfigureAwait(false);
            var r = await new Verifier(res, rt.Store(res.Source.Store), rt.Store(res.Target.Store), rt.State).RunAsync(ct).ConfigureAwait(false);
            results.Add(new Checked(r, "bucket", $"{res.Source.Store}/{res.Source.Bucket}/{res.Source.Prefix}", $"{res.Target.Store}/{res.Target.Bucket}/{res.Target.Prefix}"));
        }
        foreach (var t in tables)
        {
            var res = reverse ? TableReplicator.Reverse(t) : t;
            var r = await new TableVerifier(res, rt.Dynamo(res.Source.Store), rt.Dynamo(res.Target.Store), rt.State, rt.Time).RunAsync(ct).ConfigureAwait(false);
            results.Add(new Checked(r, "table", $"{res.Source.Store}/{res.Source.Table}", $"{res.Target.Store}/{res.Target.Table}"));
        }
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(results.Select(c => new VerifyJson(c.Result.Resource, c.Type, c.Source, c.Target,
                c.Result.Ok, c.Result.Checked, c.Result.Equal,
                c.Result.Differences.Select(d => new DifferenceJson(d.Key, d.Kind.ToString().ToLowerInvariant(), d.Detail)).ToList(),
                c.Result.Held, Skipped(c.Result).Select(s => new SkippedJson(s.Side, s.Entry.Path, s.Entry.What)).ToList(),
                DeepRepair(file, c.Result))).ToList(), CliJson.Default.ListVerifyJson));
        }
        else
        {
            foreach (var c in results)
            {
                var r = c.Result;
                var unit = c.Type == "table" ? "items" : "keys";
                var sides = c.Type == "table" ? $" ({c.Source} -> {c.Target})" : "";
                var skipped = Skipped(r);
                Console.WriteLine($"{r.Resource}{sides}: {(r.Ok ? "OK" : "DIFFERENT")}: {r.Checked} {unit} checked, {r.Equal} equal, {r.Differences.Count} differences, {r.Held.Count} held by the delete policy" +
                                  (skipped.Count > 0 ? $", {skipped.Count} entries skipped (links, FIFOs, sockets, devices: not objects, never followed)" : ""));
                foreach (var d in r.Differences.Take(200)) Console.WriteLine($"  {d.Kind.ToString().ToLowerInvariant(),-9} {d.Key}: {d.Detail}");
                if (r.Differences.Count > 200) Console.WriteLine($"  ... and {r.Differences.Count - 200} more differences (--json lists all)");
                if (DeepRepair(file, r) is { } repair) Console.WriteLine($"  {repair}");
                foreach (var h in r.Held.Take(50)) Console.WriteLine($"  held      {h}: deleted at the source, kept on the target");
                if (r.Held.Count > 50) Console.WriteLine($"  ... and {r.Held.Count - 50} more held");
                foreach (var (side, e) in skipped.Take(50)) Console.WriteLine($"  skipped   {e.Path}: a {e.What} at the {side}");
                if (skipped.Count > 50) Console.WriteLine($"  ... and {skipped.Count - 50} more skipped (--json lists all)");
            }
        }
        return results.All(c => c.Result.Ok) ? Cli.Ok : Cli.Failed;
    }

    /// <summary>Metadata or tags that differ while the content is equal: a pass compares listings (sizes and checksums),
    /// which such a change leaves alone, so only a deep pass repairs it. Names the command, or null.</summary>
    private static string? DeepRepair(string file, VerifyResult r)
    {
        var n = r.Differences.Count(d => d.Kind == DifferenceKind.Metadata);
        if (n == 0) return null;
        var config = file.Any(char.IsWhiteSpace) ? $"'{file}'" : file;
        return $"metadata/tags differ on {n} {(n == 1 ? "key" : "keys")} with equal content (a pass without --deep compares sizes and checksums only): " +
               $"`lifeboat replicate -c {config} --resource {r.Resource} --once --deep` repairs {(n == 1 ? "it" : "them")}";
    }

    private static List<(string Side, Lifeboat.Core.Abstractions.SkippedEntry Entry)> Skipped(VerifyResult r) =>
        (r.SkippedAtSource ?? []).Select(e => ("source", e)).Concat((r.SkippedAtTarget ?? []).Select(e => ("target", e))).ToList();
}
