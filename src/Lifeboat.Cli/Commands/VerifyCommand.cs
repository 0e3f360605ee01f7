using Lifeboat.Providers.Postgres;
using System.Text.Json;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Rds;
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
        var cfg = Configs.Load(file);
        using var logs = Cli.Logs(Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        // Every kind (ADR 0010): the named resource of any kind, or all of them.
        var selected = resourceName is null ? cfg.All : [cfg.Find(resourceName)];
        var buckets = selected.OfType<BucketResource>().ToList();
        var tables = selected.OfType<TableResource>().ToList();
        var pgs = reverse ? [] : selected.OfType<PostgresResource>().ToList();
        var rds = reverse ? [] : selected.OfType<RdsResource>().ToList();
        if (reverse && resourceName is not null && tables.Count == 0 && buckets.Count == 0)
            throw new UserErrorException($"--reverse: '{resourceName}' is a {selected[0].Type} resource; --reverse is for table resources");
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
        var pgReports = new List<(PostgresResource Res, Providers.Postgres.VerifyReport Report)>();
        foreach (var p in pgs)
        {
            var archive = PgCommand.ArchiveOf(cfg, p, out var store);
            await using var _ = store;
            pgReports.Add((p, await Providers.Postgres.PgVerifier.RunAsync(archive, ct).ConfigureAwait(false)));
        }
        var rdsReports = new List<RdsVerifyResult>();
        foreach (var r in rds)
        {
            try { rdsReports.Add(await rt.RdsRunner(r).VerifyAsync(ct).ConfigureAwait(false)); }
            catch (AwsServiceException e) { rdsReports.Add(new RdsVerifyResult(r.Name, false, null, [], [$"{r.TargetRegion}: {e.Message}"])); }
        }
        var ok = results.All(c => c.Result.Ok) && pgReports.All(p => p.Report.Ok) && rdsReports.All(r => r.Ok);
        if (json && pgReports.Count + rdsReports.Count > 0)
        {
            // Mixed kinds: each row in its kind's shape, in the config's order.
            var rows = new List<object>();
            foreach (var r in selected)
            {
                if (results.FirstOrDefault(c => c.Result.Resource == r.Name || c.Result.Resource == r.Name + TableReplicator.ReverseSuffix) is { } c) rows.Add(Json(file, c));
                else if (pgReports.FirstOrDefault(p => p.Res.Name == r.Name) is { Res: not null } p) rows.Add(PgCommand.VerifyJson(p.Res, p.Report));
                else if (rdsReports.FirstOrDefault(x => x.Resource == r.Name) is { } x)
                    rows.Add(new RdsVerifyJson(x.Resource, "rds", x.Ok, x.LastSnapshot, x.Copies.Select(y => new RdsCopyJson(y.Id, y.Status)).ToList(), x.Problems));
            }
            Console.WriteLine(JsonSerializer.Serialize(rows, CliJson.Default.ListObject));
            return ok ? Cli.Ok : Cli.Failed;
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
        foreach (var (res, rep) in pgReports) PgCommand.PrintVerify(res, rep);
        foreach (var r in rdsReports)
        {
            Console.WriteLine($"{r.Resource} (rds): {(r.Ok ? "OK" : "PROBLEMS")}: last copy {r.LastSnapshot ?? "none"}; {r.Copies.Count} copies in the target region");
            foreach (var (id, status) in r.Copies) Console.WriteLine($"  copy {id}: {status}");
            foreach (var p in r.Problems) Console.WriteLine($"  PROBLEM: {p}");
        }
        return ok ? Cli.Ok : Cli.Failed;
    }

    private static VerifyJson Json(string file, Checked c) => new(c.Result.Resource, c.Type, c.Source, c.Target,
        c.Result.Ok, c.Result.Checked, c.Result.Equal,
        c.Result.Differences.Select(d => new DifferenceJson(d.Key, d.Kind.ToString().ToLowerInvariant(), d.Detail)).ToList(),
        c.Result.Held, Skipped(c.Result).Select(s => new SkippedJson(s.Side, s.Entry.Path, s.Entry.What)).ToList(),
        DeepRepair(file, c.Result));

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

    private static List<(string Side, Lifeboat.Abstractions.SkippedEntry Entry)> Skipped(VerifyResult r) =>
        (r.SkippedAtSource ?? []).Select(e => ("source", e)).Concat((r.SkippedAtTarget ?? []).Select(e => ("target", e))).ToList();
}
