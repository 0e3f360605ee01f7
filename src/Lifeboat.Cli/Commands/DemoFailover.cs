using System.Diagnostics;
using System.Net;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.Traffic;
using Lifeboat.Recovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Commands;

/// <summary>
/// The failover half of <c>lifeboat demo</c>, still on embedded defaults: a small HTTP service runs in the "primary"
/// (127.0.0.1) and the "recovery" (127.0.0.2) region on the same port; a local routing file (a <c>type: routes</c>
/// store) says where app.demo.internal points. The primary fails; Lifeboat's check detects it (3 failed probes 500 ms
/// apart), runs the runbook (recovery healthy? pause replication, switch the routing file if the recovery service
/// passes at that moment, verify), and prints the timeline with the measured RTO in parts.
/// </summary>
public static class DemoFailover
{
    public const string Record = "app.demo.internal";

    /// <summary>The config sections the demo adds (the port is picked when the demo starts).</summary>
    public static string ConfigSections(int port) => $$"""

        checks:
          - name: primary-app
            http: { url: http://127.0.0.1:{{port}}/health, expect_status: 200 }
            interval: 500ms
            timeout: 400ms
            failure_threshold: 3
            on_failure: { runbook: failover-app, approval: auto }
        runbooks:
          failover-app:
            steps:
              - name: recovery-healthy
                probe: { http: { url: http://127.0.0.2:{{port}}/health, body_contains: recovery } }
                timeout: 30s
              - name: pause-replication
                replication: { resource: photos, action: pause }
              - name: switch
                needs: [recovery-healthy, pause-replication]
                dns: { store: routing, record: {{Record}}, type: A, value: 127.0.0.2, ttl: 5 }
              - name: verify
                needs: [switch]
                probe: { http: { url: http://127.0.0.2:{{port}}/health, body_contains: recovery } }
        """;

    public static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task<WebApplication> ServiceAsync(IPAddress ip, int port, string region, CancellationToken ct)
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.ConfigureKestrel(k => { k.Listen(ip, port); k.AddServerHeader = false; });
        var app = b.Build();
        app.MapGet("/health", () => Results.Text($"ok: {region} region\n"));
        try { await app.StartAsync(ct).ConfigureAwait(false); }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new UserErrorException($"demo: cannot start the {region} service on {ip}:{port}: {e.Message}");
        }
        return app;
    }

    public static async Task<bool> RunAsync(Runtime rt, int port, CancellationToken ct)
    {
        var cfg = rt.Config;
        using var rec = new RecoveryRuntime(rt);
        var primaryApp = await ServiceAsync(IPAddress.Loopback, port, "primary", ct).ConfigureAwait(false);
        await using var recoveryApp = await ServiceAsync(IPAddress.Parse("127.0.0.2"), port, "recovery", ct).ConfigureAwait(false);
        var routing = rec.Traffic("routing");
        await routing.SetAsync(new DnsRecordSet(Record, "A", ["127.0.0.1"], 5), ct).ConfigureAwait(false);
        Console.WriteLine($"\n8. A service in two regions: primary http://127.0.0.1:{port}, recovery http://127.0.0.2:{port}; " +
                          $"routing.json sends {Record} to 127.0.0.1. Lifeboat probes the primary every 500 ms (3 failures = down).");

        var check = cfg.Recovery.Checks.Single(c => c.Name == "primary-app");
        var monitor = new CheckMonitor(check, rec.Context.Probes.Create(check.Probe), rt.Time);
        var started = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        rec.Dispatcher.Started += id => started.TrySetResult(id);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var monitoring = monitor.RunAsync(t => rec.Dispatcher.OnCheckAsync(check, t, stop.Token), stop.Token);
        var sw = Stopwatch.StartNew();
        while (monitor.Observations < 3 && sw.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(50, ct).ConfigureAwait(false);
        if (monitor.Last?.Ok != true) throw new UserErrorException($"demo: the primary service does not answer its health check: {monitor.Last?.Detail}");

        // The outage.
        var stoppedAt = rt.Time.GetUtcNow();
        await primaryApp.StopAsync(ct).ConfigureAwait(false);
        await primaryApp.DisposeAsync().ConfigureAwait(false);
        Console.WriteLine($"9. {stoppedAt:HH:mm:ss.fff} the primary service stops.");
        var id = await started.Task.WaitAsync(TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        Console.WriteLine($"10. Lifeboat detected the fault and started execution {id} of runbook failover-app (approval: auto).");
        while (rec.Executions.Get(id)!.Active)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(120)) throw new UserErrorException($"demo: execution {id} did not finish in time");
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
        await stop.CancelAsync().ConfigureAwait(false);
        await monitoring.ConfigureAwait(false);
        await rec.Dispatcher.DrainAsync().ConfigureAwait(false);

        var report = Reports.Build(rec.Executions, id);
        var now = await routing.GetAsync(Record, "A", ct).ConfigureAwait(false);
        var mode = ReplicationControl.Get(rt.State, "photos");
        Console.WriteLine($"11. Execution {id} {report.Execution.Status}: routing.json now sends {Record} to {string.Join(",", now?.Values ?? [])}; " +
                          $"replication of photos is {ReplicationControl.Name(mode)}.\n");
        foreach (var line in Reports.Render(report).Split('\n').Where(l => l.Length > 0)) Console.WriteLine("    " + line);
        if (report.Rto.SwitchedAt is { } sat)
            Console.WriteLine($"\n    From the moment the primary stopped to the routing switch: {(sat - stoppedAt.ToUnixTimeMilliseconds()) / 1000.0:0.000}s " +
                              "(the RTO above starts at the first failed probe, which came after the stop).");
        Console.WriteLine($"\nTry: ./lifeboat report {id} -c {cfg.File}   ./lifeboat executions -c {cfg.File}   ./lifeboat runbook plan -c {cfg.File}");
        return report.Execution.Status == ExecutionStore.Succeeded && now?.Values.SequenceEqual(["127.0.0.2"]) == true && mode == ReplicationMode.Paused;
    }
}
