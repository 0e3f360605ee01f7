using System.Diagnostics;
using Lifeboat.Core.Config;
using Npgsql;

namespace Lifeboat.Providers.Postgres;

/// <summary>Connections to the protected server, its binaries, and error messages that name the cause.</summary>
public static class PgServer
{
    public static string? Password(PgConnection c)
    {
        if (c.PasswordEnv is null) return null;
        var v = Environment.GetEnvironmentVariable(c.PasswordEnv);
        if (v is null) throw new UserErrorException($"{c.Where}: password_env: environment variable {c.PasswordEnv} is not set");
        return v;
    }

    public static string Describe(PgConnection c) => $"PostgreSQL {c.User}@{c.Host}:{c.Port}";

    public static string ConnectionString(PgConnection c, bool replication = false)
    {
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = c.Host, Port = c.Port, Username = c.User, Database = c.Database, Password = Password(c),
            Timeout = 10, CommandTimeout = 0, ApplicationName = "lifeboat", Pooling = false,
            KeepAlive = 10,
        };
        return b.ConnectionString;
    }

    /// <summary>Turns connection and permission failures into one-line user errors naming the server and the cause.</summary>
    public static Exception Explain(PgConnection c, Exception e, string doing)
    {
        var who = Describe(c);
        switch (e)
        {
            case PostgresException pe when pe.SqlState == "28P01":
                return new UserErrorException($"{who}: password authentication failed for user '{c.User}' (check {c.PasswordEnv ?? "password_env"}) while {doing}");
            case PostgresException pe when pe.SqlState is "28000":
                return new UserErrorException($"{who}: no pg_hba.conf entry or not allowed to connect ({pe.MessageText}) while {doing}");
            case PostgresException pe when pe.SqlState == "42501":
                return new UserErrorException($"{who}: permission denied: {pe.MessageText} while {doing}; the role needs the REPLICATION attribute (ALTER ROLE {c.User} REPLICATION)");
            case PostgresException pe when pe.SqlState == "53300" && pe.MessageText.Contains("max_wal_senders", StringComparison.Ordinal):
                return new UserErrorException($"{who}: {pe.MessageText} while {doing}: the server does not allow replication connections (wal_level must be replica and max_wal_senders > 0)");
            case PostgresException pe when pe.SqlState == "3D000":
                return new UserErrorException($"{who}: database '{c.Database}' does not exist while {doing}");
            case PostgresException pe:
                return new UserErrorException($"{who}: {pe.SqlState}: {pe.MessageText} while {doing}");
            case NpgsqlException ne when ne.InnerException is System.Net.Sockets.SocketException se:
                return new PgUnreachableException($"{who}: cannot connect ({se.SocketErrorCode}: {se.Message}) while {doing}", e);
            case NpgsqlException ne when ne.InnerException is TimeoutException:
                return new PgUnreachableException($"{who}: connection timed out while {doing}", e);
            default:
                return new PgUnreachableException($"{who}: {e.Message} while {doing}", e);
        }
    }

    public static async Task<NpgsqlConnection> OpenAsync(PgConnection c, string doing, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(ConnectionString(c));
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            return conn;
        }
        catch (Exception e) when (e is NpgsqlException or PostgresException)
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw Explain(c, e, doing);
        }
    }

    /// <summary>Checks that the server can feed WAL to Lifeboat: wal_level, 16 MiB segments, replication permission
    /// (stream mode), archive settings (archive mode). Returns the server version.</summary>
    public static async Task<string> CheckAsync(PostgresResource res, CancellationToken ct)
    {
        var c = res.Connection;
        await using var conn = await OpenAsync(c, "checking the server", ct).ConfigureAwait(false);
        async Task<string> Q(string sql)
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            return (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))?.ToString() ?? "";
        }
        var level = await Q("SHOW wal_level").ConfigureAwait(false);
        if (level == "minimal")
            throw new UserErrorException($"{Describe(c)}: wal_level is 'minimal', which cannot be archived or streamed: set wal_level = replica in postgresql.conf and restart the server ({res.Where})");
        var segSize = await Q("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'").ConfigureAwait(false);
        if (segSize != Wal.SegmentSize.ToString(System.Globalization.CultureInfo.InvariantCulture) && segSize != "16777216")
            throw new UserErrorException($"{Describe(c)}: wal_segment_size is {segSize} bytes; Lifeboat supports the default 16 MiB only");
        if (res.Wal == WalMode.Stream)
        {
            var canRepl = await Q("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").ConfigureAwait(false);
            if (canRepl != "True")
                throw new UserErrorException($"{Describe(c)}: role '{c.User}' lacks the REPLICATION attribute needed to stream WAL and take base backups (ALTER ROLE {c.User} REPLICATION)");
            var senders = await Q("SHOW max_wal_senders").ConfigureAwait(false);
            if (senders == "0") throw new UserErrorException($"{Describe(c)}: max_wal_senders is 0: streaming WAL needs at least 2 (set it in postgresql.conf and restart)");
        }
        return await Q("SHOW server_version").ConfigureAwait(false);
    }

    /// <summary>The folder with pg_basebackup, pg_ctl and friends: bin_dir from the config, else the newest
    /// /usr/lib/postgresql/N/bin, else PATH.</summary>
    public static string BinDir(PostgresResource? res)
    {
        if (res?.BinDir is { } d)
        {
            if (!File.Exists(Path.Combine(d, "pg_basebackup"))) throw new UserErrorException($"{res.Where}: bin_dir: {d} has no pg_basebackup");
            return d;
        }
        if (Environment.GetEnvironmentVariable("LIFEBOAT_PG_BIN") is { Length: > 0 } env && File.Exists(Path.Combine(env, "pg_basebackup"))) return env;
        if (Directory.Exists("/usr/lib/postgresql"))
            foreach (var v in Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(x => int.TryParse(Path.GetFileName(x), out var n) ? n : 0))
                if (File.Exists(Path.Combine(v, "bin", "pg_basebackup"))) return Path.Combine(v, "bin");
        foreach (var p in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (p.Length > 0 && File.Exists(Path.Combine(p, "pg_basebackup"))) return p;
        throw new UserErrorException("pg_basebackup not found: install the PostgreSQL client/server package (postgresql-15) or set bin_dir in the resource");
    }

    /// <summary>Runs a command to completion, capturing output; optionally as another user (runuser).</summary>
    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, CancellationToken ct, string? asUser = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(asUser is null ? file : "runuser") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asUser is not null) { psi.ArgumentList.Add("-u"); psi.ArgumentList.Add(asUser); psi.ArgumentList.Add("--"); psi.ArgumentList.Add(file); }
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var o = p.StandardOutput.ReadToEndAsync(ct);
        var e = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        return (p.ExitCode, (await o.ConfigureAwait(false)) + (await e.ConfigureAwait(false)));
    }
}

/// <summary>The server cannot be reached (retrying may help).</summary>
public sealed class PgUnreachableException(string message, Exception? inner = null) : Exception(message, inner), Lifeboat.Abstractions.IClassifiedError
{
    public Lifeboat.Abstractions.ErrorClass Class => Lifeboat.Abstractions.ErrorClass.Transient;
}
