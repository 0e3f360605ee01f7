using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.Postgres;

public sealed record RestoreOptions(string TargetDir, DateTimeOffset? Time, bool Start, int? Port);

public sealed record RestoreResult(string BackupId, int WalSegments, long Bytes, double PrepareSeconds, double? RecoverySeconds,
    string? ReplayLsn, string? StopMessage, bool Started, string DataDir);

/// <summary>
/// Point-in-time restore: picks the newest backup consistent before the requested time whose WAL reaches it, unpacks
/// it (chunks downloaded and decompressed in parallel, every file's SHA-256 checked against the manifest), puts the
/// archived WAL from the backup's start to the end of the archive into DIR/lifeboat_wal (checked too; a partial tip
/// segment padded to 16 MiB), and writes the recovery settings: restore_command copying from that folder,
/// recovery_target_time (or none for --latest), recovery_target_action = promote, recovery.signal, archive_mode = off
/// (the copy must never archive into the production archive). With Start, runs it (as the postgres user when root),
/// waits until it is promoted and checks the replay reached the target: a restore never stops short silently.
/// </summary>
public sealed class PgRestore(PostgresResource res, PgArchive archive, ILogger log)
{
    public async Task<RestoreResult> RunAsync(RestoreOptions o, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var index = await ArchiveIndex.LoadAsync(archive, ct).ConfigureAwait(false);
        if (index.Backups.Count == 0) throw new UserErrorException($"{res.Name}: no base backup in {archive.Describe}: take one with lifeboat pg backup");
        var windows = new List<RecoveryWindow>();
        foreach (var b in index.Backups) windows.Add(await index.WindowAsync(b, ct).ConfigureAwait(false));
        var usable = windows.Where(w => w.Usable).ToList();
        string Ranges() => usable.Count == 0 ? "none" : string.Join(", ", usable.Select(w => $"{Iso(w.From)} to {Iso(w.To)}"));
        RecoveryWindow chosen;
        if (o.Time is { } t)
        {
            chosen = usable.Where(w => w.From <= t && t <= w.To).OrderByDescending(w => w.From).FirstOrDefault()
                ?? throw new UserErrorException($"{res.Name}: {Iso(t)} is outside the recoverable window (recoverable: {Ranges()})" +
                                                (windows.FirstOrDefault(w => w.Problem is not null)?.Problem is { } p ? $"; {p}" : ""));
        }
        else
        {
            chosen = usable.OrderByDescending(w => w.To).ThenByDescending(w => w.From).FirstOrDefault()
                ?? throw new UserErrorException($"{res.Name}: no backup can be restored: {string.Join("; ", windows.Select(w => $"{w.Backup.Id}: {w.Problem}"))}");
            if (chosen.Problem is not null)
                throw new UserErrorException($"{res.Name}: the end of the archive cannot be reached: {chosen.Problem}; the latest reachable time is {Iso(chosen.To)} " +
                                             $"(restore with --time '{Iso(chosen.To)}' to accept that)");
        }
        if (chosen.Problem is not null) log.RestoreLimited(res.Name, chosen.Problem, Iso(chosen.To));

        var dir = Path.GetFullPath(o.TargetDir);
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new UserErrorException($"--target-dir {dir} is not empty: restore into a new or empty folder");
        Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        log.Restoring(res.Name, chosen.Backup.Id, Iso(chosen.From), dir);
        var walDir = Path.Combine(dir, "lifeboat_wal");
        // With --start, the WAL is fetched while the backup is unpacked and while the server replays (WalSpool); without
        // it, the folder must be complete on its own: every segment is fetched before the restore returns.
        var flock = o.Start ? WalSpool.FlockTool() : null;
        if (o.Start && flock is null)
            log.NoFlock(res.Name);
        await using var spool = flock is null ? null
            : WalSpool.Start(archive, chosen.Segments, walDir, flock, IsRoot ? await WalSpool.UserIdsAsync("postgres", ct).ConfigureAwait(false) : null, log);
        var bytes = await UnpackAsync(chosen.Backup, dir, ct).ConfigureAwait(false);
        var unpacked = sw.Elapsed.TotalSeconds;
        if (spool is null)
        {
            Directory.CreateDirectory(walDir);
            await FetchWalAsync(chosen.Segments, walDir, ct).ConfigureAwait(false);
        }
        else await spool.Ready.ConfigureAwait(false); // the first segments; the spool is idle until the server asks for them
        WriteRecoverySettings(dir, o.Time, o.Port, spool is not null);
        await ChownAsync(dir, ct).ConfigureAwait(false);
        var prepare = sw.Elapsed.TotalSeconds;
        log.DataDirectoryReady(res.Name, prepare, unpacked, chosen.Segments.Count, spool is null ? "all fetched" : "fetched while the server replays");
        if (!o.Start)
            return new RestoreResult(chosen.Backup.Id, chosen.Segments.Count, bytes, prepare, null, null, null, false, dir);

        var rec = Stopwatch.StartNew();
        var (replay, stopMsg) = await StartAndRecoverAsync(dir, o, chosen, spool, ct).ConfigureAwait(false);
        if (spool is not null)
        {
            // Promoted: PostgreSQL never reads the spool again (what is left are segments after the target).
            await spool.DisposeAsync().ConfigureAwait(false);
            log.RecoveredWhileFetching(res.Name, spool.Fetched, spool.ServerWaited.TotalSeconds, rec.Elapsed.TotalSeconds);
            Directory.Delete(walDir, recursive: true);
        }
        return new RestoreResult(chosen.Backup.Id, chosen.Segments.Count, bytes, prepare, rec.Elapsed.TotalSeconds, replay, stopMsg, true, dir);
    }

    public static string Iso(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.ffffff'+00'", CultureInfo.InvariantCulture);

    private async Task<long> UnpackAsync(BackupManifest m, string dir, CancellationToken ct)
    {
        var files = m.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        // Chunks are fetched and decompressed ahead in parallel and parsed in order on this thread (checksums); the files'
        // bytes are written by several threads (ParallelWriter).
        var ahead = Math.Max(2, Environment.ProcessorCount);
        var writer = new ParallelWriter(Math.Clamp(Environment.ProcessorCount, 2, 4), ahead + 4, BaseBackup.ChunkSize);
        ParallelWriter.Target? current = null;
        ParallelWriter.Chunk? feeding = null;
        IncrementalHash? hash = null;
        var crc = new Crc32C();
        var seen = 0;
        TarReader? reader = null;
        reader = new TarReader
        {
            OnEntry = e =>
            {
                var path = SafePath(dir, e.Name);
                if (e.Type == '5') { Directory.CreateDirectory(path); return; }
                if (e.Type == '2') throw new UserErrorException($"backup {m.Id}: {e.Name} is a symbolic link (a tablespace): tablespaces outside the data directory are not supported");
                if (e.Type is not ('0' or '7')) return;
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                current = writer.Create(path);
                hash = m.Format < 2 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null; // format 1 recorded SHA-256
                crc = new Crc32C();
            },
            OnData = (e, d) => { writer.Append(current!, feeding!, reader!.FeedOffset, d.Length); crc.Append(d); hash?.AppendData(d); },
            OnEntryEnd = e =>
            {
                if (current is null) return;
                current.Release();
                current = null;
                var sha = hash is null ? null : Convert.ToHexStringLower(hash.GetHashAndReset());
                hash?.Dispose();
                if (!files.TryGetValue(e.Name, out var f)) throw new InvalidDataException($"backup {m.Id}: {e.Name} is not in the manifest");
                if (!f.Matches(e.Size, sha, Crc32C.Hex(crc.Value))) throw new InvalidDataException($"backup {m.Id}: {e.Name} does not match its checksum in the manifest (corrupted backup)");
                seen++;
            },
        };
        var tasks = new Queue<Task<(ParallelWriter.Chunk, int)>>();
        var next = 0;
        long total = 0;
        Task<(ParallelWriter.Chunk, int)> Fetch(BackupChunk c) => Task.Run(async () =>
        {
            var chunk = await writer.RentAsync(c.Size, ct).ConfigureAwait(false);
            try
            {
                await using var r = await archive.Store.GetAsync(archive.Bucket, c.Key, ct).ConfigureAwait(false)
                    ?? throw new InvalidDataException($"backup {m.Id}: chunk {c.Key} is missing from {archive.Describe}");
                var ms = new MemoryStream(chunk.Data, 0, chunk.Data.Length, writable: true, publiclyVisible: true);
                var (sha, len) = await Blob.UnpackAsync(r.Content, ms, $"{archive.Describe}: {c.Key}", ct).ConfigureAwait(false);
                if (sha != c.Sha256 || len != c.Size) throw new InvalidDataException($"backup {m.Id}: chunk {c.Key} does not match the manifest");
                return (chunk, (int)len);
            }
            catch
            {
                chunk.Release();
                throw;
            }
        }, ct);
        try
        {
            while (next < m.Chunks.Count || tasks.Count > 0)
            {
                while (next < m.Chunks.Count && tasks.Count < ahead) tasks.Enqueue(Fetch(m.Chunks[next++]));
                var (chunk, len) = await tasks.Dequeue().ConfigureAwait(false);
                feeding = chunk;
                try { reader.Feed(chunk.Data.AsSpan(0, len)); }
                finally { chunk.Release(); feeding = null; }
                total += len;
            }
        }
        catch
        {
            current?.Release();
            foreach (var t in tasks)
            {
                try { (await t.ConfigureAwait(false)).Item1.Release(); }
                catch (Exception) { /* already failing */ }
            }
            try { await writer.CompleteAsync().ConfigureAwait(false); }
            catch (IOException) { /* already failing */ }
            throw;
        }
        await writer.CompleteAsync().ConfigureAwait(false);
        if (!reader.Ended || seen != m.Files.Count)
            throw new InvalidDataException($"backup {m.Id}: the archive ended after {seen} of {m.Files.Count} files (incomplete backup)");
        return total;
    }

    private static string SafePath(string dir, string name)
    {
        var full = Path.GetFullPath(Path.Combine(dir, name.TrimEnd('/')));
        if (!full.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal) && full != dir)
            throw new InvalidDataException($"backup member '{name}' would be written outside {dir}");
        return full;
    }

    private async Task FetchWalAsync(IReadOnlyList<WalObject> segs, string walDir, CancellationToken ct)
    {
        using var gate = new SemaphoreSlim(Math.Max(2, Environment.ProcessorCount));
        await Task.WhenAll(segs.Select(async s =>
        {
            await gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var path = Path.Combine(walDir, s.Segment);
                await using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                if (!await archive.FetchSegmentAsync(s.Segment, fs, ct).ConfigureAwait(false))
                    throw new InvalidDataException($"WAL segment {s.Segment} disappeared from {archive.Describe} during the restore");
            }
            finally { gate.Release(); }
        })).ConfigureAwait(false);
    }

    private static void WriteRecoverySettings(string dir, DateTimeOffset? t, int? port, bool spool)
    {
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("# Written by lifeboat pg restore");
        sb.AppendLine(spool ? $"restore_command = 'sh lifeboat_wal/{WalSpool.ScriptName} \"%f\" \"%p\"'" : "restore_command = 'cp \"lifeboat_wal/%f\" \"%p\"'");
        if (t is { } time) sb.AppendLine($"recovery_target_time = '{Iso(time)}'");
        // Lifeboat starting the server itself: pause at the target, then promote (pg_promote), which ends recovery
        // without waiting for a checkpoint (PostgreSQL's "fast" promotion; with recovery_target_action = 'promote' the
        // end-of-recovery checkpoint is waited for, 1.5-2.5 s for the benchmark's 512 MB of WAL). Pausing needs
        // hot_standby. Otherwise: promote when the target is reached.
        sb.AppendLine(spool && t is not null ? "recovery_target_action = 'pause'" : "recovery_target_action = 'promote'");
        if (spool && t is not null) sb.AppendLine("hot_standby = 'on'");
        sb.AppendLine("recovery_target_timeline = 'current'");
        sb.AppendLine("archive_mode = 'off'");
        if (port is { } p)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"port = {p}");
            sb.AppendLine("listen_addresses = '127.0.0.1'");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"unix_socket_directories = '{SocketDir(dir)}'");
        File.AppendAllText(Path.Combine(dir, "postgresql.auto.conf"), sb.ToString());
        File.WriteAllText(Path.Combine(dir, "recovery.signal"), "");
        // A standby.signal from the source would make it a standby, never promoted.
        File.Delete(Path.Combine(dir, "standby.signal"));
    }

    /// <summary>The unix socket goes to the data directory when its path is short enough (107 bytes), else /tmp.</summary>
    public static string SocketDir(string dir) => dir.Length + 20 < 100 ? dir : "/tmp";

    private static bool IsRoot => Environment.UserName == "root";

    private static async Task ChownAsync(string dir, CancellationToken ct)
    {
        if (!IsRoot || OperatingSystem.IsWindows()) return;
        var (code, output) = await PgServer.RunAsync("chown", ["-R", "postgres:postgres", dir], ct).ConfigureAwait(false);
        if (code != 0) throw new UserErrorException($"chown -R postgres:postgres {dir} failed: {output.Trim()}");
        // The postgres user must reach the folder.
        for (var d = Path.GetDirectoryName(dir); d is not null && d != "/"; d = Path.GetDirectoryName(d))
        {
            var mode = File.GetUnixFileMode(d);
            if ((mode & UnixFileMode.OtherExecute) == 0)
                throw new UserErrorException($"{d} is not searchable by the postgres user (mode {Convert.ToString((int)mode, 8)}): restore into a folder it can reach");
        }
    }

    private async Task<(string? Replay, string? Stop)> StartAndRecoverAsync(string dir, RestoreOptions o, RecoveryWindow w, WalSpool? spool, CancellationToken ct)
    {
        var bin = PgServer.BinDir(res);
        var logFile = Path.Combine(dir, "lifeboat-restore.log");
        var user = IsRoot ? "postgres" : null;
        var attempt = 0;
        while (true)
        {
            attempt++;
            var (code, output) = await PgServer.RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", dir, "-l", logFile, "-w", "-t", "3600", "start"], ct, user).ConfigureAwait(false);
            var logText = File.Exists(logFile) ? await File.ReadAllTextAsync(logFile, ct).ConfigureAwait(false) : "";
            if (code != 0 || !await PromotedAsync(dir, o, user, bin, spool, ct).ConfigureAwait(false))
            {
                if (spool?.Failure is { } failure)
                {
                    // The restore_command made the server stop (or it is about to): report why the WAL did not come.
                    await StopAsync(bin, dir, user, ct).ConfigureAwait(false);
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
                }
                logText = File.Exists(logFile) ? await File.ReadAllTextAsync(logFile, ct).ConfigureAwait(false) : "";
                if (o.Time is { } t && attempt == 1 && logText.Contains("recovery ended before configured recovery target was reached", StringComparison.Ordinal) && t <= w.To)
                {
                    // Every archived transaction committed before T (no commit after T exists in the archive, which is
                    // complete up to w.To >= T): the state at T is the end of the archive. Recover to it.
                    log.RecoveringToArchiveEnd(res.Name, Iso(t), Iso(w.To));
                    await StopAsync(bin, dir, user, ct).ConfigureAwait(false);
                    var conf = Path.Combine(dir, "postgresql.auto.conf");
                    var lines = (await File.ReadAllLinesAsync(conf, ct).ConfigureAwait(false)).Where(l => !l.StartsWith("recovery_target_time", StringComparison.Ordinal));
                    await File.WriteAllLinesAsync(conf, lines, ct).ConfigureAwait(false);
                    continue;
                }
                await StopAsync(bin, dir, user, ct).ConfigureAwait(false);
                var tail = string.Join(" | ", logText.Split('\n').Where(l => l.Contains("FATAL", StringComparison.Ordinal) || l.Contains("PANIC", StringComparison.Ordinal)).TakeLast(3));
                throw new UserErrorException($"{res.Name}: the restored server did not finish recovery: {(tail.Length > 0 ? tail : output.Trim())} (log: {logFile})");
            }
            var replay = await PsqlAsync(dir, o, user, bin, "SELECT pg_last_wal_replay_lsn()", ct).ConfigureAwait(false);
            logText = File.Exists(logFile) ? await File.ReadAllTextAsync(logFile, ct).ConfigureAwait(false) : "";
            var stop = logText.Split('\n').LastOrDefault(l => l.Contains("recovery stopping", StringComparison.Ordinal))?.Trim();
            // Never stop short: without a target time (or when none was reachable) the replay must reach the last archived segment.
            var targetTimeReached = o.Time is not null && stop is not null;
            if (!targetTimeReached)
            {
                var last = w.Segments[^1];
                var lastStart = Wal.SegmentStart(Wal.ParseSegmentName(last.Segment).SegNo);
                if (replay.Length == 0 || Wal.ParseLsn(replay) < lastStart)
                    throw new UserErrorException($"{res.Name}: recovery stopped at {replay} before the end of the archive (segment {last.Segment}); the restored server is running in {dir} but is NOT at the requested point");
            }
            log.RestorePromoted(res.Name, replay, stop is null ? "" : $" ({stop})");
            return (replay, stop);
        }
    }

    private static async Task StopAsync(string bin, string dir, string? user, CancellationToken ct)
    {
        if (File.Exists(Path.Combine(dir, "postmaster.pid")))
            await PgServer.RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", dir, "-m", "fast", "-w", "stop"], ct, user).ConfigureAwait(false);
    }

    private static string PortOf(RestoreOptions o, string dir)
    {
        if (o.Port is { } p) return p.ToString(CultureInfo.InvariantCulture);
        foreach (var f in new[] { "postgresql.auto.conf", "postgresql.conf" })
        {
            var path = Path.Combine(dir, f);
            if (!File.Exists(path)) continue;
            var line = File.ReadAllLines(path).LastOrDefault(l => l.TrimStart().StartsWith("port", StringComparison.Ordinal) && l.Contains('='));
            if (line is not null) return line.Split('=')[1].Split('#')[0].Trim().Trim('\'');
        }
        return "5432";
    }

    private static async Task<string> PsqlAsync(string dir, RestoreOptions o, string? user, string bin, string sql, CancellationToken ct)
    {
        var (code, output) = await PgServer.RunAsync(Path.Combine(bin, "psql"),
            ["-X", "-A", "-t", "-h", SocketDir(dir), "-p", PortOf(o, dir), "-d", "postgres", "-c", sql], ct, user).ConfigureAwait(false);
        if (code != 0) throw new UserErrorException($"psql on the restored server failed: {output.Trim()}");
        return output.Trim();
    }

    /// <summary>Waits until the server left recovery (promoted); false when it stopped instead. One psql session asks
    /// every 100 ms (a process per question would take CPU from the replay); a server paused at the recovery target
    /// (recovery_target_action = 'pause') is promoted with pg_promote.</summary>
    private static async Task<bool> PromotedAsync(string dir, RestoreOptions o, string? user, string bin, WalSpool? spool, CancellationToken ct)
    {
        var pid = Path.Combine(dir, "postmaster.pid");
        string? lastError = null;
        for (var failures = 0; ; failures++)
        {
            if (!File.Exists(pid) || spool?.Failure is not null) return false;
            if (failures > 0)
            {
                // The session ended: the server stopped, or did not let psql in (yet).
                if ((await PgServer.RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", dir, "status"], ct, user).ConfigureAwait(false)).Code != 0) return false;
                if (failures >= 100) throw new UserErrorException($"psql on the restored server failed: {lastError}");
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
            var psql = Path.Combine(bin, "psql");
            var psi = new ProcessStartInfo(user is null ? psql : "runuser")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            if (user is not null) foreach (var a in new[] { "-u", user, "--", psql }) psi.ArgumentList.Add(a);
            // ON_ERROR_STOP: an error ends the session (it has no answer line to wait for).
            foreach (var a in new[] { "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", SocketDir(dir), "-p", PortOf(o, dir), "-d", "postgres" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start psql");
            var stderr = p.StandardError.ReadToEndAsync(ct);
            try
            {
                while (true)
                {
                    if (!File.Exists(pid) || spool?.Failure is not null) return false;
                    await p.StandardInput.WriteLineAsync("SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END;".AsMemory(), ct).ConfigureAwait(false);
                    await p.StandardInput.FlushAsync(ct).ConfigureAwait(false);
                    var line = await p.StandardOutput.ReadLineAsync(ct).ConfigureAwait(false);
                    if (line is null) break;
                    var f = line.Split('|');
                    if (f[0] == "f") return true;
                    if (f.Length > 1 && f[1] == "t" && o.Time is not null)
                    {
                        await p.StandardInput.WriteLineAsync("SELECT pg_promote(true, 600);".AsMemory(), ct).ConfigureAwait(false);
                        await p.StandardInput.FlushAsync(ct).ConfigureAwait(false);
                        if (await p.StandardOutput.ReadLineAsync(ct).ConfigureAwait(false) is null) break;
                        continue;
                    }
                    failures = 0;
                    await Task.Delay(100, ct).ConfigureAwait(false);
                }
            }
            catch (IOException) { /* psql exited (the pipe closed): handled as a session that ended */ }
            finally
            {
                if (!p.HasExited)
                {
                    try { p.StandardInput.Close(); } catch (IOException) { /* already gone */ }
                    if (!p.WaitForExit(2000)) p.Kill();
                }
            }
            lastError = (await stderr.ConfigureAwait(false)).Trim();
        }
    }
}
