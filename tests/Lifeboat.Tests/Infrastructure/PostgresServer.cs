using Lifeboat.Hosting;
using Lifeboat.Providers.Postgres;
using System.Globalization;
using System.Text.RegularExpressions;
using Lifeboat.Core.Config;
using Xunit;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// The real PostgreSQL 15 the postgres tests run against (tests/servers/postgres.sh; LIFEBOAT_PG_* when run.sh started
/// it). Never skipped. Helpers run psql, pgbench and pg_dump as the superuser over TCP, and start extra small clusters
/// (other settings: wal_level=minimal, archive_mode=on) and restored servers on ports from <see cref="NextPort"/>.
/// </summary>
public sealed class PostgresServer
{
    private static readonly Lazy<PostgresServer> Shared = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    public static PostgresServer Instance => Shared.Value;

    public int Port { get; private init; }
    public string Bin { get; private init; } = "";
    public const string Password = "lifeboat";      // role lifeboat (REPLICATION)
    public const string SuperPassword = "postgres";  // role postgres

    private static PostgresServer Start()
    {
        var env = new Dictionary<string, string>();
        if (Environment.GetEnvironmentVariable("LIFEBOAT_PG_PORT") is { Length: > 0 } port && Environment.GetEnvironmentVariable("LIFEBOAT_PG_BIN") is { Length: > 0 } bin)
        {
            env["LIFEBOAT_PG_PORT"] = port;
            env["LIFEBOAT_PG_BIN"] = bin;
        }
        else
        {
            var log = Path.Combine(Path.GetTempPath(), $"lifeboat-pg-start-{Environment.ProcessId}.log");
            var (code, _) = Proc.Run("bash", ["-c", "bash \"$0\" start >\"$1\" 2>&1 </dev/null", Path.Combine(Repo.Root, "tests/servers/postgres.sh"), log], TimeSpan.FromMinutes(3));
            var output = File.ReadAllText(log);
            if (code != 0) throw new InvalidOperationException("tests/servers/postgres.sh start failed:\n" + output);
            foreach (Match m in Regex.Matches(output, @"export (LIFEBOAT_PG_\w+)=(\S+)")) env[m.Groups[1].Value] = m.Groups[2].Value;
        }
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_PGPW", Password);
        Environment.SetEnvironmentVariable("LIFEBOAT_PG_BIN", env["LIFEBOAT_PG_BIN"]);
        return new PostgresServer { Port = int.Parse(env["LIFEBOAT_PG_PORT"], CultureInfo.InvariantCulture), Bin = env["LIFEBOAT_PG_BIN"] };
    }

    /// <summary>A port for a server a test starts (reserved for the test run, see <see cref="TestPorts"/>; PostgreSQL
    /// binds it with SO_REUSEADDR). Nothing listens on it until that server starts: connections are refused.</summary>
    public static int NextPort() => TestPorts.Reserve();

    public static Dictionary<string, string?> SuperEnv => new() { ["PGPASSWORD"] = SuperPassword, ["PGCONNECT_TIMEOUT"] = "10" };

    public string Psql(string sql, string db = "postgres", int? port = null, string? host = null)
    {
        var (code, output) = Proc.Run(Path.Combine(Bin, "psql"),
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host ?? "127.0.0.1", "-p", (port ?? Port).ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", db, "-c", sql],
            TimeSpan.FromMinutes(2), SuperEnv);
        Assert.True(code == 0, $"psql -c \"{sql}\" failed: {output}");
        return output.Trim();
    }

    public void Pgbench(string db, params string[] args)
    {
        var (code, output) = Proc.Run(Path.Combine(Bin, "pgbench"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", .. args, db],
            TimeSpan.FromMinutes(3), SuperEnv);
        Assert.True(code == 0, $"pgbench {string.Join(' ', args)} failed: {output}");
    }

    public string Dump(string db, int? port = null)
    {
        var (code, output) = Proc.Run(Path.Combine(Bin, "pg_dump"), ["-h", "127.0.0.1", "-p", (port ?? Port).ToString(CultureInfo.InvariantCulture), "-U", "postgres", "--no-sync", db],
            TimeSpan.FromMinutes(2), SuperEnv);
        Assert.True(code == 0, $"pg_dump {db} failed: {output}");
        // pg_dump 15.14+ brackets the script with \restrict KEY / \unrestrict KEY, a random key per run.
        return string.Join('\n', output.Split('\n').Where(l => !l.StartsWith("\\restrict ", StringComparison.Ordinal) && !l.StartsWith("\\unrestrict ", StringComparison.Ordinal)));
    }

    public string NewDatabase()
    {
        var db = "lbtest_" + Guid.NewGuid().ToString("N")[..10];
        Psql($"CREATE DATABASE {db}");
        return db;
    }

    public ulong Lsn() => Providers.Postgres.Wal.ParseLsn(Psql("SELECT pg_current_wal_lsn()"));
    public DateTimeOffset ServerNow() => DateTimeOffset.Parse(Psql("SELECT clock_timestamp()"), CultureInfo.InvariantCulture);

    public void DropSlot(string slot) => Psql($"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}' AND NOT active");

    /// <summary>A postgres resource for this server.</summary>
    public static string ResourceYaml(string name, int port, string storePath, string wal = "stream", string user = "lifeboat", string? slot = null, string extra = "") => $"""
        state: state.db
        stores:
          local: {"{"} type: file, path: {storePath} {"}"}
        resources:
          - name: {name}
            type: postgres
            connection: {"{"} host: 127.0.0.1, port: {port}, user: {user}, password_env: LIFEBOAT_TEST_PGPW, database: postgres {"}"}
            target: {"{"} store: local, bucket: pg, prefix: {name}/ {"}"}
            wal: {wal}
            slot: {slot ?? "lbt_" + Guid.NewGuid().ToString("N")[..10]}
            partial_every: 200ms
            base_backup: {"{"} keep: 3 {"}"}
            rpo: 1m{extra}
        """;

    public static PostgresResource Resource(string yaml, string file = "test.yaml") => Configs.Parse(file, yaml).Postgres[0];

    public static void Chown(string path) => Proc.Run("chown", ["-R", "postgres:postgres", path], TimeSpan.FromSeconds(30));

    /// <summary>Stops a server started on a data directory (restored or extra cluster).</summary>
    public void StopDataDir(string dir)
    {
        if (File.Exists(Path.Combine(dir, "postmaster.pid")))
            Proc.Run("runuser", ["-u", "postgres", "--", Path.Combine(Bin, "pg_ctl"), "-D", dir, "-m", "immediate", "-w", "stop"], TimeSpan.FromMinutes(1));
    }

    /// <summary>A small extra cluster with its own settings (deleted on dispose).</summary>
    public Cluster StartClusterAt(int port, string conf)
    {
        var dir = new TempDir();
        Chown(dir.Path);
        var data = Path.Combine(dir.Path, "data");
        var pw = Path.Combine(dir.Path, "pw");
        File.WriteAllText(pw, SuperPassword + "\n");
        Chown(pw);
        var (code, output) = Proc.Run("runuser", ["-u", "postgres", "--", Path.Combine(Bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile=" + pw, "-A", "scram-sha-256", "--auth-local=trust", "--no-sync"], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, "initdb: " + output);
        File.AppendAllText(Path.Combine(data, "postgresql.conf"), $"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{dir.Path}'\nfsync = off\n{conf}\n");
        File.WriteAllText(Path.Combine(data, "pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost replication all 127.0.0.1/32 scram-sha-256\n");
        (code, output) = Proc.Run("runuser", ["-u", "postgres", "--", Path.Combine(Bin, "pg_ctl"), "-D", data, "-l", Path.Combine(dir.Path, "log"), "-w", "start"], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, "pg_ctl start: " + output + (File.Exists(Path.Combine(dir.Path, "log")) ? File.ReadAllText(Path.Combine(dir.Path, "log")) : ""));
        var c = new Cluster(this, dir, data, port);
        Psql("CREATE ROLE lifeboat LOGIN REPLICATION PASSWORD 'lifeboat'", port: port);
        return c;
    }

    public sealed class Cluster(PostgresServer pg, TempDir dir, string data, int port) : IDisposable
    {
        public int Port => port;
        public string Data => data;
        public TempDir Dir => dir;
        public void Dispose()
        {
            pg.StopDataDir(data);
            dir.Dispose();
        }
    }
}

[CollectionDefinition("postgres", DisableParallelization = true)]
public sealed class PostgresCollection;
