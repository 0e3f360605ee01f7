using Lifeboat.Core.Scheduling;

namespace Lifeboat.Core.Config;

public static partial class ConfigLoader
{
    private static readonly Dictionary<string, WalMode> WalModes = new() { ["stream"] = WalMode.Stream, ["archive"] = WalMode.Archive };

    private static PostgresResource ReadPostgresResource(YamlMap r, Dictionary<string, StoreConfig> stores)
    {
        var name = ResourceName(r);
        ResourceType(r);
        RefuseHistory(r, "a postgres resource's history is its base backups and WAL (restore it to any time with `lifeboat pg restore --time`): history: is for bucket and table resources");
        var c = r.Map("connection");
        var port = c.OptInt("port", 1, 65535) ?? 5432;
        var conn = new PgConnection(
            c.OptString("host") ?? "127.0.0.1", port, c.String("user"), c.OptString("password_env"),
            c.OptString("database") ?? "postgres", new ConfigLocation(c.File, c.Node.Start.Line, c.Path));
        if (conn.PasswordEnv is { } pe && pe.Length == 0) throw c.Error("password_env", "name an environment variable");
        c.EnsureNoUnknownKeys();

        var target = ReadLocation(r.Map("target"), stores);
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
            Where: new ConfigLocation(r.File, r.Node.Start.Line, r.Path));
        r.EnsureNoUnknownKeys();
        return res;
    }
}
