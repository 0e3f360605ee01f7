using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.Postgres;

/// <summary>
/// WAL for a restore that Lifeboat starts itself (<c>pg restore --start</c>), fetched while the base backup is unpacked
/// and while PostgreSQL replays, like pgBackRest's asynchronous archive-get queue: segments are fetched (checked) into
/// <c>DIR/lifeboat_wal</c>, at most <see cref="Window"/> from the first one PostgreSQL has not consumed yet, and the
/// restore_command (<see cref="ScriptName"/>, a POSIX shell script) moves each one into place (no second copy of every
/// segment), waiting for it when replay is ahead of the fetch. Until the server asks for WAL (after it synced the data
/// directory at start), only the first window is fetched.
/// <list type="bullet">
/// <item>A name outside the archive's chain (timeline history files, the segment after the end) exits 1 at once:
/// PostgreSQL reads that as the end of the archive.</item>
/// <item>When the segment is not there, the restore_command writes its name and a token of the request to
/// <c>.want</c> and waits: the spool fetches it next, and moves its window there. A segment asked for again (PostgreSQL
/// restarted, e.g. to recover to the end of the archive) is fetched again.</item>
/// <item>A fetch that fails (a corrupted or vanished segment) writes <c>.failed</c>; the restore_command then exits
/// 127, which PostgreSQL treats as fatal: the server stops instead of ending recovery early. The restore reports the
/// fetch error.</item>
/// <item>The restore holds an exclusive flock on <c>.lock</c> while it runs. When it is gone (killed with -9), the
/// restore_command finds the lock free and exits 127 too: never a server that waits forever or promotes short of the
/// requested point.</item>
/// </list>
/// </summary>
internal sealed class WalSpool : IAsyncDisposable
{
    /// <summary>Segments fetched ahead of the one PostgreSQL asked for (pgBackRest's archive-get-queue-max is 128 MiB).</summary>
    public const int Window = 8;
    private const int Parallel = 2;
    public const string ScriptName = "restore_command.sh";

    private readonly PgArchive _archive;
    private readonly IReadOnlyList<WalObject> _segments;
    private readonly string _dir;
    private readonly (int Uid, int Gid)? _owner;
    private readonly ILogger _log;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private FileStream? _lock;
    private Task? _loop;
    private bool _disposed;

    private WalSpool(PgArchive archive, IReadOnlyList<WalObject> segments, string dir, (int, int)? owner, ILogger log)
    {
        _archive = archive;
        _segments = segments;
        _dir = dir;
        _owner = owner;
        _log = log;
        for (var i = 0; i < segments.Count; i++) _index[segments[i].Segment] = i;
    }

    /// <summary>flock(1), which the restore_command needs to see whether the restore still runs; null when it is not
    /// installed (the restore then fetches all WAL before starting the server, as without --start).</summary>
    public static string? FlockTool()
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (var d in new[] { "/usr/bin", "/bin" }.Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')))
            if (d.Length > 0 && File.Exists(Path.Combine(d, "flock"))) return Path.Combine(d, "flock");
        return null;
    }

    /// <summary>Creates the spool folder's control files and starts fetching the first <see cref="Window"/> segments.
    /// <paramref name="owner"/>: uid and gid every file is given (the server's user, when Lifeboat runs as root).</summary>
    public static WalSpool Start(PgArchive archive, IReadOnlyList<WalObject> segments, string dir, string flock, (int, int)? owner, ILogger log)
    {
        Directory.CreateDirectory(dir);
        var s = new WalSpool(archive, segments, dir, owner, log);
        s._lock = new FileStream(Path.Combine(dir, ".lock"), FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite);
        if (Flock((int)s._lock.SafeFileHandle.DangerousGetHandle(), LOCK_EX | LOCK_NB) != 0)
            throw new IOException($"cannot lock {Path.Combine(dir, ".lock")}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        var (tli, first) = Wal.ParseSegmentName(segments[0].Segment);
        var last = Wal.ParseSegmentName(segments[^1].Segment).SegNo;
        File.WriteAllText(Path.Combine(dir, ScriptName), Script(tli, first, last, flock));
        s.Own(Path.Combine(dir, ".lock"));
        s.Own(Path.Combine(dir, ScriptName));
        s._loop = Task.Run(() => s.RunAsync(s._stop.Token));
        return s;
    }

    /// <summary>The restore_command (run by PostgreSQL in the data directory: <c>sh lifeboat_wal/restore_command.sh %f %p</c>).</summary>
    internal static string Script(uint tli, ulong first, ulong last, string flock) => $$"""
        # Written by lifeboat pg restore --start: hands PostgreSQL the WAL segments the restore fetches into lifeboat_wal.
        w=lifeboat_wal
        case $1 in
          *[!0-9A-F]*) exit 1 ;;
          {{tli:X8}}????????????????) ;;
          *) exit 1 ;;
        esac
        s=${1#????????}
        n=$(( 0x${s%????????} * 256 + 0x${s#????????} ))
        # Not in the archive (history files, the segment after its end): PostgreSQL reads this as the end of the archive.
        [ "$n" -ge {{first}} ] && [ "$n" -le {{last}} ] || exit 1
        if [ -f "$w/$1" ]; then exec mv -f "$w/$1" "$2"; fi
        # Not fetched yet, or asked for again (a restarted server): tell the restore, which fetches it next.
        printf '%s %s\n' "$1" "$$" > "$w/.want"
        i=0
        while :; do
          if [ -f "$w/$1" ]; then exec mv -f "$w/$1" "$2"; fi
          if [ -f "$w/.failed" ]; then cat "$w/.failed" >&2; exit 127; fi
          i=$((i + 1))
          if [ $((i % 25)) -eq 0 ] && {{flock}} -n -s "$w/.lock" true; then
            if [ -f "$w/$1" ]; then exec mv -f "$w/$1" "$2"; fi
            echo "lifeboat: the restore that fetches WAL into $w is not running any more: restore again into a new folder" >&2
            exit 127
          fi
          sleep 0.02 2>/dev/null || sleep 1
        done

        """;

    /// <summary>Completes once the first segments are in place (or all of them, when fewer), faults when a fetch fails.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Segments fetched so far (a segment fetched again counts again).</summary>
    public int Fetched { get; private set; }

    /// <summary>How long PostgreSQL waited for segments that were not fetched yet when it asked (measured from when
    /// the spool saw the request, within its 20 ms poll).</summary>
    public TimeSpan ServerWaited => _waited;
    private TimeSpan _waited;

    /// <summary>Why fetching failed (set before the restore_command is told), or null.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>The fetch loop; faults with the fetch error.</summary>
    public Task Completion => _loop ?? Task.CompletedTask;

    private string PathOf(int i) => Path.Combine(_dir, _segments[i].Segment);

    /// <summary>The restore_command's last request: (segment index, token), the token changing with every request.</summary>
    private (int Index, string Token) Wanted()
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(_dir, ".want")).Trim();
            var sp = text.IndexOf(' ');
            return sp > 0 && _index.TryGetValue(text[..sp], out var i) ? (i, text) : (-1, "");
        }
        catch (FileNotFoundException) { return (-1, ""); }
        catch (IOException) { return (-1, ""); } // being rewritten by the restore_command: read it on the next turn
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var fetched = new bool[_segments.Count];
        var inflight = new Dictionary<int, Task>();
        var next = 0;            // the window starts here: the first segment PostgreSQL has not consumed
        var token = "";
        var waiting = -1;
        var waitSince = 0L;
        try
        {
            while (true)
            {
                // Consumed (moved away by the restore_command): the window slides on.
                while (next < _segments.Count && fetched[next] && !inflight.ContainsKey(next) && !File.Exists(PathOf(next))) next++;
                var (w, t) = Wanted();
                if (w >= 0 && t != token)
                {
                    // A request for a segment that is not there: not fetched yet (the server is ahead of the window,
                    // or starts elsewhere), or consumed before and asked for again (the server restarted).
                    token = t;
                    if (fetched[w] && !inflight.ContainsKey(w) && !File.Exists(PathOf(w))) fetched[w] = false;
                    next = w;
                    if (!fetched[w] && waiting < 0) (waiting, waitSince) = (w, Stopwatch.GetTimestamp());
                }
                if (waiting >= 0 && fetched[waiting]) { _waited += Stopwatch.GetElapsedTime(waitSince); waiting = -1; }
                for (var i = next; i < Math.Min(_segments.Count, next + Window) && inflight.Count < Parallel; i++)
                    if (!fetched[i] && !inflight.ContainsKey(i)) inflight[i] = FetchAsync(i, ct);
                if (!_ready.Task.IsCompleted && fetched.Take(Math.Min(_segments.Count, Window)).All(f => f)) _ready.TrySetResult();
                var tick = Task.Delay(20, ct);
                await (inflight.Count == 0 ? tick : Task.WhenAny(Task.WhenAny(inflight.Values), tick)).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                foreach (var (i, done) in inflight.Where(kv => kv.Value.IsCompleted).ToList())
                {
                    inflight.Remove(i);
                    await done.ConfigureAwait(false);
                    fetched[i] = true;
                    Fetched++;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _ready.TrySetCanceled(ct);
            try { await Task.WhenAll(inflight.Values).ConfigureAwait(false); } catch (OperationCanceledException) { /* stopping */ }
        }
        catch (Exception e)
        {
            // The restore_command must not wait for a segment that will not come: it stops the server instead.
            Failure = e;
            try { File.WriteAllText(Path.Combine(_dir, ".failed"), $"lifeboat: fetching WAL failed: {e.Message}\n"); }
            catch (IOException) { /* the flock is released when the restore ends, which stops the server too */ }
            _ready.TrySetException(e);
            try { await Task.WhenAll(inflight.Values).ConfigureAwait(false); } catch (Exception) { /* reporting the first failure */ }
            throw;
        }
    }

    private async Task FetchAsync(int i, CancellationToken ct)
    {
        var name = _segments[i].Segment;
        var tmp = Path.Combine(_dir, $".{name}.tmp");
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                if (!await _archive.FetchSegmentAsync(name, fs, ct).ConfigureAwait(false))
                    throw new InvalidDataException($"WAL segment {name} disappeared from {_archive.Describe} during the restore");
            }
            Own(tmp);
            File.Move(tmp, PathOf(i), overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    private void Own(string path)
    {
        if (_owner is not { } o) return;
        if (Chown(path, o.Uid, o.Gid) != 0)
            throw new IOException($"chown {path} to the postgres user failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>The uid and gid of a user (id -u, id -g).</summary>
    public static async Task<(int, int)> UserIdsAsync(string user, CancellationToken ct)
    {
        var (c1, uid) = await PgServer.RunAsync("id", ["-u", user], ct).ConfigureAwait(false);
        var (c2, gid) = await PgServer.RunAsync("id", ["-g", user], ct).ConfigureAwait(false);
        if (c1 != 0 || c2 != 0) throw new Lifeboat.Core.Config.UserErrorException($"id {user} failed: {uid.Trim()}{gid.Trim()}");
        return (int.Parse(uid.Trim(), CultureInfo.InvariantCulture), int.Parse(gid.Trim(), CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await Completion.ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { /* surfaced by the restore through Completion */ }
        catch (OperationCanceledException) { /* stopped */ }
        if (_lock is not null) await _lock.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private const int LOCK_EX = 2, LOCK_NB = 4;
    [DllImport("libc", EntryPoint = "flock", SetLastError = true)] private static extern int Flock(int fd, int operation);
    [DllImport("libc", EntryPoint = "chown", SetLastError = true)] private static extern int Chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int uid, int gid);
}
