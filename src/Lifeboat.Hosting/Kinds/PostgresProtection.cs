using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.Postgres;

namespace Lifeboat.Hosting.Kinds;

/// <summary>A postgres resource: WAL streaming (stream mode; archive mode is shipped by the server's
/// archive_command) and base backups on the configured schedule. Paused or stopped by a runbook, neither runs; resumed,
/// streaming continues from the slot's position, so no WAL is missed.</summary>
public sealed class PostgresProtection(Runtime rt, PostgresResource res) : IProtectedResource
{
    private PgProtector? _fresh;

    /// <summary>Around a protector already prepared (by replicate).</summary>
    public PostgresProtection(Runtime rt, PgProtector prepared) : this(rt, prepared.Resource) => _fresh = prepared;

    public ResourceConfig Config => res;

    /// <summary>Its base backups and WAL.</summary>
    public IPointInTime? PointInTime => new PostgresPointInTime(rt, res);

    /// <summary>The protector running now (tests read its schedule and counters).</summary>
    public PgProtector? Current { get; private set; }

    public async Task PrepareAsync(CancellationToken abort) => _fresh = await CreateAsync(abort).ConfigureAwait(false);

    private async Task<PgProtector> CreateAsync(CancellationToken abort)
    {
        var p = new PgProtector(res, rt.Store(res.Target.Store), rt.Time, rt.Logs.CreateLogger("lifeboat." + res.Name));
        try { await p.PrepareAsync(abort).ConfigureAwait(false); }
        catch (PgUnreachableException e) { throw new UserErrorException(e.Message, e); }
        return p;
    }

    public async Task RunAsync(ReplicationMode mode, CancellationToken stop, CancellationToken abort)
    {
        if (mode != ReplicationMode.Forward)
            throw new UserErrorException($"{res.Where}: a postgres resource cannot be replicated {ReplicationControl.Name(mode)} (set by a runbook or failback)");
        var p = _fresh ?? await CreateAsync(abort).ConfigureAwait(false);
        _fresh = null;
        Current = p;
        await p.RunAsync(stop).ConfigureAwait(false);
    }

    /// <summary>Ships WAL up to the server's current position (stream mode; archive mode is shipped by the server's
    /// archive_command), at most 10 minutes.</summary>
    public async Task<bool> RunOnceAsync(OnceOptions options, TextWriter output, CancellationToken stop, CancellationToken abort)
    {
        var p = _fresh ?? await CreateAsync(abort).ConfigureAwait(false);
        _fresh = null;
        if (p.Streamer is null) { output.WriteLine($"{res.Name}: wal: archive (shipped by the server's archive_command)"); return true; }
        try
        {
            var st = await PgStatusReader.ReadAsync(res, p.Archive, rt.Time.GetUtcNow(), stop).ConfigureAwait(false);
            var target = st.ServerLsn is { } s ? Wal.ParseLsn(s) : 0;
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            cts.CancelAfter(TimeSpan.FromMinutes(10));
            await p.Streamer.RunAsync(cts.Token, target).ConfigureAwait(false);
            var done = p.Streamer.DurableLsn >= target;
            output.WriteLine($"{res.Name}: WAL archived to {Wal.FormatLsn(p.Streamer.DurableLsn)} ({p.Streamer.SegmentsStored} segments, {p.Streamer.PartialsStored} partial){(done ? "" : " (did not catch up)")}");
            return done && p.Streamer.GapMessage is null;
        }
        catch (Exception e) when (e is SlotBusyException or PgUnreachableException)
        {
            output.WriteLine($"{res.Name}: FAILED: {e.Message}");
            return false;
        }
    }
}
