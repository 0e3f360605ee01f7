using Lifeboat.Core.Config;
using Lifeboat.Core.Scheduling;

namespace Lifeboat.Providers.Postgres;

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
        Set<StatusFigure>(), Restore: true, PointInTime: true)
    {
        RestoreKeys = Set("point_in_time", "target_dir", "port"),
        RestoreRequired = Set("point_in_time", "target_dir"),
    };

    public override TimeSpan? TargetRpo => Rpo;

    public override string Describe() =>
        $"postgres {Connection.Host}:{Connection.Port} -> {Target.Store}/{Target.Bucket}/{Target.Prefix} (wal: {Wal.ToString().ToLowerInvariant()}, base backups: {(BaseBackup.Schedule is null ? "on demand" : BaseBackup.Schedule.Expression)})";
}

/// <summary>Reads <c>type: postgres</c> resources (ADR 0010: the provider owns its keys and their errors).</summary>
public sealed class PostgresKind : IResourceKindReader
{
    private static readonly Dictionary<string, WalMode> WalModes = new() { ["stream"] = WalMode.Stream, ["archive"] = WalMode.Archive };

    public string Type => "postgres";

    public ResourceConfig Read(YamlMap r, ConfigReadContext context)
    {
        var name = context.Name(r);
        context.RefuseHistory(r, "a postgres resource's history is its base backups and WAL (restore it to any time with `lifeboat pg restore --time`): history: is for bucket and table resources");
        var c = r.Map("connection");
        var port = c.OptInt("port", 1, 65535) ?? 5432;
        var conn = new PgConnection(
            c.OptString("host") ?? "127.0.0.1", port, c.String("user"), c.OptString("password_env"),
            c.OptString("database") ?? "postgres", ConfigReadContext.Where(c));
        if (conn.PasswordEnv is { } pe && pe.Length == 0) throw c.Error("password_env", "name an environment variable");
        c.EnsureNoUnknownKeys();

        var target = context.Location(r.Map("target"));
        if (target.Prefix.Length > 0 && !target.Prefix.EndsWith('/'))
            throw r.Map("target").Error("prefix", $"'{target.Prefix}' must end with '/' (backups and WAL go under it)");
        var wal = r.OneOf("wal", WalModes, WalMode.Stream);

        Cron? schedule = null;
        var keep = 7;
        if (r.OptMap("base_backup") is { } b)
        {
            if (b.OptString("schedule") is { } s)
            {
                try { schedule = Cron.Parse(s); }
                catch (FormatException e) { throw b.Error("schedule", e.Message); }
            }
            keep = b.OptInt("keep", 1, 10000) ?? 7;
            b.EnsureNoUnknownKeys();
        }

        var slot = r.OptString("slot") ?? ("lifeboat_" + name.Replace('-', '_').Replace('.', '_').ToLowerInvariant());
        if (slot.Length > 63 || slot.Any(ch => !(char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) || ch == '_')))
            throw r.Error("slot", $"'{slot}' is not a valid replication slot name (lower-case letters, digits and '_', at most 63)");
        var res = new PostgresResource(name, conn, target, wal, new BaseBackupConfig(schedule, keep),
            Rpo: r.OptDuration("rpo", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromMinutes(1),
            Slot: slot,
            PartialEvery: r.OptDuration("partial_every", TimeSpan.FromMilliseconds(100)) ?? TimeSpan.FromSeconds(1),
            BinDir: r.OptString("bin_dir"),
            Where: ConfigReadContext.Where(r));
        r.EnsureNoUnknownKeys();
        return res;
    }
}

/// <summary>The postgres resources of a config (a view of <see cref="LifeboatConfig.All"/>).</summary>
public static class PostgresConfigViews
{
    extension(LifeboatConfig cfg)
    {
        public IReadOnlyList<PostgresResource> Postgres => cfg.Of<PostgresResource>();

        public PostgresResource PostgresResource(string name) => cfg.Find<PostgresResource>(name, "postgres");
    }
}
