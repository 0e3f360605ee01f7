using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Recovery;

/// <summary>A check crossed its threshold: <see cref="Failing"/> true = fault detected, false = recovered.
/// <see cref="FirstFailureAt"/> is the earliest failed observation counted (where the measured RTO starts).</summary>
public sealed record CheckTransition(string Check, bool Failing, DateTimeOffset FirstFailureAt, DateTimeOffset At, string Detail);

/// <summary>
/// Runs one check every <c>interval</c> (start to start) with its <c>timeout</c>, keeps the last M results, and
/// reports a transition to failing when N of the last M failed (N consecutive = N of N), and back to healthy after
/// <c>recovery_threshold</c> consecutive passes. A flapping target (failures that never reach the threshold) never
/// reports a fault. An observation without evidence (<see cref="ProbeResult.Unknown"/>: an alarm whose figure is not
/// measured yet) holds the state: it is not counted in the window, does not break or extend a run of passes, and never
/// causes a transition. Everything runs on the injected clock.
/// </summary>
public sealed class CheckMonitor(CheckConfig config, IProbe probe, TimeProvider time, ILogger? log = null)
{
    private readonly Queue<(bool Ok, DateTimeOffset At)> _window = new();
    private readonly Lock _gate = new();
    private int _consecutiveOk;

    public CheckConfig Config => config;
    public bool Failing { get; private set; }
    public ProbeResult? Last { get; private set; }
    public DateTimeOffset? LastAt { get; private set; }
    public long Observations { get; private set; }

    /// <summary>Probes once (with the check's timeout) and records the result.</summary>
    public async Task<CheckTransition?> TickAsync(CancellationToken ct)
    {
        var at = time.GetUtcNow();
        var r = await ProbeRunner.RunAsync(probe, config.Timeout, time, ct).ConfigureAwait(false);
        return Record(r, at);
    }

    /// <summary>Records one observation made at <paramref name="at"/>; returns a transition when the state changes.</summary>
    public CheckTransition? Record(ProbeResult r, DateTimeOffset at)
    {
        lock (_gate)
        {
            var wasUnknown = Last?.Unknown == true;
            Last = r;
            LastAt = at;
            Observations++;
            if (r.Unknown)
            {
                // No evidence: neither a pass nor a failure; the check keeps its state (logged when it starts).
                if (!wasUnknown)
                    log?.CheckNoEvidence(config.Name, r.Detail, Failing ? "failing" : "healthy");
                return null;
            }
            _window.Enqueue((r.Ok, at));
            while (_window.Count > config.Threshold.Window) _window.Dequeue();
            _consecutiveOk = r.Ok ? _consecutiveOk + 1 : 0;
            var failures = _window.Count(x => !x.Ok);
            if (!Failing && failures >= config.Threshold.Failures)
            {
                Failing = true;
                var first = _window.First(x => !x.Ok).At;
                return new CheckTransition(config.Name, true, first, time.GetUtcNow(),
                    $"{config.Name}: {failures} of the last {_window.Count} probes failed (threshold {config.Threshold}): {r.Detail}");
            }
            if (Failing && _consecutiveOk >= config.RecoveryThreshold)
            {
                Failing = false;
                _window.Clear();
                return new CheckTransition(config.Name, false, at, time.GetUtcNow(), $"{config.Name}: recovered ({_consecutiveOk} passes in a row): {r.Detail}");
            }
            return null;
        }
    }

    /// <summary>Probes every interval until <paramref name="ct"/>; transitions go to <paramref name="onTransition"/>.</summary>
    public async Task RunAsync(Func<CheckTransition, Task> onTransition, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var started = time.GetTimestamp();
            CheckTransition? t;
            try { t = await TickAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            if (t is not null) await onTransition(t).ConfigureAwait(false);
            var left = config.Interval - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero) continue;
            try { await Task.Delay(left, time, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }
}
