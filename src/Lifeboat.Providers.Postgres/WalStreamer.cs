using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;

namespace Lifeboat.Providers.Postgres;

/// <summary>
/// <c>wal: stream</c>: reads WAL over the physical replication protocol through a replication slot (so the server
/// keeps every segment Lifeboat has not confirmed, even while Lifeboat is down) and writes it to the archive.
/// A finished segment is stored (packed, SHA-256) and only then confirmed to the server as flushed, which lets the
/// slot release it. The unfinished tip is stored as <c>SEGMENT.partial</c> every <see cref="PostgresResource.PartialEvery"/>
/// (like pg_receivewal), so the recovery point is seconds, not one 16 MiB segment. After each store the tip record
/// (wal-tip.json) says how far the archive reaches and the server time up to which it is complete.
/// </summary>
public sealed class WalStreamer(PostgresResource res, PgArchive archive, TimeProvider time, ILogger log)
{
    private readonly byte[] _buf = new byte[Wal.SegmentSize];
    private ulong _segNo;
    private int _filled;          // bytes of the current segment received
    private int _shippedPartial;  // bytes of it stored as .partial
    private uint _timeline;
    private readonly Queue<(ulong WalEnd, DateTimeOffset Clock)> _ends = new();
    private DateTimeOffset _completeUntil;
    private DateTimeOffset _lastTipWrite;

    /// <summary>Every WAL byte before this position is durable in the archive.</summary>
    public ulong DurableLsn { get; private set; }
    /// <summary>Server time up to which the archive is complete.</summary>
    public DateTimeOffset CompleteUntil => _completeUntil;
    public long SegmentsStored { get; private set; }
    public long PartialsStored { get; private set; }
    /// <summary>Set when WAL the archive needed was gone from the server (the archive has a gap before this position).</summary>
    public string? GapMessage { get; private set; }

    /// <summary>Streams until <paramref name="stop"/> (or until <paramref name="stopAt"/> is durable); reconnects after
    /// connection and store failures with backoff. Configuration and permission errors are thrown.</summary>
    public async Task RunAsync(CancellationToken stop, ulong? stopAt = null)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await SessionAsync(stop, stopAt).ConfigureAwait(false);
                if (stopAt is { } s && DurableLsn >= s) return;
                delay = TimeSpan.FromMilliseconds(200);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (UserErrorException) { throw; }
            catch (SlotBusyException) { throw; }
            catch (Exception e) when (e is NpgsqlException or PgUnreachableException or StoreException or IOException or TimeoutException)
            {
                log.StreamingInterrupted(res.Name, e is NpgsqlException && e is not PostgresException ? PgServer.Explain(res.Connection, e, "streaming WAL").Message : e.Message, delay);
                try { await Task.Delay(delay, time, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    /// <summary>Creates the slot when it is missing (logging loudly when the archive already had WAL: the slot was
    /// dropped, so the server may have removed WAL Lifeboat never saw). Returns the slot.</summary>
    private async Task<PhysicalReplicationSlot> EnsureSlotAsync(PhysicalReplicationConnection conn, WalTip? tip, CancellationToken ct)
    {
        var slot = await conn.ReadReplicationSlot(res.Slot, ct).ConfigureAwait(false);
        if (slot is not null && slot.RestartLsn is not null) return slot;
        var created = await conn.CreateReplicationSlot(res.Slot, isTemporary: false, reserveWal: true, ct).ConfigureAwait(false);
        if (tip is not null)
            log.SlotRecreated(res.Name, res.Slot, PgServer.Describe(res.Connection), tip.Lsn);
        var read = await conn.ReadReplicationSlot(res.Slot, ct).ConfigureAwait(false) ?? created;
        if (tip is null) log.SlotCreated(res.Name, res.Slot, read.RestartLsn);
        return read;
    }

    private async Task SessionAsync(CancellationToken stop, ulong? stopAt)
    {
        await PgServer.CheckAsync(res, stop).ConfigureAwait(false);
        await using var conn = new PhysicalReplicationConnection(PgServer.ConnectionString(res.Connection));
        conn.WalReceiverStatusInterval = TimeSpan.FromSeconds(5);
        try { await conn.Open(stop).ConfigureAwait(false); }
        catch (Exception e) when (e is NpgsqlException or PostgresException) { throw PgServer.Explain(res.Connection, e, "opening a replication connection"); }
        var id = await conn.IdentifySystem(stop).ConfigureAwait(false);
        _timeline = id.Timeline;
        var tip = await archive.GetTipAsync(stop).ConfigureAwait(false);
        var slot = await EnsureSlotAsync(conn, tip, stop).ConfigureAwait(false);

        ulong start;
        if (tip is not null && tip.Timeline == _timeline) start = Wal.SegmentStart(Wal.SegmentNo(Wal.ParseLsn(tip.Lsn)));
        else
        {
            if (tip is not null && tip.Timeline != _timeline)
                log.TimelineChanged(res.Name, _timeline, tip.Timeline);
            start = Wal.SegmentStart(Wal.SegmentNo((ulong)slot.RestartLsn!.Value));
        }
        if (_gapRestart is { } g && g > start)
        {
            start = Wal.SegmentStart(Wal.SegmentNo(g));
            DurableLsn = start;
            _gapRestart = null;
        }
        _segNo = Wal.SegmentNo(start);
        _filled = 0;
        _shippedPartial = 0;
        DurableLsn = Math.Max(DurableLsn, tip is not null ? Wal.ParseLsn(tip.Lsn) : start);
        if (tip is not null) _completeUntil = tip.ServerTime;

        log.StreamingFrom(res.Name, Wal.FormatLsn(start), _timeline, res.Slot);
        await using var sql = await PgServer.OpenAsync(res.Connection, "reading the server's WAL position", stop).ConfigureAwait(false);

        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var messages = conn.StartReplication(slot, new NpgsqlLogSequenceNumber(start), session.Token, _timeline).GetAsyncEnumerator(session.Token);
        Task<bool>? next = null;
        try
        {
            next = messages.MoveNextAsync().AsTask();
            var tick = Task.Delay(res.PartialEvery, time, stop);
            while (true)
            {
                if (stopAt is { } s && DurableLsn >= s) return;
                var done = await Task.WhenAny(next, tick).ConfigureAwait(false);
                if (done == tick)
                {
                    if (stop.IsCancellationRequested) break;
                    tick = Task.Delay(res.PartialEvery, time, stop);
                    if (_filled > _shippedPartial) await ShipPartialAsync(stop).ConfigureAwait(false);
                    else await IdleCheckAsync(sql, stop).ConfigureAwait(false);
                    continue;
                }
                bool more;
                try { more = await next.ConfigureAwait(false); }
                catch (PostgresException e) when (e.SqlState == "58P01" || e.MessageText.Contains("has already been removed", StringComparison.Ordinal)) { throw Removed(e, start, slot); }
                catch (PostgresException e) when (e.SqlState == "55006")
                {
                    throw new SlotBusyException($"{PgServer.Describe(res.Connection)}: replication slot '{res.Slot}' is in use by another process ({e.MessageText})");
                }
                if (!more) break;
                var m = messages.Current;
                await ReceiveAsync(m, conn, stop).ConfigureAwait(false);
                next = messages.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            // On the way out, store what was received (a clean stop loses nothing; a kill -9 is covered by the slot).
            if (_filled > _shippedPartial)
            {
                try { await ShipPartialAsync(CancellationToken.None).ConfigureAwait(false); }
                catch (Exception e) when (e is StoreException or IOException) { log.PartialSegmentNotStored(res.Name, e.Message); }
            }
            session.Cancel();
            if (next is not null)
            {
                try { await next.ConfigureAwait(false); }
                catch (Exception e) when (e is NpgsqlException or OperationCanceledException or IOException) { }
            }
            try { await messages.DisposeAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is NpgsqlException or OperationCanceledException or IOException or NotSupportedException) { }
        }
    }

    private Exception Removed(PostgresException e, ulong start, PhysicalReplicationSlot slot)
    {
        // The WAL Lifeboat needs is gone (the slot was dropped and re-created, or was not used): record the gap and
        // continue from what the slot holds, so new backups are protected. Loud: verify and status report it.
        var gap = $"WAL from {Wal.FormatLsn(start)} was removed from {PgServer.Describe(res.Connection)} before Lifeboat archived it ({e.MessageText}); " +
                  $"the archive has a gap: point-in-time restore across it is impossible; take a new base backup (lifeboat pg backup)";
        log.WalGap(res.Name, gap); // logged before it is published, so a reader of GapMessage finds the log too
        _gapRestart = (ulong?)slot.RestartLsn;
        GapMessage = gap;
        return new PgUnreachableException(gap, e);
    }

    private ulong? _gapRestart;

    private async Task ReceiveAsync(XLogDataMessage m, PhysicalReplicationConnection conn, CancellationToken stop)
    {
        var pos = (ulong)m.WalStart;
        var expected = Wal.SegmentStart(_segNo) + (ulong)_filled;
        if (pos != expected)
            throw new IOException($"WAL stream out of order: expected {Wal.FormatLsn(expected)}, got {Wal.FormatLsn(pos)}");
        var data = m.Data;
        var chunk = new byte[64 << 10];
        while (true)
        {
            var room = (int)Math.Min(chunk.Length, Wal.SegmentSize - _filled);
            var n = await data.ReadAsync(chunk.AsMemory(0, room), stop).ConfigureAwait(false);
            if (n == 0) break;
            chunk.AsSpan(0, n).CopyTo(_buf.AsSpan(_filled));
            _filled += n;
            if (_filled == Wal.SegmentSize) await ShipSegmentAsync(conn, m.ServerClock, stop).ConfigureAwait(false);
        }
        _ends.Enqueue(((ulong)m.WalEnd, m.ServerClock));
    }

    private async Task ShipSegmentAsync(PhysicalReplicationConnection conn, DateTimeOffset serverClock, CancellationToken stop)
    {
        var name = Wal.SegmentName(_timeline, _segNo);
        await RetryStoreAsync(() => archive.PushSegmentAsync(name, _buf, serverClock, CancellationToken.None), $"storing WAL segment {name}", stop).ConfigureAwait(false);
        var end = Wal.SegmentStart(_segNo + 1);
        SegmentsStored++;
        if (_shippedPartial > 0)
        {
            try { await archive.Store.DeleteAsync(archive.Bucket, archive.WalKey(name, partial: true), CancellationToken.None).ConfigureAwait(false); }
            catch (StoreException e) { log.PartialSegmentNotDeleted(res.Name, name, e.Message); }
        }
        _segNo++;
        _filled = 0;
        _shippedPartial = 0;
        await AdvanceAsync(end, CancellationToken.None).ConfigureAwait(false);
        // Durable on the target: now the server may release it.
        conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(end));
        await conn.SendStatusUpdate(stop).ConfigureAwait(false);
    }

    private async Task ShipPartialAsync(CancellationToken stop)
    {
        var name = Wal.SegmentName(_timeline, _segNo);
        var n = _filled;
        await RetryStoreAsync(() => archive.PutPartialAsync(name, _buf.AsMemory(0, n), _ends.Count > 0 ? _ends.Last().Clock : time.GetUtcNow(), CancellationToken.None),
            $"storing partial WAL segment {name}", stop).ConfigureAwait(false);
        _shippedPartial = n;
        PartialsStored++;
        await AdvanceAsync(Wal.SegmentStart(_segNo) + (ulong)n, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Nothing new arrived: ask the server how far it has flushed; when the archive holds all of it, the
    /// archive is complete up to the server's current time.</summary>
    private async Task IdleCheckAsync(NpgsqlConnection sql, CancellationToken stop)
    {
        if (time.GetUtcNow() - _lastTipWrite < TimeSpan.FromSeconds(Math.Max(1, res.PartialEvery.TotalSeconds))) return;
        await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_flush_lsn()::text, clock_timestamp()", sql);
        await using var r = await cmd.ExecuteReaderAsync(stop).ConfigureAwait(false);
        if (!await r.ReadAsync(stop).ConfigureAwait(false)) return;
        var flushed = Wal.ParseLsn(r.GetString(0));
        var at = new DateTimeOffset(r.GetDateTime(1), TimeSpan.Zero);
        if (flushed <= DurableLsn && at > _completeUntil)
        {
            _completeUntil = at;
            await WriteTipAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task AdvanceAsync(ulong durable, CancellationToken ct)
    {
        DurableLsn = Math.Max(DurableLsn, durable);
        while (_ends.Count > 0 && _ends.Peek().WalEnd <= DurableLsn)
        {
            var e = _ends.Dequeue();
            if (e.Clock > _completeUntil) _completeUntil = e.Clock;
        }
        await WriteTipAsync(ct).ConfigureAwait(false);
    }

    private async Task WriteTipAsync(CancellationToken ct)
    {
        var tip = new WalTip(_timeline, Wal.FormatLsn(DurableLsn), _completeUntil, time.GetUtcNow());
        await RetryStoreAsync(() => archive.PutTipAsync(tip, ct), "storing the archive tip", ct).ConfigureAwait(false);
        _lastTipWrite = time.GetUtcNow();
        Tip?.Invoke(tip);
    }

    /// <summary>Raised after each tip update (for status and tests).</summary>
    public event Action<WalTip>? Tip;

    private async Task RetryStoreAsync(Func<Task> op, string what, CancellationToken stop)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            try
            {
                await op().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is StoreException { Kind: not StoreErrorKind.Permanent } or IOException or HttpRequestException)
            {
                log.WalStoreRetrying(res.Name, what, e.Message, delay);
                await Task.Delay(delay, time, stop).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }
}

/// <summary>The replication slot is being used by another connection (another lifeboat replicate, or pg_receivewal).</summary>
public sealed class SlotBusyException(string message) : Exception(message);
