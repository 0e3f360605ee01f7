using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Scheduling;
using Lifeboat.Core.Storage;
using Lifeboat.Providers.Postgres;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Postgres;

/// <summary>The <c>type: postgres</c> config (issue 4), the cron parser and the backup schedule (FakeTimeProvider).</summary>
public sealed class PgConfigAndCronTests
{
    private const string Example = """
        stores:
          recovery: { type: file, path: /tmp/x }
        resources:
          - name: main-db
            type: postgres
            connection: { host: 127.0.0.1, port: 5432, user: lifeboat, password_env: PGPASSWORD, database: postgres }
            target: { store: recovery, bucket: db-backups, prefix: main-db/ }
            wal: stream
            base_backup: { schedule: "0 3 * * *", keep: 7 }
            rpo: 1m
        """;

    [Fact]
    public void IssueExample_Loads()
    {
        var cfg = Configs.Parse("l.yaml", Example);
        var p = Assert.Single(cfg.Postgres);
        Assert.Equal("main-db", p.Name);
        Assert.Equal(("127.0.0.1", 5432, "lifeboat", "PGPASSWORD", "postgres"), (p.Connection.Host, p.Connection.Port, p.Connection.User, p.Connection.PasswordEnv, p.Connection.Database));
        Assert.Equal(("recovery", "db-backups", "main-db/"), (p.Target.Store, p.Target.Bucket, p.Target.Prefix));
        Assert.Equal(WalMode.Stream, p.Wal);
        Assert.Equal("0 3 * * *", p.BaseBackup.Schedule!.Expression);
        Assert.Equal(7, p.BaseBackup.Keep);
        Assert.Equal(TimeSpan.FromMinutes(1), p.Rpo);
        Assert.Equal("lifeboat_main_db", p.Slot);
        Assert.Empty(cfg.Resources);
        Assert.Same(p, cfg.PostgresResource("main-db"));
    }

    [Theory]
    [InlineData("wal: stream", "wal: logical", 8, "wal", "logical")]
    [InlineData("schedule: \"0 3 * * *\"", "schedule: \"0 25 * * *\"", 9, "base_backup.schedule", "Hours:")]
    [InlineData("schedule: \"0 3 * * *\"", "schedule: \"0 3 * *\"", 9, "base_backup.schedule", "expected 5 fields")]
    [InlineData("keep: 7", "keep: 0", 9, "base_backup.keep", "")]
    [InlineData("prefix: main-db/", "prefix: main-db", 7, "target.prefix", "must end with '/'")]
    [InlineData("user: lifeboat, ", "", 6, "connection.user", "required")]
    [InlineData("store: recovery,", "store: nowhere,", 7, "target.store", "not defined")]
    [InlineData("rpo: 1m", "rpo: 1m\n    slot: Bad-Slot", 11, "slot", "not a valid replication slot name")]
    public void BadInput_NamesFileLineAndKey(string from, string to, int line, string key, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Configs.Parse("c.yaml", Example.Replace(from, to)));
        Assert.StartsWith($"c.yaml:{line}:", e.Message);
        Assert.Contains(key, e.Message);
        Assert.Contains(message, e.Message);
    }

    private static DateTimeOffset T(string s) => DateTimeOffset.Parse(s, System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("0 3 * * *", "2026-11-22T02:59:00Z", "2026-11-22T03:00:00Z")]
    [InlineData("0 3 * * *", "2026-11-22T03:00:00Z", "2026-11-23T03:00:00Z")]
    [InlineData("*/15 * * * *", "2026-11-22T10:07:30Z", "2026-11-22T10:15:00Z")]
    [InlineData("0 */6 * * *", "2026-11-22T13:00:00Z", "2026-11-22T18:00:00Z")]
    [InlineData("30 2 1 * *", "2026-11-22T00:00:00Z", "2026-12-01T02:30:00Z")]
    [InlineData("0 0 * * mon", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z")]   // 2026-11-22 is a Sunday
    [InlineData("0 0 * * 7", "2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z")]     // 7 = Sunday
    [InlineData("0 0 13 * fri", "2026-11-01T00:00:00Z", "2026-11-06T00:00:00Z")]  // either day field matches
    [InlineData("0 12 29 feb *", "2026-03-01T00:00:00Z", "2028-02-29T12:00:00Z")]
    [InlineData("5-10/5 1,2 * jan-mar *", "2026-11-22T00:00:00Z", "2027-01-01T01:05:00Z")]
    public void Cron_Next(string expr, string after, string expected) =>
        Assert.Equal(T(expected), Cron.Parse(expr).Next(T(after)));

    [Theory]
    [InlineData("* * * *")]
    [InlineData("60 * * * *")]
    [InlineData("* * 0 * *")]
    [InlineData("*/0 * * * *")]
    [InlineData("5-1 * * * *")]
    [InlineData("* * * foo *")]
    public void Cron_RejectsBadExpressions(string expr) => Assert.Throws<FormatException>(() => Cron.Parse(expr));

    [Fact]
    public void Cron_ImpossibleDateIsRejected() => Assert.Throws<FormatException>(() => Cron.Parse("0 0 30 feb *"));

    [Fact]
    public async Task Schedule_RunsBackupsAtCronTimes_OnTheInjectedClock()
    {
        var cfg = Configs.Parse("l.yaml", Example.Replace("0 3 * * *", "0 */6 * * *"));
        var res = cfg.Postgres[0];
        var clock = new FakeTimeProvider(T("2026-11-22T05:59:00Z"));
        var runs = new List<DateTimeOffset>();
        using var dir = new TempDir();
        var p = new PgProtector(res, new FileStore("f", dir.Path), clock, NullLogger.Instance)
        {
            BackupAction = _ => { lock (runs) runs.Add(clock.GetUtcNow()); return Task.CompletedTask; },
        };
        using var stop = new CancellationTokenSource();
        var loop = p.ScheduleLoopAsync(stop.Token);
        async Task AdvanceAndSettle(TimeSpan by, int expected)
        {
            clock.Advance(by);
            await Eventually.TrueAsync(() => { lock (runs) return runs.Count == expected; }, TimeSpan.FromSeconds(10), $"{expected} backups");
        }
        await Eventually.TrueAsync(() => p.NextBackupAt == T("2026-11-22T06:00:00Z"), TimeSpan.FromSeconds(10), "armed for 06:00");
        await AdvanceAndSettle(TimeSpan.FromSeconds(59), 0);
        await AdvanceAndSettle(TimeSpan.FromSeconds(1), 1);     // 06:00
        await Eventually.TrueAsync(() => p.NextBackupAt == T("2026-11-22T12:00:00Z"), TimeSpan.FromSeconds(10), "re-armed for 12:00");
        await AdvanceAndSettle(TimeSpan.FromHours(5), 1);       // 11:00: nothing
        await AdvanceAndSettle(TimeSpan.FromHours(1), 2);       // 12:00
        Assert.Equal([T("2026-11-22T06:00:00Z"), T("2026-11-22T12:00:00Z")], runs);
        stop.Cancel();
        await loop;
    }
}
