using System.Globalization;
using System.Text.Json;
using Lifeboat.Hosting;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Providers.Postgres;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Commands;

/// <summary><c>lifeboat pg backup|restore|verify</c>, <c>wal-push</c>, <c>wal-fetch</c>, and the postgres parts of
/// replicate and status.</summary>
public static class PgCommand
{
    /// <summary>The postgres resources a --resource selects (all when null; none when it names another kind).</summary>
    public static IReadOnlyList<PostgresResource> Select(LifeboatConfig cfg, string? name) =>
        name is null ? cfg.Postgres : cfg.Postgres.Where(p => p.Name == name).ToList();

    internal static PgArchive ArchiveOf(LifeboatConfig cfg, PostgresResource res, out IObjectStore store) => Runtime.PgArchiveOf(cfg, res, out store);

    public static async Task<int> BackupAsync(string file, string resource, CancellationToken ct)
    {
        var cfg = Configs.Load(file);
        var res = cfg.PostgresResource(resource);
        using var logs = Cli.Logs();
        ArchiveOf(cfg, res, out var store);
        await using var _ = store;
        var m = await Guard(res, () => new PgProtector(res, store, TimeProvider.System, logs.CreateLogger("lifeboat." + res.Name)).BackupAsync(ct)).ConfigureAwait(false);
        Console.WriteLine($"{res.Name}: base backup {m.Id}: {m.Files.Count} files, {Sizes.Format(m.TarBytes)} ({Sizes.Format(m.StoredBytes)} stored) in {m.Seconds:0.0} s; " +
                          $"WAL {m.StartLsn} to {m.StopLsn}; restorable from {PgRestore.Iso(m.ConsistentAt)}");
        return Cli.Ok;
    }

    private static async Task<T> Guard<T>(PostgresResource res, Func<Task<T>> body)
    {
        try { return await body().ConfigureAwait(false); }
        catch (PgUnreachableException e) { throw new UserErrorException(e.Message, e); }
        catch (WalConflictException e) { throw new UserErrorException($"{res.Name}: {e.Message}", e); }
        catch (InvalidDataException e) { throw new UserErrorException($"{res.Name}: {e.Message}", e); }
    }

    public static async Task<int> RestoreAsync(string file, string resource, string targetDir, string? timeText, bool latest, bool start, int? port, CancellationToken ct)
    {
        var cfg = Configs.Load(file);
        var res = cfg.PostgresResource(resource);
        if (timeText is not null && latest) throw new UserErrorException("give --time or --latest, not both");
        if (timeText is null && !latest) throw new UserErrorException("give --time T (e.g. '2026-11-22 03:00:00+00') or --latest");
        DateTimeOffset? t = null;
        if (timeText is not null)
        {
            if (!DateTimeOffset.TryParse(timeText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
                throw new UserErrorException($"--time: '{timeText}' is not a time (use ISO 8601, e.g. 2026-11-22T03:00:00Z)");
            t = parsed;
        }
        using var logs = Cli.Logs();
        var archive = ArchiveOf(cfg, res, out var store);
        await using var _ = store;
        var r = await Guard(res, () => new PgRestore(res, archive, logs.CreateLogger("lifeboat." + res.Name))
            .RunAsync(new RestoreOptions(targetDir, t, start, port), ct)).ConfigureAwait(false);
        Console.WriteLine($"{res.Name}: restored base backup {r.BackupId} and {r.WalSegments} WAL segments into {r.DataDir} in {r.PrepareSeconds:0.0} s" +
                          (r.Started ? $"; recovered and promoted in {r.RecoverySeconds:0.0} s, replayed to {r.ReplayLsn}{(r.StopMessage is null ? " (end of the archive)" : $": {r.StopMessage}")}"
                                     : $"; start it with: pg_ctl -D {r.DataDir} start (as the postgres user)"));
        return Cli.Ok;
    }

    public static async Task<int> VerifyAsync(string file, string? resource, bool json, CancellationToken ct)
    {
        var cfg = Configs.Load(file);
        var list = resource is null ? cfg.Postgres : [cfg.PostgresResource(resource)];
        if (list.Count == 0) throw new UserErrorException($"{file}: no postgres resources");
        var ok = true;
        foreach (var res in list)
        {
            var archive = ArchiveOf(cfg, res, out var store);
            await using var _ = store;
            var rep = await PgVerifier.RunAsync(archive, ct).ConfigureAwait(false);
            ok &= rep.Ok;
            if (json) Console.WriteLine(JsonSerializer.Serialize(VerifyJson(res, rep), PgJson.Default.PgVerifyJson));
            else PrintVerify(res, rep);
        }
        return ok ? Cli.Ok : Cli.Failed;
    }

    public static PgVerifyJson VerifyJson(PostgresResource res, Providers.Postgres.VerifyReport rep) =>
        new(res.Name, rep.Ok, rep.Backups, rep.WalChecked, rep.WalErrors, rep.Gaps,
            rep.Windows.Where(w => w.Usable).Select(w => new PgRecoverableJson(w.Backup.Id, w.From, w.To, w.Problem)).ToList(), rep.Incomplete);

    public static void PrintVerify(PostgresResource res, Providers.Postgres.VerifyReport rep)
    {
        Console.WriteLine($"{res.Name} (postgres): {(rep.Ok ? "OK" : "PROBLEMS")}: {rep.Backups.Count} backups, {rep.WalChecked} WAL objects checked");
        foreach (var b in rep.Backups)
            Console.WriteLine($"  backup {b.Id}: {(b.Error is null ? $"ok ({b.Files} files, {Sizes.Format(b.Bytes)})" : "CORRUPTED: " + b.Error)}");
        foreach (var e in rep.WalErrors) Console.WriteLine($"  CORRUPTED {e}");
        foreach (var g in rep.Gaps) Console.WriteLine($"  GAP: {g}");
        foreach (var i in rep.Incomplete) Console.WriteLine($"  incomplete backup {i} (no manifest; never used)");
        foreach (var w in rep.Windows)
            Console.WriteLine(w.Usable
                ? $"  recoverable from {PgRestore.Iso(w.From)} to {PgRestore.Iso(w.To)} (backup {w.Backup.Id}{(w.Problem is null ? "" : "; ends early: " + w.Problem)})"
                : $"  backup {w.Backup.Id} NOT restorable: {w.Problem}");
        if (!rep.Windows.Any(w => w.Usable)) Console.WriteLine("  no recoverable time range");
    }

    public static async Task<int> WalPushAsync(string file, string resource, string path, CancellationToken ct)
    {
        var cfg = Configs.Load(file);
        var res = cfg.PostgresResource(resource);
        var archive = ArchiveOf(cfg, res, out var store);
        await using var _ = store;
        try
        {
            var outcome = await WalArchiveCommands.PushAsync(archive, path, ct).ConfigureAwait(false);
            if (outcome == PgArchive.PushOutcome.AlreadyStored)
                Console.Error.WriteLine($"lifeboat: wal-push: {Path.GetFileName(path)} is already archived with the same content");
            return Cli.Ok;
        }
        catch (WalConflictException e) { throw new UserErrorException($"wal-push: {e.Message}", e); }
    }

    public static async Task<int> WalFetchAsync(string file, string resource, string name, string dest, CancellationToken ct)
    {
        var cfg = Configs.Load(file);
        var res = cfg.PostgresResource(resource);
        var archive = ArchiveOf(cfg, res, out var store);
        await using var _ = store;
        try
        {
            if (await WalArchiveCommands.FetchAsync(archive, name, dest, ct).ConfigureAwait(false)) return Cli.Ok;
            return Cli.Failed; // not archived: PostgreSQL reads exit 1 as the end of the archive
        }
        catch (InvalidDataException e) { throw new UserErrorException($"wal-fetch: {e.Message}", e); }
    }

    /// <summary>replicate: checks each server and creates the target bucket; configuration errors stop replicate.</summary>
    public static async Task<List<PgProtector>> PrepareAsync(Runtime rt, IReadOnlyList<PostgresResource> pgs, CancellationToken ct)
    {
        var list = new List<PgProtector>();
        foreach (var res in pgs)
        {
            var p = new PgProtector(res, rt.Store(res.Target.Store), rt.Time, rt.Logs.CreateLogger("lifeboat." + res.Name));
            try { await p.PrepareAsync(ct).ConfigureAwait(false); }
            catch (PgUnreachableException e) { throw new UserErrorException(e.Message, e); }
            list.Add(p);
        }
        return list;
    }

    /// <summary>Each postgres resource's status; an archive not created yet, or not readable, is that row's state
    /// (<see cref="PgStatus.Archive"/>), never an error for the others.</summary>
    public static async Task<List<PgStatus>> StatusAsync(LifeboatConfig cfg, DateTimeOffset now, CancellationToken ct)
    {
        var rows = new List<PgStatus>();
        foreach (var res in cfg.Postgres)
        {
            var archive = ArchiveOf(cfg, res, out var store);
            await using var _ = store;
            rows.Add(await PgStatusReader.ReadAsync(res, archive, now, ct).ConfigureAwait(false));
        }
        return rows;
    }

    public static void PrintStatus(IEnumerable<PgStatus> rows, DateTimeOffset now)
    {
        foreach (var r in rows)
        {
            string F(double? s) => s is null ? "-" : Durations.Format(TimeSpan.FromSeconds(Math.Round(s.Value, 1)));
            Console.WriteLine($"{r.Resource} (postgres, wal: {r.Mode}):");
            if (r.Archive == PgStatus.ArchiveNone)
                Console.WriteLine("  archive           none yet (replicate, pg backup or wal-push creates it)");
            Console.WriteLine($"  WAL lag           {(r.LagBytes is { } b ? $"{Sizes.Format(b)}, {F(r.LagSeconds)} behind the server ({r.ServerLsn}; archived to {r.ArchivedLsn})" : $"unknown (server {r.ServerLsn ?? "unreachable"}, archived to {r.ArchivedLsn ?? "nothing"})")}");
            Console.WriteLine($"  last base backup  {(r.LastBackupAt is { } t ? $"{r.LastBackupId} ({Durations.Format(now - t)} ago); {r.Backups} kept" : "none")}");
            Console.WriteLine($"  recoverable       {(r.WindowFrom is { } f && r.WindowTo is { } to ? $"{PgRestore.Iso(f)} to {PgRestore.Iso(to)}" : "nothing yet")}");
            Console.WriteLine($"  RPO (measured)    {F(r.RpoSeconds)} against a target of {F(r.RpoTargetSeconds)}: {(r.RpoMet ? "met" : "MISSED")}");
            if (r.Problem is not null) Console.WriteLine($"  problem           {r.Problem}");
        }
    }
}
