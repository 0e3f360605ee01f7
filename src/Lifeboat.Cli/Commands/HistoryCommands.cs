using System.Text.Json;
using Lifeboat.Core.Config;
using Lifeboat.Hosting;
using Lifeboat.Hosting.Kinds;

namespace Lifeboat.Cli.Commands;

/// <summary>`windows --json`: one entry per resource; null times when it keeps no point-in-time history.</summary>
public sealed record WindowJson(string Resource, string Type, bool History, DateTimeOffset? Earliest, DateTimeOffset? Latest, string? Precision,
    long Bytes, long Objects, string? Problem);

/// <summary>
/// The commands that read every resource's point-in-time history through the kinds' contract (issue 16):
/// <c>windows</c> (what each resource can be rewound to) and <c>restore --all --time T --suffix S</c> (the whole
/// application at one instant). Both iterate <see cref="LifeboatConfig.All"/> and ask each resource's
/// <see cref="IProtectedResource.PointInTime"/>; no branch on kinds.
/// </summary>
public static class HistoryCommands
{
    public static async Task<int> WindowsAsync(string file, bool json, CancellationToken ct)
    {
        var cfg = Configs.Load(file);
        using var logs = Cli.Logs(Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var rt = new Runtime(cfg, TimeProvider.System, logs);
        var rows = new List<WindowJson>();
        foreach (var r in cfg.All)
        {
            var pit = ResourceKinds.Create(rt, r, claim: Core.Replication.ClaimMode.None).PointInTime;
            if (pit is null) { rows.Add(new WindowJson(r.Name, r.Type, false, null, null, null, 0, 0, NoHistory(r))); continue; }
            var w = await pit.WindowAsync(ct).ConfigureAwait(false);
            rows.Add(new WindowJson(r.Name, r.Type, true, w.Earliest, w.Latest, w.Precision, w.Bytes, w.Objects, w.Problem));
        }
        if (json) Console.WriteLine(JsonSerializer.Serialize(rows, CliJson.Default.ListWindowJson));
        else
            foreach (var w in rows)
                Console.WriteLine(!w.History
                    ? $"{w.Resource} ({w.Type}): no point-in-time history: {w.Problem}"
                    : $"{w.Resource} ({w.Type}): {new RecoverableWindow(w.Earliest, w.Latest, w.Precision!, w.Bytes, w.Objects, w.Problem).Describe()}, " +
                      $"precision {w.Precision}, {Sizes.Format(w.Bytes)} in {w.Objects} objects{(w.Problem is null || w.Earliest is null ? "" : $" ({w.Problem})")}");
        // 1 when a resource with history has nothing restorable: the history exists on paper only.
        return rows.Any(w => w.History && w.Earliest is null) ? Cli.Failed : Cli.Ok;
    }

    private static string NoHistory(ResourceConfig r) => r.Type is "bucket" or "table"
        ? "a mirror only: add history: { keep: 30d } to the resource to keep replaced and deleted versions"
        : $"its history is kept by the provider ({r.Type} snapshots, restored with the provider's own tools)";

    /// <summary><c>restore --all --time T --suffix S [--pg-root DIR]</c>: every resource with history, as it was at T.
    /// Every window and every place is checked first: when T is outside any resource's window, or a place exists
    /// already, nothing is restored and the error names each such resource.</summary>
    public static async Task<int> RestoreAllAsync(string file, string? timeText, string? suffix, string? pgRoot, CancellationToken ct)
    {
        if (timeText is null) throw new UserErrorException("restore --all needs --time T (RFC 3339, e.g. 2026-12-03T07:03:17Z): the instant to bring every resource back to");
        if (string.IsNullOrEmpty(suffix))
            throw new UserErrorException("restore --all needs --suffix S: each bucket and table is restored into a new one named after its source plus S (e.g. --suffix -restored)");
        if (suffix.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.')))
            throw new UserErrorException($"--suffix: '{suffix}' may only contain lower-case letters, digits, '-' and '.' (it becomes part of bucket and table names)");
        var t = PointInTime.Parse(timeText, TimeProvider.System.GetUtcNow());
        var cfg = Configs.Load(file);
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs();
        await using var rt = new Runtime(cfg, TimeProvider.System, logs);
        var place = new AllRestorePlace(suffix, pgRoot);
        var plan = new List<(ResourceConfig Config, IPointInTime History, string Where)>();
        var problems = new List<string>();
        foreach (var r in cfg.All)
        {
            var pit = ResourceKinds.Create(rt, r, claim: Core.Replication.ClaimMode.None).PointInTime;
            if (pit is null)
            {
                Console.WriteLine($"{r.Name} ({r.Type}): not restored: {NoHistory(r)}");
                continue;
            }
            var w = await pit.WindowAsync(ct).ConfigureAwait(false);
            if (!w.Contains(t)) { problems.Add($"{r.Name} ({r.Type}): {PointInTime.Format(t)} is outside its window ({w.Describe()})"); continue; }
            try { plan.Add((r, pit, await pit.PlaceAsync(place, ct).ConfigureAwait(false))); }
            catch (UserErrorException e) { problems.Add(e.Message); }
        }
        if (problems.Count > 0)
            throw new UserErrorException($"nothing restored: {string.Join("; ", problems)}");
        if (plan.Count == 0) throw new UserErrorException($"{file}: no resource keeps point-in-time history: nothing to restore");
        foreach (var p in plan) Console.WriteLine($"{p.Config.Name} ({p.Config.Type}): restoring to {PointInTime.Format(t)} into {p.Where}");
        var ok = true;
        foreach (var p in plan) ok &= await p.History.RestoreAsync(t, place, Console.Out, shutdown.Abort).ConfigureAwait(false);
        return ok ? Cli.Ok : Cli.Failed;
    }
}
