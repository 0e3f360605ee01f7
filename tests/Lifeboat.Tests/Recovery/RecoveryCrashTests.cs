using System.Text;
using Lifeboat.Recovery;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Recovery;

/// <summary>kill -9 of a `lifeboat failover` process in the middle of a runbook, then a restart: the execution
/// resumes at the interrupted step, completed steps' side effects happen exactly once, and a second process cannot
/// drive the same execution at the same time.</summary>
public sealed class RecoveryCrashTests
{
    private const string Config = """
        state: state.db
        stores:
          routing: { type: routes, path: routing.json }
        runbooks:
          failover-app:
            steps:
              - name: prepare
                exec: echo prepare >> side-effects.txt
              - name: settle
                needs: [prepare]
                wait: 6s
              - name: scale-up
                needs: [settle]
                exec: echo scale-up >> side-effects.txt
              - name: switch
                needs: [scale-up]
                dns: { store: routing, record: app.example.internal, type: A, value: 127.0.0.2, ttl: 5, gate: none }
              - name: announce
                needs: [switch]
                exec: echo announce >> side-effects.txt
        """;

    [Fact]
    public async Task Kill9DuringAWaitStep_RestartResumesThere_CompletedStepsRunOnce()
    {
        using var dir = new TempDir();
        // The killed run waits 10 minutes in the settle step, so the kill cannot come after the wait ended however slow
        // the test is; the restart runs the same runbook with the wait at 6 s, which counts from the step's first start.
        var cfg = dir.File("lifeboat.yaml", Config.Replace("wait: 6s", "wait: 10m"));
        var side = Path.Combine(dir.Path, "side-effects.txt");
        var output = new StringBuilder();
        using (var p = LifeboatCli.Start(dir.Path, null, output, "failover", "-c", cfg, "--yes"))
        {
            // Kill once the wait step has durably started (prepare is done).
            await Eventually.TrueAsync(() =>
            {
                using var s = new ExecutionStore(Path.Combine(dir.Path, "state.db"));
                return s.List(1).FirstOrDefault() is { } e && s.Steps(e.Id).Any(x => x.Step == "settle" && x.Status == "running");
            }, TimeSpan.FromSeconds(60), () => "the settle step runs\n" + output);
            Assert.False(p.HasExited, output.ToString());
            p.Kill(entireProcessTree: false); // SIGKILL
            await p.WaitForExitAsync();
        }
        File.WriteAllText(cfg, Config);
        Assert.Equal(["prepare"], File.ReadAllLines(side));
        long id;
        using (var s = new ExecutionStore(Path.Combine(dir.Path, "state.db")))
        {
            var e = Assert.Single(s.List());
            id = e.Id;
            Assert.Equal(ExecutionStore.Running, e.Status);
            Assert.Equal("running", s.Steps(id).Single(x => x.Step == "settle").Status);
        }

        var (code, text) = LifeboatCli.Run(dir.Path, null, "failover", "-c", cfg, "--yes");
        Assert.True(code == 0, text);
        Assert.Contains($"resuming execution {id}", text);
        Assert.Contains("resuming at step settle", text);
        Assert.Equal(["prepare", "scale-up", "announce"], File.ReadAllLines(side)); // each once
        Assert.Contains("127.0.0.2", File.ReadAllText(Path.Combine(dir.Path, "routing.json")));
        using (var s = new ExecutionStore(Path.Combine(dir.Path, "state.db")))
        {
            Assert.Equal(ExecutionStore.Succeeded, s.Get(id)!.Status);
            var steps = s.Steps(id).ToDictionary(x => x.Step);
            Assert.Equal(1, steps["prepare"].Attempts);
            Assert.Equal(2, steps["settle"].Attempts);
            Assert.True(steps["settle"].EndedAt - steps["settle"].StartedAt >= 6000, "the wait counts from its first start");
            Assert.Contains(s.Events(id), ev => ev.Kind == "resumed" && ev.Step == "settle");
        }
        // The report shows the phases.
        var (rc, report) = LifeboatCli.Run(dir.Path, null, "report", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c", cfg);
        Assert.True(rc == 0, report);
        Assert.Contains("TRAFFIC SWITCHED", report);
        Assert.Contains("resumed", report);
        Assert.Contains("RTO (measured)", report);
    }

    [Fact]
    public async Task SecondProcess_CannotDriveTheSameExecution()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", Config.Replace("wait: 6s", "wait: 10m"));
        var output = new StringBuilder();
        using var p = LifeboatCli.Start(dir.Path, null, output, "failover", "-c", cfg, "--yes");
        try
        {
            await Eventually.TrueAsync(() => File.Exists(Path.Combine(dir.Path, "side-effects.txt")), TimeSpan.FromSeconds(60), () => "prepare ran\n" + output);
            var (code, text) = LifeboatCli.Run(dir.Path, null, "failover", "-c", cfg, "--yes");
            Assert.Equal(2, code);
            Assert.Contains("being run by another lifeboat process", text);
            Assert.Equal(["prepare"], File.ReadAllLines(Path.Combine(dir.Path, "side-effects.txt")));
        }
        finally
        {
            p.Kill(entireProcessTree: false);
            await p.WaitForExitAsync();
        }
    }
}
