using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.Traffic;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Recovery;

/// <summary>A step failed (the message says why); retried when the step has retries left.</summary>
public sealed class StepFailedException(string message) : Exception(message);

/// <summary>
/// Runs runbook executions durably. Each step's status, attempts, times and output are in the state store before and
/// after it runs; an execution interrupted by a crash resumes at the interrupted step(s) on the next
/// <see cref="RunAsync"/> (completed steps never run again). One process drives an execution at a time (an OS lock
/// file per runbook, released on kill -9); one execution per runbook is active at a time (unique index).
/// Steps run as soon as their needs are met (in parallel when several are ready); a failed step with
/// <c>on_failure: stop</c> (default) lets running steps finish, starts nothing new, and fails the execution;
/// <c>continue</c> counts as done for the steps that need it; <c>run: STEP</c> runs the handler step, then fails the
/// execution. Retries: attempt k+1 starts after backoff * 2^(k-1) (at most 5 minutes).
/// </summary>
public sealed class RunbookEngine(RecoveryContext ctx)
{
    public const string KindFailover = "failover";
    public const string KindFailback = "failback";
    private const int MaxOutput = 64 * 1024;

    private string Lock(string runbook) => $"{ctx.Config.StatePath}.runbook-{runbook}.lock";

    private void Say(string line)
    {
        ctx.Log.RunbookProgress(line);
        ctx.Progress?.WriteLine(line);
    }

    /// <summary>Creates an execution (steps pending) and records the fault, detection and decision on its timeline.
    /// Throws <see cref="ActiveExecutionException"/> when the runbook already has an active execution.</summary>
    public long Create(string runbook, string kind, string trigger, ApprovalMode approval, DateTimeOffset? faultAt, DateTimeOffset? detectedAt, string reason)
    {
        var rb = ctx.Config.Recovery.Runbook(ctx.Config.File, runbook);
        var now = ctx.NowMs;
        var id = ctx.Executions.Create(rb.Name, kind, trigger, approval, faultAt?.ToUnixTimeMilliseconds(), detectedAt?.ToUnixTimeMilliseconds(),
            rb.Steps.Select(s => s.Name).ToList(), now);
        if (faultAt is { } f) ctx.Executions.AddEvent(id, f.ToUnixTimeMilliseconds(), "fault", null, $"first failed observation: {reason}");
        if (detectedAt is { } d) ctx.Executions.AddEvent(id, d.ToUnixTimeMilliseconds(), "detected", null, $"fault detected by {trigger}: {reason}");
        ctx.Executions.AddEvent(id, now, "decision", null, approval == ApprovalMode.Manual
            ? $"{kind} with runbook {rb.Name} needs approval: lifeboat approve {id}"
            : $"{kind} with runbook {rb.Name} started ({trigger})");
        return id;
    }

    /// <summary>Drives an execution to its end (or until <paramref name="ct"/>); safe to call again after a crash.</summary>
    public async Task<ExecutionRow> RunAsync(long id, CancellationToken ct)
    {
        var exec = ctx.Executions.Get(id) ?? throw new UserErrorException($"no execution {id}");
        var rb = ctx.Config.Recovery.Runbook(ctx.Config.File, exec.Runbook);
        FileStream lockFile;
        try { lockFile = new FileStream(Lock(rb.Name), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            throw new UserErrorException($"execution {id} of runbook '{rb.Name}' is being run by another lifeboat process (lock {Lock(rb.Name)})");
        }
        await using (lockFile.ConfigureAwait(false))
        {
            exec = ctx.Executions.Get(id)!;
            if (!exec.Active) return exec;
            var rows = ctx.Executions.Steps(id).ToDictionary(s => s.Step, StringComparer.Ordinal);
            var missing = rb.Steps.Where(s => !rows.ContainsKey(s.Name)).Select(s => s.Name).ToList();
            if (missing.Count > 0) ctx.Executions.AddSteps(id, missing); // the config gained steps since the execution began
            foreach (var r in rows.Values.Where(r => r.Status is "running" or "waiting"))
            {
                ctx.Executions.AddEvent(id, ctx.NowMs, "resumed", r.Step, $"resuming interrupted step {r.Step} (attempt {r.Attempts} did not finish)");
                Say($"execution {id}: resuming at step {r.Step} (interrupted during attempt {r.Attempts})");
            }

            if (exec.Status == ExecutionStore.AwaitingApproval)
            {
                Say($"execution {id}: waiting for approval: lifeboat approve {id}");
                var approval = await WaitForApprovalAsync(id, "", null, ct).ConfigureAwait(false);
                ctx.Executions.Decide(id, approval.At);
                ctx.Executions.AddEvent(id, approval.At, "decision", null, $"approved by {approval.By ?? "an operator"}");
                Say($"execution {id}: approved; running runbook {rb.Name}");
            }
            return await RunStepsAsync(id, rb, ct).ConfigureAwait(false);
        }
    }

    private async Task<ExecutionRow> RunStepsAsync(long id, RunbookConfig rb, CancellationToken ct)
    {
        var rows = ctx.Executions.Steps(id).ToDictionary(s => s.Step, StringComparer.Ordinal);
        var status = rows.ToDictionary(kv => kv.Key, kv => kv.Value.Status, StringComparer.Ordinal);
        var interrupted = status.Where(kv => kv.Value is "running" or "waiting").Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        string? failure = null;
        var running = new Dictionary<string, Task<string?>>(StringComparer.Ordinal);

        // What happened before an interruption: failed steps stop the execution (and their handler must run).
        foreach (var s in rb.Steps)
        {
            if (status[s.Name] != "failed" || s.OnFailure == FailureMode.Continue) continue;
            failure ??= $"step {s.Name} failed: {rows[s.Name].Error}";
            if (s.OnFailure == FailureMode.Run && status[s.OnFailureStep!] is "pending" or "running" or "waiting")
                running[s.OnFailureStep!] = RunStepAsync(id, rb.Step(s.OnFailureStep!), interrupted.Contains(s.OnFailureStep!), ct);
        }
        if (failure is not null)
        {
            // Steps interrupted while the execution was already stopping are not started again.
            foreach (var n in interrupted.Where(n => !running.ContainsKey(n) && !rb.Handlers.Contains(n)))
            {
                ctx.Executions.StepFinished(id, n, "failed", ctx.NowMs, null, "interrupted while the execution was stopping");
                status[n] = "failed";
            }
        }

        bool Satisfied(string n) => status[n] == "succeeded" || (status[n] == "failed" && rb.Step(n).OnFailure == FailureMode.Continue);
        while (true)
        {
            if (failure is null)
                foreach (var name in rb.Order)
                {
                    if (running.ContainsKey(name) || status[name] is not ("pending" or "running" or "waiting")) continue;
                    var step = rb.Step(name);
                    if (!step.Needs.All(Satisfied)) continue;
                    status[name] = "running";
                    running[name] = RunStepAsync(id, step, interrupted.Contains(name), ct);
                }
            if (running.Count == 0) break;
            var done = await Task.WhenAny(running.Values).ConfigureAwait(false);
            var finished = running.First(kv => kv.Value == done).Key;
            running.Remove(finished);
            string? error;
            try { error = await done.ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Shutting down: let the other running steps notice too; they stay 'running' and resume next time.
                try { await Task.WhenAll(running.Values).ConfigureAwait(false); } catch (OperationCanceledException) { }
                throw;
            }
            var step2 = rb.Step(finished);
            status[finished] = error is null ? "succeeded" : "failed";
            if (error is null || step2.OnFailure == FailureMode.Continue) continue;
            if (rb.Handlers.Contains(finished))
            {
                failure ??= $"failure handler {finished} failed: {error}";
                continue;
            }
            failure ??= $"step {finished} failed: {error}";
            if (step2.OnFailure == FailureMode.Run && status[step2.OnFailureStep!] == "pending" && !running.ContainsKey(step2.OnFailureStep!))
            {
                ctx.Executions.AddEvent(id, ctx.NowMs, "handler", step2.OnFailureStep, $"running {step2.OnFailureStep} because {finished} failed");
                running[step2.OnFailureStep!] = RunStepAsync(id, rb.Step(step2.OnFailureStep!), false, ct);
            }
        }

        var now = ctx.NowMs;
        foreach (var (name, st) in status)
            if (st == "pending")
                ctx.Executions.StepFinished(id, name, "skipped", now, null, rb.Handlers.Contains(name) ? null : "not run: the execution stopped");
        ctx.Executions.AddEvent(id, now, "finished", null, failure is null ? "runbook completed" : $"runbook failed: {failure}");
        ctx.Executions.Finish(id, failure is null ? ExecutionStore.Succeeded : ExecutionStore.Failed, now, failure);
        Say(failure is null ? $"execution {id}: runbook {rb.Name} completed" : $"execution {id}: runbook {rb.Name} FAILED: {failure}");
        return ctx.Executions.Get(id)!;
    }

    /// <summary>Runs one step with its retries; returns null on success, else the last error. Cancellation of
    /// <paramref name="ct"/> propagates and leaves the step 'running' (resumed next time).</summary>
    private async Task<string?> RunStepAsync(long id, StepConfig step, bool resumed, CancellationToken ct)
    {
        await Task.Yield();
        var maxAttempts = 1 + step.Retries + (resumed ? 1 : 0);
        while (true)
        {
            var attempt = ctx.Executions.StepStarted(id, step.Name, ctx.NowMs);
            var startedAt = ctx.Executions.Steps(id).First(s => s.Step == step.Name).StartedAt!.Value;
            ctx.Executions.AddEvent(id, ctx.NowMs, "step-start", step.Name,
                $"{Describe(step)}{(attempt > 1 ? $" (attempt {attempt})" : "")}");
            Say($"execution {id}: {step.Name}: {Describe(step)}{(attempt > 1 ? $" (attempt {attempt})" : "")}");
            string? error;
            try
            {
                using var timeoutCts = step.EffectiveTimeout is { } t ? new CancellationTokenSource(t, ctx.Time) : new CancellationTokenSource();
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutCts.Token);
                try
                {
                    var output = await ExecuteAsync(id, step, startedAt, linked.Token, ct).ConfigureAwait(false);
                    var now = ctx.NowMs;
                    ctx.Executions.StepFinished(id, step.Name, "succeeded", now, Cap(output), null);
                    ctx.Executions.AddEvent(id, now, "step-end", step.Name, $"succeeded: {FirstLine(output)}");
                    Say($"execution {id}: {step.Name}: done: {FirstLine(output)}");
                    AfterSuccess(id, step, startedAt);
                    return null;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested && timeoutCts.IsCancellationRequested)
                {
                    throw new StepFailedException($"timed out after {Durations.Format(step.EffectiveTimeout!.Value)}");
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception e)
            {
                // Whatever a step throws is that step's failure (retries and on_failure apply, the execution ends
                // failed with the error on its timeline), never an escape that leaves the execution 'running'.
                error = StepError(e);
                if (!IsExpected(e)) ctx.Log.StepThrew(e, id, step.Name);
            }
            var at = ctx.NowMs;
            if (attempt < maxAttempts)
            {
                var delay = Backoff(step.Backoff, attempt);
                ctx.Executions.StepFinished(id, step.Name, "running", at, null, error);
                ctx.Executions.AddEvent(id, at, "step-retry", step.Name, $"attempt {attempt} failed: {error}; retrying in {Durations.Format(delay)}");
                Say($"execution {id}: {step.Name}: attempt {attempt} failed: {error}; retrying in {Durations.Format(delay)}");
                await Task.Delay(delay, ctx.Time, ct).ConfigureAwait(false);
                continue;
            }
            ctx.Executions.StepFinished(id, step.Name, "failed", at, null, error);
            ctx.Executions.AddEvent(id, at, "step-end", step.Name, $"failed: {error}");
            Say($"execution {id}: {step.Name}: FAILED: {error}");
            return error;
        }
    }

    /// <summary>Errors of the outside world a step meets (a refused request, an unreachable server, a failed command):
    /// their message is the error. Anything else is a defect, shown with its type and logged with its stack.</summary>
    private static bool IsExpected(Exception e) =>
        e is StepFailedException or Abstractions.IClassifiedError or HttpRequestException or IOException or System.Net.Sockets.SocketException
            or TimeoutException or System.ComponentModel.Win32Exception or OperationCanceledException;

    private static string StepError(Exception e) => e switch
    {
        OperationCanceledException => "cancelled (a request timed out)",
        _ when IsExpected(e) => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>backoff * 2^(attempt-1), at most 5 minutes.</summary>
    public static TimeSpan Backoff(TimeSpan backoff, int attempt) =>
        TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(5).Ticks, backoff.Ticks * (1L << Math.Min(20, attempt - 1))));

    private void AfterSuccess(long id, StepConfig step, long startedAt)
    {
        // "service verified": a probe or http step that started after the traffic was switched.
        if (step.Kind is not (StepKind.Probe or StepKind.Http)) return;
        var events = ctx.Executions.Events(id);
        var switched = events.LastOrDefault(e => e.Kind == "traffic-switched");
        if (switched is null || startedAt < switched.At || events.Any(e => e.Kind == "verified")) return;
        ctx.Executions.AddEvent(id, ctx.NowMs, "verified", step.Name, $"service verified by {step.Name} after the switch");
    }

    private static string Cap(string s) => s.Length <= MaxOutput ? s : "[...]\n" + s[^MaxOutput..];

    private static string FirstLine(string s)
    {
        var t = s.Trim();
        var i = t.IndexOf('\n');
        t = i < 0 ? t : t[..i] + " ...";
        return t.Length > 200 ? t[..200] + "..." : t;
    }

    public static string Describe(StepConfig s) => s.Spec switch
    {
        ProbeStepSpec p => $"probe: wait until {(p.Check is null ? p.Probe.Describe() : $"check {p.Check} ({p.Probe.Describe()})")} passes",
        ExecStepSpec e => $"exec: {Redact.Text(e.Command)}",
        HttpStepSpec h => $"http: {h.Method} {Redact.Url(h.Url.OriginalString)}",
        DnsStepSpec d => $"dns: set {d.Record} {d.Type} {string.Join(",", d.Values)} (ttl {d.Ttl}) in {d.Store}" +
                         (d.Ungated ? " (no gate)" : $" if {string.Join(", ", d.Gate.Select(g => g.Name))} pass{(d.Gate.Count == 1 ? "es" : "")} at that moment"),
        ReplicationStepSpec r => $"replication: {r.Action.ToString().ToLowerInvariant()} {r.Resource}",
        RestoreStepSpec r => $"restore: {r.Resource}{(r.PointInTime is null ? "" : $" to {r.PointInTime}")}",
        ApprovalStepSpec a => $"approval: {a.Message ?? "wait for lifeboat approve"}",
        NotifyStepSpec n => $"notify: {Redact.Url(n.Notify.Url.OriginalString)}",
        WaitStepSpec w => $"wait: {Durations.Format(w.Duration)}",
        _ => s.Kind.ToString(),
    };

    private Task<string> ExecuteAsync(long id, StepConfig step, long startedAt, CancellationToken ct, CancellationToken outer) => step.Spec switch
    {
        ProbeStepSpec p => ProbeAsync(p, ct, outer),
        ExecStepSpec e => ExecAsync(id, step, e, ct),
        HttpStepSpec h => HttpAsync(h, ct),
        DnsStepSpec d => DnsAsync(id, step, d, ct),
        ReplicationStepSpec r => ReplicationAsync(r, ct),
        RestoreStepSpec r => ctx.Restore is { } restore ? restore.RestoreAsync(r, ct)
            : throw new StepFailedException("restore is not available in this process"),
        ApprovalStepSpec a => ApprovalStepAsync(id, step, a, ct),
        NotifyStepSpec n => NotifyAsync(id, step, n, ct),
        WaitStepSpec w => WaitAsync(w, startedAt, ct),
        _ => throw new StepFailedException($"step kind {step.Kind} is not supported"),
    };

    private async Task<string> ProbeAsync(ProbeStepSpec p, CancellationToken ct, CancellationToken outer)
    {
        var probe = ctx.Probes.Create(p.Probe);
        var tries = 0;
        var last = "no probe finished";
        try
        {
            while (true)
            {
                tries++;
                var r = await ProbeRunner.RunAsync(probe, p.ProbeTimeout, ctx.Time, ct).ConfigureAwait(false);
                if (r.Ok) return $"{r.Detail} (after {tries} probe{(tries == 1 ? "" : "s")})";
                last = r.Detail;
                await Task.Delay(p.Every, ctx.Time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!outer.IsCancellationRequested)
        {
            throw new StepFailedException($"timed out after {tries} probes; last: {last}");
        }
    }

    private async Task<string> ExecAsync(long id, StepConfig step, ExecStepSpec e, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(e.Command);
        psi.WorkingDirectory = e.WorkingDirectory is null ? ctx.ConfigDir : Path.GetFullPath(Path.Combine(ctx.ConfigDir, e.WorkingDirectory));
        psi.Environment["LIFEBOAT_EXECUTION"] = id.ToString(CultureInfo.InvariantCulture);
        psi.Environment["LIFEBOAT_STEP"] = step.Name;
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, a) => { if (a.Data is not null) lock (output) output.AppendLine(a.Data); };
        p.ErrorDataReceived += (_, a) => { if (a.Data is not null) lock (output) output.AppendLine(a.Data); };
        if (!p.Start()) throw new StepFailedException($"cannot start /bin/sh for: {e.Command}");
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try { await p.WaitForExitAsync(ct).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        p.WaitForExit();
        string text;
        lock (output) text = output.ToString();
        if (p.ExitCode != 0)
            throw new StepFailedException($"exit code {p.ExitCode}{(text.Length > 0 ? ": " + Tail(text, 400) : "")}");
        return text.Length == 0 ? "(no output)" : text;
    }

    private static string Tail(string s, int n)
    {
        s = s.Trim().Replace('\n', ' ');
        return s.Length <= n ? s : "..." + s[^n..];
    }

    private async Task<string> HttpAsync(HttpStepSpec h, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(new HttpMethod(h.Method), h.Url);
        if (h.Body is not null) req.Content = new StringContent(h.Body, Encoding.UTF8, h.ContentType ?? "application/json");
        foreach (var (k, v) in h.Headers) req.Headers.TryAddWithoutValidation(k, v);
        using var resp = await ctx.Http.SendAsync(req, ct).ConfigureAwait(false);
        var body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        var code = (int)resp.StatusCode;
        var ok = h.ExpectStatus is { } want ? code == want : code is >= 200 and < 300;
        var url = Redact.Url(h.Url.OriginalString);
        if (!ok) throw new StepFailedException($"{h.Method} {url}: status {code}{(h.ExpectStatus is { } w ? $", expected {w}" : "")}: {Tail(body, 300)}");
        return $"{h.Method} {url}: {code}\n{(body.Length > 4096 ? body[..4096] : body)}";
    }

    private async Task<string> DnsAsync(long id, StepConfig step, DnsStepSpec d, CancellationToken ct)
    {
        IDnsRecordStore store = ctx.TrafficStore(d.Store);
        var want = new DnsRecordSet(d.Record, d.Type, d.Values, d.Ttl);
        var current = await store.GetAsync(d.Record, d.Type, ct).ConfigureAwait(false);
        var value = string.Join(",", d.Values);
        if (current is not null && SameValues(current.Values, d.Values))
        {
            // Already switched (e.g. resumed after a crash right after the change): nothing to do, nothing to gate.
            ctx.Executions.RecordTrafficChange(d.Store, d.Record, d.Type, value, ctx.NowMs, id);
            ctx.Executions.AddEvent(id, ctx.NowMs, "traffic-switched", step.Name, $"{d.Record} {d.Type} already answers {value} in {d.Store}");
            return $"{d.Record} {d.Type} already {value} in {d.Store}";
        }
        // Hold-down: a record Lifeboat changed recently is not changed again (no flapping between regions).
        if (ctx.Executions.LastTrafficChange(d.Store, d.Record, d.Type) is { } last && d.HoldDown > TimeSpan.Zero)
        {
            var age = TimeSpan.FromMilliseconds(ctx.NowMs - last.At);
            if (age < d.HoldDown)
                throw new StepFailedException($"switch refused: {d.Record} {d.Type} was changed to {last.Value} {Durations.Format(age)} ago " +
                                              $"(hold-down {Durations.Format(d.HoldDown)})");
        }
        // The gate: the target must pass its checks at this moment.
        var passed = new List<string>();
        foreach (var (name, spec) in d.Gate)
        {
            var r = await ProbeRunner.RunAsync(ctx.Probes.Create(spec), TimeSpan.FromSeconds(5), ctx.Time, ct).ConfigureAwait(false);
            if (!r.Ok) throw new StepFailedException($"switch refused by the gate: {name} {(r.Unknown ? "has no evidence now" : "fails now")}: {r.Detail}");
            passed.Add($"{name}: {r.Detail}");
        }
        var before = current is null ? "(none)" : string.Join(",", current.Values);
        await store.SetAsync(want, ct).ConfigureAwait(false);
        var after = await store.GetAsync(d.Record, d.Type, ct).ConfigureAwait(false);
        if (after is null || !SameValues(after.Values, d.Values))
            throw new StepFailedException($"{d.Store} accepted the change but answers {(after is null ? "nothing" : string.Join(",", after.Values))} for {d.Record} {d.Type}");
        var now = ctx.NowMs;
        ctx.Executions.RecordTrafficChange(d.Store, d.Record, d.Type, value, now, id);
        ctx.Executions.AddEvent(id, now, "traffic-switched", step.Name, $"{d.Record} {d.Type}: {before} -> {value} in {d.Store}");
        return $"{d.Record} {d.Type}: {before} -> {value} in {d.Store} (ttl {d.Ttl}); gate passed: {(passed.Count == 0 ? "none (gate: none)" : string.Join("; ", passed))}";
    }

    private static bool SameValues(IReadOnlyList<string> a, IReadOnlyList<string> b) =>
        a.Select(v => v.TrimEnd('.').ToLowerInvariant()).Order().SequenceEqual(b.Select(v => v.TrimEnd('.').ToLowerInvariant()).Order());

    private async Task<string> ReplicationAsync(ReplicationStepSpec r, CancellationToken ct)
    {
        var mode = r.Action switch
        {
            ReplicationAction.Pause => ReplicationMode.Paused,
            ReplicationAction.Stop => ReplicationMode.Stopped,
            ReplicationAction.Reverse => ReplicationMode.Reversed,
            _ => ReplicationMode.Forward,
        };
        var before = ReplicationControl.Get(ctx.State, r.Resource);
        ReplicationControl.Set(ctx.State, r.Resource, mode, ctx.NowMs);
        var name = ReplicationControl.Name(mode);
        if (!ReplicationControl.IsRunning(ctx.Config.StatePath, r.Resource))
            return $"{r.Resource}: replication {ReplicationControl.Name(before)} -> {name} (no replicate process runs it now; it starts {name})";
        while (ReplicationControl.Applied(ctx.State, r.Resource) != mode)
        {
            if (!ReplicationControl.IsRunning(ctx.Config.StatePath, r.Resource)) break;
            await Task.Delay(ctx.Poll, ctx.Time, ct).ConfigureAwait(false);
        }
        return $"{r.Resource}: replication {ReplicationControl.Name(before)} -> {name} (confirmed by the running replicate loop)";
    }

    private async Task<(long At, string? By)> WaitForApprovalAsync(long id, string step, string? message, CancellationToken ct)
    {
        while (true)
        {
            var changed = ctx.Executions.Changed; // before the look: an approval right after it still wakes the wait
            if (ctx.Executions.Approval(id, step) is { } a) return a;
            await ctx.Executions.WaitForChangeAsync(changed, ctx.Poll, ctx.Time, ct).ConfigureAwait(false);
        }
    }

    private async Task<string> ApprovalStepAsync(long id, StepConfig step, ApprovalStepSpec a, CancellationToken ct)
    {
        if (ctx.Executions.Approval(id, step.Name) is null)
        {
            ctx.Executions.StepStatus(id, step.Name, "waiting");
            ctx.Executions.AddEvent(id, ctx.NowMs, "approval-wait", step.Name, $"{a.Message ?? "waiting for approval"}: lifeboat approve {id}");
            Say($"execution {id}: {step.Name}: {a.Message ?? "waiting for approval"}: run `lifeboat approve {id}`");
        }
        var approval = await WaitForApprovalAsync(id, step.Name, a.Message, ct).ConfigureAwait(false);
        return $"approved by {approval.By ?? "an operator"} at {DateTimeOffset.FromUnixTimeMilliseconds(approval.At):u}";
    }

    private async Task<string> NotifyAsync(long id, StepConfig step, NotifyStepSpec n, CancellationToken ct)
    {
        var exec = ctx.Executions.Get(id)!;
        await Notifier.SendAsync(ctx.Http, n.Notify, $"Lifeboat {exec.Kind} {id} (runbook {exec.Runbook}): step {step.Name}",
            new Dictionary<string, object?> { ["execution"] = id, ["runbook"] = exec.Runbook, ["step"] = step.Name, ["kind"] = exec.Kind }, ct).ConfigureAwait(false);
        return $"notified {Redact.Url(n.Notify.Url.OriginalString)}";
    }

    private async Task<string> WaitAsync(WaitStepSpec w, long startedAt, CancellationToken ct)
    {
        // Measured from the step's first start: a resumed wait only waits what is left.
        var left = TimeSpan.FromMilliseconds(startedAt + (long)w.Duration.TotalMilliseconds - ctx.NowMs);
        if (left > TimeSpan.Zero) await Task.Delay(left, ctx.Time, ct).ConfigureAwait(false);
        return $"waited {Durations.Format(w.Duration)}";
    }

    /// <summary>Approves what an execution waits for: the decision to run (manual approval) and/or its approval steps
    /// that are waiting. Returns what was approved; throws when nothing waits.</summary>
    public static IReadOnlyList<string> Approve(ExecutionStore store, long id, long nowMs, string by)
    {
        var exec = store.Get(id) ?? throw new UserErrorException($"no execution {id} (see lifeboat executions)");
        if (!exec.Active) throw new UserErrorException($"execution {id} is {exec.Status}: nothing to approve");
        var approved = new List<string>();
        if (exec.Status == ExecutionStore.AwaitingApproval && store.Approval(id, "") is null)
        {
            store.Approve(id, "", nowMs, by);
            approved.Add($"the {exec.Kind} (runbook {exec.Runbook})");
        }
        foreach (var s in store.Steps(id).Where(s => s.Status == "waiting" && store.Approval(id, s.Step) is null))
        {
            store.Approve(id, s.Step, nowMs, by);
            approved.Add($"step {s.Step}");
        }
        if (approved.Count == 0) throw new UserErrorException($"execution {id} is not waiting for an approval now (status {exec.Status})");
        return approved;
    }
}
