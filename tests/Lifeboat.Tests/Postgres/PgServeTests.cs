using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Lifeboat.Core.Storage;
using Lifeboat.Providers.Postgres;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Postgres;

/// <summary>
/// <c>lifeboat serve</c> protects a postgres resource like every other kind (issue 15, ADR 0010): it lists it with its
/// kind at start-up, streams its WAL while pgbench writes, and a point-in-time restore from what serve shipped equals a
/// pg_dump taken at that time. A runbook's <c>replication: stop</c> step on it is acknowledged (it used to wait for its
/// 30-minute timeout), the API shows the mode with the kind, and the WAL streamer lets go of its slot.
/// </summary>
[Collection("postgres")]
public sealed class PgServeTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly PostgresServer _pg = PostgresServer.Instance;

    [Fact]
    public async Task Serve_StreamsWalUnderPgbench_PitrEqualsDumpAtThatTime_AndARunbookStopsIt()
    {
        using var dir = new TempDir();
        var db = _pg.NewDatabase();
        var servePort = PostgresServer.NextPort();
        var cfg = dir.File("lb.yaml", PostgresServer.ResourceYaml("served", _pg.Port, dir.Sub("store"), extra: $$"""

            serve: { listen: 127.0.0.1:{{servePort}}, token: s3cret }
            runbooks:
              stop-db:
                steps:
                  - name: stop-wal
                    replication: { resource: served, action: stop }
                    timeout: 60s
            """));
        var res = PostgresServer.Resource(File.ReadAllText(cfg));
        var archive = PgArchive.For(res, new FileStore("local", Path.Combine(dir.Path, "store")));
        var env = new Dictionary<string, string?> { ["LIFEBOAT_TEST_PGPW"] = PostgresServer.Password };
        var api = $"http://127.0.0.1:{servePort}";
        try
        {
            _pg.Pgbench(db, "-i", "-s", "1", "-q");
            var (code, text) = LifeboatCli.Run(dir.Path, env, "pg", "backup", "-c", cfg, "-r", "served");
            Assert.True(code == 0, text);

            DateTimeOffset t;
            string dumpAtT;
            var output = new StringBuilder();
            string Out() { lock (output) return output.ToString(); }
            using var serve = LifeboatCli.Start(dir.Path, env, output, "serve", "-c", cfg);
            try
            {
                await Eventually.TrueAsync(() => Out().Contains("streaming WAL from"), TimeSpan.FromSeconds(60), () => "serve streams WAL\n" + Out());
                Assert.Contains("protecting served (postgres 127.0.0.1:", Out());

                _pg.Pgbench(db, "-n", "-t", "300", "-c", "2");
                _pg.Psql("UPDATE pgbench_branches SET bbalance = 7", db);
                t = _pg.ServerNow();
                dumpAtT = _pg.Dump(db);
                _pg.Pgbench(db, "-n", "-t", "300", "-c", "2"); // after T: must not be in the restore
                _pg.Psql("UPDATE pgbench_branches SET bbalance = 8", db);
                var after = _pg.Lsn();
                await Eventually.TrueAsync(async () => (await archive.GetTipAsync(default)) is { } tip && Wal.ParseLsn(tip.Lsn) >= after,
                    TimeSpan.FromSeconds(60), () => "serve archived the WAL past T\n" + Out());

                // The API lists the resource with its kind; a runbook stops its protection and the step is acknowledged.
                using (var status = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/status")))
                {
                    var row = status.RootElement.GetProperty("replication").EnumerateArray().Single();
                    Assert.Equal("served", row.GetProperty("resource").GetString());
                    Assert.Equal("postgres", row.GetProperty("type").GetString());
                    Assert.Equal("forward", row.GetProperty("mode").GetString());
                }
                long id;
                using (var req = new HttpRequestMessage(HttpMethod.Post, $"{api}/api/failover?runbook=stop-db"))
                {
                    req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
                    using var resp = await Http.SendAsync(req);
                    var body = await resp.Content.ReadAsStringAsync();
                    Assert.True((int)resp.StatusCode == 202, body);
                    using var created = JsonDocument.Parse(body);
                    id = created.RootElement.GetProperty("execution").GetInt64();
                }
                string? final = null;
                await Eventually.TrueAsync(async () =>
                {
                    using var e = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/executions/{id}"));
                    final = e.RootElement.GetProperty("execution").GetProperty("status").GetString();
                    return final is "succeeded" or "failed";
                }, TimeSpan.FromSeconds(45), () => "the stop-db execution ends\n" + Out());
                Assert.True(final == "succeeded", Out());
                using (var status = JsonDocument.Parse(await Http.GetStringAsync($"{api}/api/status")))
                    Assert.Equal("stopped", status.RootElement.GetProperty("replication")[0].GetProperty("mode").GetString());

                // Stopped: the streamer let go of the slot (the server keeps the WAL for when protection resumes).
                await Eventually.TrueAsync(() => _pg.Psql($"SELECT active FROM pg_replication_slots WHERE slot_name = '{res.Slot}'") == "f",
                    TimeSpan.FromSeconds(30), () => "the WAL streamer stops\n" + Out());
            }
            finally
            {
                if (!serve.HasExited) { serve.Kill(); serve.WaitForExit(); }
            }

            var target = Path.Combine(dir.Path, "restored");
            var port = PostgresServer.NextPort();
            try
            {
                (code, text) = LifeboatCli.Run(dir.Path, env, "pg", "restore", "-c", cfg, "-r", "served", "--target-dir", target,
                    "--time", t.ToString("O", CultureInfo.InvariantCulture), "--start", "--port", port.ToString(CultureInfo.InvariantCulture));
                Assert.True(code == 0, text);
                Assert.Equal(dumpAtT, _pg.Dump(db, port));
            }
            finally { _pg.StopDataDir(target); }
        }
        finally
        {
            _pg.DropSlot(res.Slot);
            _pg.Psql($"DROP DATABASE {db}");
        }
    }
}
