using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Recovery;
using Microsoft.Extensions.Logging.Abstractions;
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
    private static List<(int Index, CheckTransition T)> Feed(CheckMonitor m, FakeTimeProvider clock, string pattern)
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
        var clock = new FakeTimeProvider(T0);
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
        var clock = new FakeTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(3, 3)), new ScriptedProbe(true), clock);
        Assert.Empty(Feed(m, clock, "-+-+--+--+-+--+-+-+--+"));
        Assert.False(m.Failing);
    }

    [Fact]
    public void NOfM_TriggersOnScatteredFailures_ButNotBelowN()
    {
        var clock = new FakeTimeProvider(T0);
        var m = new CheckMonitor(Check(new Threshold(3, 5)), new ScriptedProbe(true), clock);
        Assert.Empty(Feed(m, clock, "-+++-+++-+++-+++")); // at most 2 failures in any 5
        var t = Feed(m, clock, "-+-+-");
        Assert.Single(t);
        Assert.Equal(4, t[0].Index);
    }

    [Fact]
    public void Recovery_AfterConsecutivePasses()
    {
        var clock = new FakeTimeProvider(T0);
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
        var clock = new FakeTimeProvider(T0);
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
        var clock = new FakeTimeProvider(T0);
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
        var d = new Dispatcher(h.Context, h.Engine, Hosting.RecoveryRuntime.Matcher);
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

    // ---- Alarms decide on evidence (issue 14, finding 1) ----

    /// <summary>Feeds '+' pass, '-' fail, '?' no evidence, 2 s apart; returns the index of each transition.</summary>
    private static List<(int Index, CheckTransition T)> FeedWithUnknown(CheckMonitor m, FakeTimeProvider clock, string pattern)
    {
        var list = new List<(int, CheckTransition)>();
        for (var i = 0; i < pattern.Length; i++)
        {
            var r = pattern[i] switch { '+' => new ProbeResult(true, "up"), '-' => new ProbeResult(false, "down"), _ => ProbeResult.NoEvidence("not measured yet") };
            if (m.Record(r, clock.GetUtcNow()) is { } t) list.Add((i, t));
            clock.Advance(TimeSpan.FromSeconds(2));
        }
        return list;
    }

    [Fact]
    public void NoEvidence_NeitherCompletesNorResetsAThreshold_AndHoldsTheState()
    {
        var clock = new FakeTimeProvider(T0);
        // Never a fault on no evidence alone, even with a threshold of 1.
        var m1 = new CheckMonitor(Check(new Threshold(1, 1)), new ScriptedProbe(true), clock);
        Assert.Empty(FeedWithUnknown(m1, clock, "??????????"));
        Assert.False(m1.Failing);
        Assert.True(m1.Last!.Unknown);
        Assert.Equal("unknown", m1.Last.Outcome);

        // 3 consecutive failures: an unknown between them does not reset the run (nor count as a failure).
        var m = new CheckMonitor(Check(new Threshold(3, 3), recovery: 2), new ScriptedProbe(true), clock);
        var start = clock.GetUtcNow();
        Assert.Empty(FeedWithUnknown(m, clock, "--??"));
        var t = FeedWithUnknown(m, clock, "-");
        var (_, tr) = Assert.Single(t);
        Assert.True(tr.Failing);
        Assert.Equal(start, tr.FirstFailureAt);
        // Failing holds through unknowns; a pass, an unknown, a pass = 2 passes in a row: recovered on the second.
        Assert.Empty(FeedWithUnknown(m, clock, "????+?"));
        Assert.True(m.Failing);
        var r = FeedWithUnknown(m, clock, "+");
        Assert.False(Assert.Single(r).T.Failing);

        // "N of M": unknowns take no place in the window (2 of 3 with failures 4 observations apart still fires).
        var nm = new CheckMonitor(Check(new Threshold(2, 3)), new ScriptedProbe(true), clock);
        Assert.Single(FeedWithUnknown(nm, clock, "-???-"));
    }

    private const string AlarmConfig = """
        state: state.db
        stores:
          src: { type: file, path: src }
          dst: { type: file, path: dst }
          ddb-a: { type: dynamodb, endpoint: http://127.0.0.1:9 }
          ddb-b: { type: dynamodb, endpoint: http://127.0.0.1:9 }
        resources:
          - name: photos
            source: { store: src, bucket: photos }
            target: { store: dst, bucket: photos }
            rpo: 5m
          - name: orders
            type: table
            source: { store: ddb-a, table: orders }
            target: { store: ddb-b, table: orders }
            rpo: 5m
        runbooks:
          failover:
            steps:
              - name: stop
                exec: echo ran >> ran.txt
        checks:
        """;

    private static string AlarmCheck(string name, string resource, string metric) => $"""

          - name: {name}
            alarm: {'{'} resource: {resource}, metric: {metric} {'}'}
            interval: 10s
            timeout: 1s
            failure_threshold: 1
            on_failure: {'{'} runbook: failover, approval: manual {'}'}
        """;

    /// <summary>The checks of <see cref="AlarmConfig"/> read through the real metric reader (RecoveryRuntime.ReadMetric
    /// over the state store, as `serve` wires it), with the real dispatcher, on a manual clock.</summary>
    private sealed class AlarmRig : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        public AlarmRig(string checks)
        {
            Dir.Sub("src/photos");
            Dir.Sub("dst/photos");
            Config = Configs.Load(Dir.File("lifeboat.yaml", AlarmConfig + checks));
            Runtime = new Runtime(Config, Clock, NullLoggerFactory.Instance);
            Recovery = new RecoveryRuntime(Runtime);
            Recovery.Dispatcher.Started += id => { lock (Started) Started.Add(id); };
            Monitors = Config.Recovery.Checks.Select(c => new CheckMonitor(c, Recovery.Context.Probes.Create(c.Probe), Clock)).ToList();
        }

        public TempDir Dir { get; } = new();
        public FakeTimeProvider Clock { get; } = new(T0);
        public LifeboatConfig Config { get; }
        public Runtime Runtime { get; }
        public RecoveryRuntime Recovery { get; }
        public List<CheckMonitor> Monitors { get; }
        public List<long> Started { get; } = [];

        public CheckMonitor Monitor(string name) => Monitors.Single(m => m.Config.Name == name);

        /// <summary>Probes every check once (as serve does each interval) and dispatches its transitions; then moves the
        /// clock on by the interval.</summary>
        public async Task TickAsync(int times = 1)
        {
            for (var i = 0; i < times; i++)
            {
                foreach (var m in Monitors)
                    if (await m.TickAsync(CancellationToken.None) is { } t)
                        await Recovery.Dispatcher.OnCheckAsync(m.Config, t, _stop.Token);
                Clock.Advance(TimeSpan.FromSeconds(10));
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Recovery.Dispatcher.DrainAsync();
            Recovery.Dispose();
            await Runtime.DisposeAsync();
            _stop.Dispose();
            Dir.Dispose();
        }
    }

    private static readonly string FourAlarms =
        AlarmCheck("photos-lag", "photos", "lag") + AlarmCheck("photos-rpo", "photos", "rpo") +
        AlarmCheck("orders-lag", "orders", "lag") + AlarmCheck("orders-rpo", "orders", "rpo");

    [Fact]
    public async Task FreshServe_ThresholdOne_NothingMeasuredYet_NeverStartsTheRunbook()
    {
        await using var rig = new AlarmRig(FourAlarms);
        await rig.TickAsync(times: 5);
        Assert.Empty(rig.Started);
        Assert.False(File.Exists(Path.Combine(rig.Dir.Path, "ran.txt")));
        Assert.All(rig.Monitors, m => Assert.False(m.Failing));
        // No change at all: nothing is behind (lag 0) and nothing is pending (rpo 0).
        Assert.Equal("pass", rig.Monitor("photos-lag").Last!.Outcome);
        Assert.Equal("pass", rig.Monitor("photos-rpo").Last!.Outcome);
        Assert.Equal("pass", rig.Monitor("orders-lag").Last!.Outcome);
        // A table's RPO is not measured until its stream was read to its end once: no evidence, the check holds.
        Assert.Equal("unknown", rig.Monitor("orders-rpo").Last!.Outcome);
        Assert.Contains("not measured yet", rig.Monitor("orders-rpo").Last!.Detail);
    }

    [Fact]
    public async Task IdleBucket_NoWriteInTheLastHour_NeverStartsTheRunbook()
    {
        await using var rig = new AlarmRig(FourAlarms);
        await File.WriteAllTextAsync(Path.Combine(rig.Dir.Path, "src/photos/a.jpg"), "a");
        var rep = rig.Runtime.Replicator(rig.Config.Resources[0]);
        await rep.PrepareAsync(CancellationToken.None);
        Assert.Equal(1, (await rep.ReconcileAsync(null, CancellationToken.None)).Copied);
        // The table read its stream to its end just now; a tail pass does that every few seconds.
        rig.Runtime.State.SetCheckpoint("orders", Providers.DynamoDb.TableReplicator.CaughtUpCheckpoint,
            rig.Clock.GetUtcNow().ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), rig.Clock.GetUtcNow().ToUnixTimeMilliseconds());
        await rig.TickAsync();
        rig.Clock.Advance(TimeSpan.FromMinutes(61)); // the copy's lag leaves the one-hour window: no change since
        rig.Runtime.State.SetCheckpoint("orders", Providers.DynamoDb.TableReplicator.CaughtUpCheckpoint,
            rig.Clock.GetUtcNow().ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), rig.Clock.GetUtcNow().ToUnixTimeMilliseconds());
        await rig.TickAsync(times: 3);
        Assert.Empty(rig.Started);
        Assert.False(File.Exists(Path.Combine(rig.Dir.Path, "ran.txt")));
        Assert.All(rig.Monitors, m => Assert.Equal("pass", m.Last!.Outcome));
        Assert.Contains("photos lag 0s", rig.Monitor("photos-lag").Last!.Detail);
    }

    [Fact]
    public async Task RealBacklogOlderThanTheRpo_StillStartsTheRunbook()
    {
        await using var rig = new AlarmRig(AlarmCheck("photos-rpo", "photos", "rpo") + AlarmCheck("photos-lag", "photos", "lag"));
        await rig.TickAsync();
        Assert.Empty(rig.Started);
        // A change seen 4 minutes ago and still not on the target: under the 5m rpo for one more minute.
        rig.Runtime.State.RecordSeen("photos", "a.jpg", ChangeOp.Put, (rig.Clock.GetUtcNow() - TimeSpan.FromMinutes(4)).ToUnixTimeMilliseconds());
        await rig.TickAsync();
        Assert.Empty(rig.Started);
        // Pending changes and none finished this hour: the lag is not measured (the rpo alarm is the one that sees the wait).
        Assert.Equal("unknown", rig.Monitor("photos-lag").Last!.Outcome);
        rig.Clock.Advance(TimeSpan.FromMinutes(1));
        await rig.TickAsync();
        var id = Assert.Single(rig.Started);
        Assert.True(rig.Monitor("photos-rpo").Failing);
        Assert.Equal("check:photos-rpo", rig.Recovery.Executions.Get(id)!.Trigger);
        Assert.False(rig.Monitor("photos-lag").Failing);
    }
}
