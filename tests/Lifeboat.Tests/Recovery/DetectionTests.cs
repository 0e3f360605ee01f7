using Lifeboat.Core.Config;
using Lifeboat.Recovery;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Recovery;

public sealed class DetectionTests
{
    private static readonly DateTimeOffset T0 = new(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private sealed class ScriptedProbe(params bool[] results) : IProbe
    {
        private int _i;
        public string Describe => "scripted";
        public Task<ProbeResult> RunAsync(CancellationToken ct)
        {
            var ok = results[Math.Min(_i++, results.Length - 1)];
            return Task.FromResult(new ProbeResult(ok, ok ? "up" : "down"));
        }
    }

    private sealed class HangingProbe : IProbe
    {
        public string Describe => "hangs";
        public async Task<ProbeResult> RunAsync(CancellationToken ct)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return new ProbeResult(true, "never");
        }
    }

    private static CheckConfig Check(Threshold t, int recovery = 2) => new("app",
        new ProbeSpec(null, new TcpProbeSpec("127.0.0.1", 1), null, null, new ConfigLocation("t", 1, "checks[0]")),
        TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), t, recovery, TimeSpan.FromMinutes(5), [], new ConfigLocation("t", 1, "checks[0]"));

    /// <summary>Feeds results 2 s apart; returns the index of each transition.</summary>
    private static List<(int Index, CheckTransition T)> Feed(CheckMonitor m, ManualTimeProvider clock, string pattern)
    {
        var list = new List<(int, CheckTransition)>();
        for (var i = 0; i < pattern.Length; i++)
        {
            if (m.Record(new ProbeResult(pattern[i] == '+', pattern[i] == '+' ? "up" : "down"), clock.GetUtcNow()) is { } t) list.Add((i, t));
            clock.Advance(TimeSpan.FromSeconds(2));
        }
        return list;
    }

    [Fact]
    public void ThreeConsecutive_TriggersOnTheThird_FaultStartsAtTheFirst()
    {
        var clock = new ManualTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(3, 3)), new ScriptedProbe(true), clock);
        var t = Feed(m, clock, "++---");
        var (i, tr) = Assert.Single(t);
        Assert.Equal(4, i);
        Assert.True(tr.Failing);
        Assert.Equal(T0 + TimeSpan.FromSeconds(4), tr.FirstFailureAt);
        Assert.True(m.Failing);
    }

    [Fact]
    public void Flapping_NeverTriggers_WithConsecutiveThreshold()
    {
        var clock = new ManualTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(3, 3)), new ScriptedProbe(true), clock);
        Assert.Empty(Feed(m, clock, "-+-+--+--+-+--+-+-+--+"));
        Assert.False(m.Failing);
    }

    [Fact]
    public void NOfM_TriggersOnScatteredFailures_ButNotBelowN()
    {
        var clock = new ManualTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(3, 5)), new ScriptedProbe(true), clock);
        Assert.Empty(Feed(m, clock, "-+++-+++-+++-+++")); // at most 2 failures in any 5
        var t = Feed(m, clock, "-+-+-");
        Assert.Single(t);
        Assert.Equal(4, t[0].Index);
    }

    [Fact]
    public void Recovery_AfterConsecutivePasses()
    {
        var clock = new ManualTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(2, 2), recovery: 3), new ScriptedProbe(true), clock);
        var t = Feed(m, clock, "--++-+++");
        Assert.Equal(2, t.Count);
        Assert.True(t[0].T.Failing);
        Assert.False(t[1].T.Failing);
        Assert.Equal(7, t[1].Index);
    }

    [Fact]
    public async Task ProbeTimeout_IsAFailure_OnTheClock()
    {
        var clock = new ManualTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(1, 1)), new HangingProbe(), clock);
        var tick = m.TickAsync(CancellationToken.None); // the timeout's timer is on the manual clock from here on
        Assert.False(tick.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        var t = await tick.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(t);
        Assert.Contains("timed out after 1s", t.Detail);
    }

    [Fact]
    public async Task RunAsync_ProbesEveryInterval_OnTheClock()
    {
        var clock = new ManualTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(3, 3)), new ScriptedProbe(true, true, false, false, false, true), clock);
        var transitions = new List<CheckTransition>();
        using var cts = new CancellationTokenSource();
        var run = m.RunAsync(t => { lock (transitions) transitions.Add(t); return Task.CompletedTask; }, cts.Token);
        for (var i = 0; i < 6; i++)
        {
            await Eventually.TrueAsync(() => m.Observations == i + 1, TimeSpan.FromSeconds(10), $"observation {i + 1}");
            clock.Advance(TimeSpan.FromSeconds(2));
        }
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        var t = transitions[0]; // (a recovery may follow: the probe passes from the 6th observation on)
        Assert.True(t.Failing);
        Assert.Equal(T0 + TimeSpan.FromSeconds(4), t.FirstFailureAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(8), t.At);
    }

    [Fact]
    public async Task HttpProbe_AgainstARealService()
    {
        using var svc = new RecordingHttpServer();
        var probe = new HttpProbe(new HttpProbeSpec(new Uri(svc.Url + "health"), "GET", 200, "ok", false), new HttpClient());
        Assert.True((await probe.RunAsync(CancellationToken.None)).Ok);
        svc.Healthy = false;
        var r = await probe.RunAsync(CancellationToken.None);
        Assert.False(r.Ok);
        Assert.Contains("status 503", r.Detail);
        svc.Stop();
        Assert.False((await probe.RunAsync(CancellationToken.None)).Ok);
        var tcp = new TcpProbe(new TcpProbeSpec("127.0.0.1", svc.Port));
        Assert.False((await tcp.RunAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task Dispatcher_StartsTheRunbookOnce_HoldDownAndActiveExecution()
    {
        using var h = new EngineHarness("""
            stores:
              routing: { type: routes, path: routing.json }
            checks:
              - name: app
                tcp: 127.0.0.1:1
                interval: 2s
                timeout: 1s
                hold_down: 10m
                on_failure: { runbook: rb, approval: manual }
            runbooks:
              rb:
                steps:
                  - name: a
                    exec: echo a >> order.txt
            """);
        var d = new Dispatcher(h.Context, h.Engine, null);
        var check = h.Config.Recovery.Checks[0];
        var started = new List<long>();
        d.Started += started.Add;
        using var cts = new CancellationTokenSource();
        var t = new CheckTransition("app", true, h.Clock.GetUtcNow(), h.Clock.GetUtcNow(), "down");
        await d.OnCheckAsync(check, t, cts.Token);
        await d.OnCheckAsync(check, t, cts.Token); // still awaiting approval: noted on the same execution
        var id = Assert.Single(started);
        Assert.Contains(h.Executions.Events(id), e => e.Kind == "note");
        RunbookEngine.Approve(h.Executions, id, h.Context.NowMs, "t");
        // The engine polls for the approval on the manual clock (every 20 ms of it): move the clock while it sleeps on it.
        await h.Clock.RunUntilAsync(() => h.Executions.Get(id)!.Status == ExecutionStore.Succeeded, TimeSpan.FromMilliseconds(20));
        h.Clock.Advance(TimeSpan.FromMinutes(5));
        await d.OnCheckAsync(check, t, cts.Token); // within the 10 min hold-down: not started again
        Assert.Single(started);
        h.Clock.Advance(TimeSpan.FromMinutes(6));
        await d.OnCheckAsync(check, t, cts.Token);
        Assert.Equal(2, started.Count);
        await cts.CancelAsync();
        await d.DrainAsync();
    }

    [Fact]
    public async Task EventRules_MatchingEventStartsTheRunbook_UnmatchedIsRecorded()
    {
        using var h = new EngineHarness("""
            rules:
              - name: s3-errors
                event_pattern:
                  source: [aws.health]
                  detail: { service: [S3], eventTypeCategory: [issue], affectedRegion: [{ prefix: us-east- }] }
                action: { runbook: rb, approval: manual }
            runbooks:
              rb:
                steps:
                  - name: a
                    exec: echo a >> order.txt
            """);
        var d = new Dispatcher(h.Context, h.Engine, Cli.Hosting.RecoveryRuntime.Matcher);
        var started = new List<long>();
        d.Started += started.Add;
        Assert.Empty(await d.OnEventAsync("""{"source":"aws.health","detail":{"service":"EC2","eventTypeCategory":"issue","affectedRegion":"us-east-1"}}""", CancellationToken.None));
        Assert.Empty(started);
        var matched = await d.OnEventAsync("""{"source":"aws.health","detail":{"service":"S3","eventTypeCategory":"issue","affectedRegion":"us-east-1"}}""", CancellationToken.None);
        Assert.Equal(["s3-errors"], matched);
        var id = Assert.Single(started);
        Assert.Equal(ExecutionStore.AwaitingApproval, h.Executions.Get(id)!.Status);
        Assert.Equal("rule:s3-errors", h.Executions.Get(id)!.Trigger);
        var inbox = h.Executions.Inbound();
        Assert.Equal(2, inbox.Count);
        Assert.Equal("", inbox[1].Matched);   // the unmatched one is kept
        Assert.Equal("s3-errors", inbox[0].Matched);
        RunbookEngine.Approve(h.Executions, id, h.Context.NowMs, "t");
        await Eventually.TrueAsync(() => h.Executions.Get(id)!.Status == ExecutionStore.Succeeded, TimeSpan.FromSeconds(20), "approved execution runs");
        await d.DrainAsync();
    }
}
