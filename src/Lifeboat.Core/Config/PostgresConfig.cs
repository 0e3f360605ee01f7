using Lifeboat.Core.Scheduling;

namespace Lifeboat.Core.Config;

/// <summary>How WAL leaves the server: <c>stream</c> = physical replication with a slot (RPO of seconds);
/// <c>archive</c> = the server's archive_command calls <c>lifeboat wal-push %p</c> (RPO of one segment).</summary>
public enum WalMode { Stream, Archive }

/// <summary>Where to connect. The password comes from the environment variable <see cref="PasswordEnv"/> (never
/// from the file); null = no password (trust / peer / .pgpass).</summary>
public sealed record PgConnection(string Host, int Port, string User, string? PasswordEnv, string Database, ConfigLocation Where);

/// <summary>Base backups: on <see cref="Schedule"/> (5-field cron, UTC; null = only on demand), keeping the newest
/// <see cref="Keep"/> and the WAL they need.</summary>
public sealed record BaseBackupConfig(Cron? Schedule, int Keep);

/// <summary>
/// A <c>type: postgres</c> resource: a PostgreSQL server whose WAL is shipped (<see cref="Wal"/>) and whose base
/// backups are taken into <see cref="Target"/> (any object store; the bucket plus prefix hold backups/ and wal/).
/// <see cref="Slot"/> is the physical replication slot of stream mode (created when absent);
/// <see cref="PartialEvery"/> how often the unfinished tip segment is shipped as <c>.partial</c> in stream mode;
/// <see cref="BinDir"/> where pg_basebackup and pg_ctl live (null: found from PATH and /usr/lib/postgresql/*/bin).
/// </summary>
public sealed record PostgresResource(
    string Name,
    PgConnection Connection,
    Location Target,
    WalMode Wal,
    BaseBackupConfig BaseBackup,
    TimeSpan Rpo,
    string Slot,
    TimeSpan PartialEvery,
    string? BinDir,
    ConfigLocation Where) : ResourceConfig(Name, Where)
{
    public override string Type => "postgres";

    /// <summary>WAL shipping and scheduled base backups can be paused or stopped (a failed primary), not reversed;
    /// restores are point in time. Its figures (WAL lag, RPO) are read from the server and archive by <c>status</c>, not
    /// by alarms.</summary>
    public override ResourceCapabilities Capabilities => Caps;

    private static readonly ResourceCapabilities Caps = new(true, Set(ReplicationAction.Pause, ReplicationAction.Resume, ReplicationAction.Stop),
        Set<StatusFigure>(), Restore: true, PointInTime: true);

    public override string Describe() =>
        $"postgres {Connection.Host}:{Connection.Port} -> {Target.Store}/{Target.Bucket}/{Target.Prefix} (wal: {Wal.ToString().ToLowerInvariant()}, base backups: {(BaseBackup.Schedule is null ? "on demand" : BaseBackup.Schedule.Expression)})";
}
