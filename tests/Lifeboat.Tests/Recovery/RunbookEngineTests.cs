using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Recovery;
using Xunit;

namespace Lifeboat.Tests.Recovery;

public sealed class RunbookEngineTests
{
    private static string Exec(string name, string text, string? extra = null, string? needs = null) =>
        $"      - name: {name}\n        exec: echo {text} | tee -a order.txt\n" + (needs is null ? "" : $"        needs: [{needs}]\n") + (extra ?? "");

    [Fact]
    public async Task Dag_RunsEachStepAfterItsNeeds_OnceEach()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n" +
                                        Exec("d", "d", needs: "b, c") + Exec("b", "b", needs: "a") + Exec("c", "c", needs: "a") + Exec("a", "a"));
        Assert.Equal(["a", "b", "c", "d"], h.Config.Recovery.Runbooks["rb"].Order);
        var id = h.Start("rb");
        var r = await h.RunAsync(id);
        Assert.Equal(ExecutionStore.Succeeded, r.Status);
        var lines = h.Lines("order.txt");
        Assert.Equal(4, lines.Length);
        Assert.Equal("a", lines[0]);
        Assert.Equal("d", lines[3]);
        Assert.Equal(["b", "c"], lines[1..3].Order());
        Assert.All(h.Executions.Steps(id), s => Assert.Equal(1, s.Attempts));
        Assert.Contains("a", h.Step(id, "a").Output); // output captured
    }

    [Fact]
    public async Task Retries_WithDoublingBackoff_OnTheClock()
    {
        // Fails on the first two attempts, succeeds on the third.
        using var h = new EngineHarness("""
            runbooks:
              rb:
                steps:
                  - name: flaky
                    exec: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt $n; [ $n -ge 3 ]
                    retries: 3
                    backoff: 10s
            """);
        var id = h.Start("rb");
        var started = h.Clock.GetUtcNow();
        var r = await h.RunAsync(id, TimeSpan.FromSeconds(1));
        Assert.Equal(ExecutionStore.Succeeded, r.Status);
        Assert.Equal(3, h.Step(id, "flaky").Attempts);
        var retries = h.Executions.Events(id).Where(e => e.Kind == "step-retry").Select(e => e.Message).ToList();
        Assert.Equal(2, retries.Count);
        Assert.Contains("retrying in 10s", retries[0]);
        Assert.Contains("retrying in 20s", retries[1]);
        Assert.True(h.Clock.GetUtcNow() - started >= TimeSpan.FromSeconds(30), "the backoffs (10 s + 20 s) elapse on the clock");
        Assert.Equal(TimeSpan.FromMinutes(5), RunbookEngine.Backoff(TimeSpan.FromSeconds(10), 30));
    }

    [Fact]
    public async Task RetriesExhausted_FailsTheExecution_AndSkipsDependents()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n      - name: bad\n        exec: exit 3\n        retries: 1\n        backoff: 1s\n" + Exec("after", "after", needs: "bad"));
        var id = h.Start("rb");
        var r = await h.RunAsync(id);
        Assert.Equal(ExecutionStore.Failed, r.Status);
        Assert.Contains("exit code 3", r.Error);
        Assert.Equal(2, h.Step(id, "bad").Attempts);
        Assert.Equal("skipped", h.Step(id, "after").Status);
        Assert.Empty(h.Lines("order.txt"));
    }

    [Fact]
    public async Task OnFailureContinue_DependentsStillRun()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n      - name: optional\n        exec: exit 1\n        on_failure: continue\n" + Exec("after", "after", needs: "optional"));
        var id = h.Start("rb");
        var r = await h.RunAsync(id);
        Assert.Equal(ExecutionStore.Succeeded, r.Status);
        Assert.Equal("failed", h.Step(id, "optional").Status);
        Assert.Equal(["after"], h.Lines("order.txt"));
    }

    [Fact]
    public async Task OnFailureRun_RunsTheHandler_ThenStops()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n      - name: switch\n        exec: exit 1\n        on_failure: { run: rollback }\n" +
                                        Exec("after", "after", needs: "switch") + Exec("rollback", "rollback"));
        var id = h.Start("rb");
        var r = await h.RunAsync(id);
        Assert.Equal(ExecutionStore.Failed, r.Status);
        Assert.Equal(["rollback"], h.Lines("order.txt"));
        Assert.Equal("succeeded", h.Step(id, "rollback").Status);
        Assert.Equal("skipped", h.Step(id, "after").Status);
    }

    [Fact]
    public async Task HandlerNotNeeded_IsNotRun()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n" + Exec("ok", "ok", "        on_failure: { run: rollback }\n") + Exec("rollback", "rollback"));
        var id = h.Start("rb");
        Assert.Equal(ExecutionStore.Succeeded, (await h.RunAsync(id)).Status);
        Assert.Equal(["ok"], h.Lines("order.txt"));
    }

    [Fact]
    public async Task StepTimeout_FailsTheStep_OnTheClock()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n      - name: slow\n        wait: 1h\n        timeout: 5s\n");
        var id = h.Start("rb");
        var r = await h.RunAsync(id, TimeSpan.FromSeconds(1));
        Assert.Equal(ExecutionStore.Failed, r.Status);
        Assert.Contains("timed out after 5s", h.Step(id, "slow").Error);
    }

    [Fact]
    public async Task WaitStep_WaitsOnTheClock()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n      - name: settle\n        wait: 30s\n" + Exec("after", "after", needs: "settle"));
        var id = h.Start("rb");
        var t0 = h.Clock.GetUtcNow();
        await h.RunAsync(id, TimeSpan.FromSeconds(5));
        var s = h.Step(id, "settle");
        Assert.True(s.EndedAt - s.StartedAt >= 30_000);
        Assert.True(h.Clock.GetUtcNow() - t0 >= TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ApprovalStep_WaitsForApprove()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n      - name: ok-to-switch\n        approval: { message: switch traffic? }\n" + Exec("after", "after", needs: "ok-to-switch"));
        var id = h.Start("rb");
        var run = h.Engine.RunAsync(id, CancellationToken.None);
        await Infrastructure.Eventually.TrueAsync(() => h.Step(id, "ok-to-switch").Status == "waiting", TimeSpan.FromSeconds(10), "the approval step waits");
        var timers = h.Clock.TimersCreated;
        h.Clock.Advance(TimeSpan.FromMinutes(10));
        // Woken by the clock, it looked for an approval, found none and waits again (a new timer on the clock).
        await Infrastructure.Eventually.TrueAsync(() => h.Clock.TimersCreated > timers, TimeSpan.FromSeconds(10), "the approval step waits again");
        Assert.False(run.IsCompleted);
        Assert.Equal("waiting", h.Step(id, "ok-to-switch").Status);
        Assert.Empty(h.Lines("order.txt"));
        var approved = RunbookEngine.Approve(h.Executions, id, h.Context.NowMs, "tester");
        Assert.Equal(["step ok-to-switch"], approved);
        var r = await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(ExecutionStore.Succeeded, r.Status);
        Assert.Equal(["after"], h.Lines("order.txt"));
        Assert.Throws<UserErrorException>(() => RunbookEngine.Approve(h.Executions, id, h.Context.NowMs, "tester"));
    }

    [Fact]
    public async Task ManualApproval_DecisionWaitsForApprove()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n" + Exec("a", "a"));
        var id = h.Start("rb", ApprovalMode.Manual);
        Assert.Equal(ExecutionStore.AwaitingApproval, h.Executions.Get(id)!.Status);
        var timers = h.Clock.TimersCreated;
        var run = h.Engine.RunAsync(id, CancellationToken.None);
        // It waits on the clock for the decision (a timer on it), without running the runbook.
        await Infrastructure.Eventually.TrueAsync(() => h.Clock.TimersCreated > timers, TimeSpan.FromSeconds(10), "the execution waits for the decision");
        Assert.False(run.IsCompleted);
        Assert.Equal(ExecutionStore.AwaitingApproval, h.Executions.Get(id)!.Status);
        Assert.Empty(h.Lines("order.txt"));
        h.Clock.Advance(TimeSpan.FromSeconds(42));
        RunbookEngine.Approve(h.Executions, id, h.Context.NowMs, "oncall");
        var r = await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(ExecutionStore.Succeeded, r.Status);
        var rep = Reports.Build(h.Executions, id);
        Assert.Equal(42_000, rep.Rto.DecisionMs);
        Assert.Contains(rep.Timeline, e => e.Kind == "decision" && e.Message.Contains("approved by oncall"));
    }

    [Fact]
    public void OneActiveExecutionPerRunbook()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n" + Exec("a", "a"));
        var id = h.Start("rb");
        var e = Assert.Throws<ActiveExecutionException>(() => h.Start("rb"));
        Assert.Equal(id, e.Id);
    }

    [Fact]
    public async Task Resume_AfterCrash_RerunsOnlyTheInterruptedStep()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n" + Exec("a", "a") + Exec("b", "b", needs: "a") + Exec("c", "c", needs: "b"));
        var id = h.Start("rb");
        // What a process killed during b leaves behind: a succeeded, b running.
        h.Executions.StepStarted(id, "a", h.Context.NowMs);
        h.Executions.StepFinished(id, "a", "succeeded", h.Context.NowMs, "a", null);
        h.Executions.StepStarted(id, "b", h.Context.NowMs);
        var r = await h.RunAsync(id);
        Assert.Equal(ExecutionStore.Succeeded, r.Status);
        Assert.Equal(["b", "c"], h.Lines("order.txt"));
        Assert.Equal(2, h.Step(id, "b").Attempts);
        Assert.Contains(h.Executions.Events(id), e => e.Kind == "resumed" && e.Step == "b");
    }

    [Fact]
    public async Task ResumedWait_OnlyWaitsWhatIsLeft()
    {
        using var h = new EngineHarness("runbooks:\n  rb:\n    steps:\n      - name: settle\n        wait: 60s\n");
        var id = h.Start("rb");
        h.Executions.StepStarted(id, "settle", h.Context.NowMs);
        h.Clock.Advance(TimeSpan.FromSeconds(50));
        var t = h.Clock.GetUtcNow();
        await h.RunAsync(id, TimeSpan.FromSeconds(1));
        Assert.InRange((h.Clock.GetUtcNow() - t).TotalSeconds, 10, 12);
    }

    [Fact]
    public async Task ReplicationStep_SetsTheMode_WithoutARunningReplicator()
    {
        using var h = new EngineHarness("""
            stores:
              p: { type: file, path: p }
              r: { type: file, path: r }
            resources:
              - name: photos
                source: { store: p, bucket: a }
                target: { store: r, bucket: b }
            runbooks:
              rb:
                steps:
                  - name: pause
                    replication: { resource: photos, action: reverse }
            """);
        var id = h.Start("rb");
        Assert.Equal(ExecutionStore.Succeeded, (await h.RunAsync(id)).Status);
        Assert.Equal(ReplicationMode.Reversed, ReplicationControl.Get(h.State, "photos"));
        Assert.Contains("forward -> reversed", h.Step(id, "pause").Output);
    }

    [Fact]
    public async Task Notify_PostsSlackCompatibleJson()
    {
        using var hook = new Infrastructure.RecordingHttpServer();
        using var h = new EngineHarness($"runbooks:\n  rb:\n    steps:\n      - name: tell\n        notify: {{ url: {hook.Url}hook, text: DR drill }}\n");
        var id = h.Start("rb");
        Assert.Equal(ExecutionStore.Succeeded, (await h.RunAsync(id)).Status);
        var body = Assert.Single(hook.Bodies);
        using var doc = System.Text.Json.JsonDocument.Parse(body);
        Assert.StartsWith("DR drill: Lifeboat failover", doc.RootElement.GetProperty("text").GetString());
        Assert.Equal(id, doc.RootElement.GetProperty("execution").GetInt64());
    }

    private const string Switch = """
        stores:
          routing: { type: routes, path: routing.json }
        runbooks:
          rb:
            steps:
              - name: switch
                dns: { store: routing, record: app.example.internal, type: A, value: VALUE, ttl: 5, gate: GATE, hold_down: 2m }
        """;

    [Fact]
    public async Task DnsGate_RefusesTheSwitch_WhenTheTargetFailsNow()
    {
        using var svc = new Infrastructure.RecordingHttpServer();
        svc.Healthy = false;
        using var h = new EngineHarness(Switch.Replace("VALUE", "127.0.0.2").Replace("gate: GATE", "gate: [target]") + "\n" + $$"""
            checks:
              - name: target
                http: { url: {{svc.Url}}health }
            """);
        var id = h.Start("rb");
        var r = await h.RunAsync(id);
        Assert.Equal(ExecutionStore.Failed, r.Status);
        Assert.Contains("switch refused by the gate: target fails now", h.Step(id, "switch").Error);
        Assert.False(File.Exists(h.Path("routing.json"))); // nothing written
        svc.Healthy = true;
        var id2 = h.Start("rb");
        Assert.Equal(ExecutionStore.Succeeded, (await h.RunAsync(id2)).Status);
        Assert.Contains("127.0.0.2", File.ReadAllText(h.Path("routing.json")));
    }

    [Fact]
    public async Task DnsHoldDown_RefusesASecondChangeTooSoon()
    {
        using var h = new EngineHarness(Switch.Replace("VALUE", "127.0.0.2").Replace("GATE", "none") +
                                        "\n  back:\n    steps:\n      - name: switch\n        dns: { store: routing, record: app.example.internal, type: A, value: 127.0.0.1, ttl: 5, gate: none, hold_down: 2m }\n");
        Assert.Equal(ExecutionStore.Succeeded, (await h.RunAsync(h.Start("rb"))).Status);
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        var back = h.Engine.Create("back", RunbookEngine.KindFailback, "test", ApprovalMode.Auto, null, null, "flap");
        var r = await h.RunAsync(back, TimeSpan.Zero);
        Assert.Equal(ExecutionStore.Failed, r.Status);
        Assert.Contains("hold-down 2m00s", h.Step(back, "switch").Error);
        Assert.Contains("127.0.0.2", File.ReadAllText(h.Path("routing.json")));
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        var back2 = h.Engine.Create("back", RunbookEngine.KindFailback, "test", ApprovalMode.Auto, null, null, "for real");
        Assert.Equal(ExecutionStore.Succeeded, (await h.RunAsync(back2, TimeSpan.Zero)).Status);
        Assert.Contains("127.0.0.1", File.ReadAllText(h.Path("routing.json")));
    }
}
