using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Core.Traffic;
using Lifeboat.Recovery;
using Lifeboat.Tests.Infrastructure;

namespace Lifeboat.Tests.Recovery;

/// <summary>A recovery engine on a config written into a temp folder, with a manual clock, a routing-file traffic
/// store and the real state store.</summary>
public sealed class EngineHarness : IDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public EngineHarness(string yaml, SleepAwareTimeProvider? clock = null)
    {
        Dir = new TempDir();
        Clock = clock ?? new SleepAwareTimeProvider(new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero));
        var file = Dir.File("lifeboat.yaml", "state: state.db\n" + yaml);
        Config = Configs.Load(file);
        State = new StateStore(Config.StatePath);
        Executions = new ExecutionStore(Config.StatePath);
        var traffic = new Dictionary<string, IDnsRecordStore>();
        IDnsRecordStore Traffic(string n)
        {
            lock (traffic)
                return traffic.TryGetValue(n, out var s) ? s : traffic[n] = new RoutingFileStore(n, Config.Stores[n].Path!);
        }
        Context = new RecoveryContext
        {
            Config = Config, Time = Clock, Executions = Executions, State = State, Http = Http, TrafficStore = Traffic,
            Probes = new ProbeFactory(Config, Http, Traffic, (_, _) => null), Poll = TimeSpan.FromMilliseconds(20),
        };
        Engine = new RunbookEngine(Context);
    }

    public TempDir Dir { get; }
    public SleepAwareTimeProvider Clock { get; }
    public LifeboatConfig Config { get; }
    public StateStore State { get; }
    public ExecutionStore Executions { get; }
    public RecoveryContext Context { get; }
    public RunbookEngine Engine { get; }

    public string Path(string name) => System.IO.Path.Combine(Dir.Path, name);

    public string[] Lines(string name) => File.Exists(Path(name)) ? File.ReadAllLines(Path(name)) : [];

    public long Start(string runbook, ApprovalMode approval = ApprovalMode.Auto) =>
        Engine.Create(runbook, RunbookEngine.KindFailover, "test", approval, Clock.GetUtcNow(), Clock.GetUtcNow(), "test fault");

    public StepRow Step(long id, string name) => Executions.Steps(id).Single(s => s.Step == name);

    /// <summary>Runs the execution while moving the manual clock forward in <paramref name="tick"/> steps (so waits,
    /// backoffs and timeouts on the clock elapse), until it ends. The clock moves only while the engine sleeps on it (a
    /// wait step, a backoff, a probe's interval): a step doing real work (a process, an HTTP request) never sees its
    /// timeout come closer while it runs, however slow the machine.</summary>
    public async Task<ExecutionRow> RunAsync(long id, TimeSpan? tick = null, int maxTicks = 2000)
    {
        var step = tick ?? TimeSpan.FromSeconds(1);
        var until = Clock.GetUtcNow() + step * maxTicks;
        var run = Engine.RunAsync(id, CancellationToken.None);
        await Clock.RunUntilAsync(() => run.IsCompleted || (step > TimeSpan.Zero && Clock.GetUtcNow() >= until), step, work: run);
        if (!run.IsCompleted) throw new Xunit.Sdk.XunitException($"the execution did not finish within {maxTicks} ticks of {step}");
        return await run;
    }

    public void Dispose()
    {
        Executions.Dispose();
        State.Dispose();
        Dir.Dispose();
    }
}
