using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lifeboat.Hosting;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Recovery;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Commands;

/// <summary>failover, failback, approve, executions, report, runbook plan (and serve, in ServeCommand).</summary>
public static class RecoveryCommands
{

    public static void Register(RootCommand root, Option<string> config, Option<bool> reset)
    {
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };
        var runbook = new Option<string?>("--runbook") { Description = "Runbook to run (default: the config's only runbook)" };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation" };
        var failover = new Command("failover", "Run a failover runbook now (or resume its interrupted execution), then print the report with the measured RTO") { config, runbook, yes, reset };
        failover.SetAction((p, ct) => Cli.Run(() => FailoverAsync(p.GetValue(config)!, p.GetValue(runbook), p.GetValue(yes), p.GetValue(reset))));
        root.Subcommands.Add(failover);

        var fbRunbook = new Option<string?>("--runbook") { Description = "Failback runbook (default: the only runbook named failback*)" };
        var failback = new Command("failback", "Re-sync what was written in the recovery region back to the primary, verify, then run the failback runbook (switch back) and resume forward replication") { config, fbRunbook, yes, reset };
        failback.SetAction((p, ct) => Cli.Run(() => FailbackAsync(p.GetValue(config)!, p.GetValue(fbRunbook), p.GetValue(yes), p.GetValue(reset))));
        root.Subcommands.Add(failback);

        var execArg = new Argument<string>("execution") { Description = "Execution id (see lifeboat executions)" };
        var by = new Option<string?>("--by") { Description = "Who approves (recorded on the timeline; default: the user name)" };
        var approve = new Command("approve", "Approve what an execution waits for (a manual failover decision or an approval step)") { execArg, config, by, reset };
        approve.SetAction((p, ct) => Cli.Run(() => Task.FromResult(Approve(p.GetValue(config)!, p.GetValue(execArg)!, p.GetValue(by), p.GetValue(reset)))));
        root.Subcommands.Add(approve);

        var executions = new Command("executions", "List runbook executions (newest first)") { config, json, reset };
        executions.SetAction((p, ct) => Cli.Run(() => Task.FromResult(Executions(p.GetValue(config)!, p.GetValue(json), p.GetValue(reset)))));
        root.Subcommands.Add(executions);

        var execArg2 = new Argument<string>("execution") { Description = "Execution id (see lifeboat executions)" };
        var report = new Command("report", "An execution's timeline (fault detected, decision, each step, traffic switched, service verified) and the measured RTO in parts") { execArg2, config, json, reset };
        report.SetAction((p, ct) => Cli.Run(() => Task.FromResult(Report(p.GetValue(config)!, p.GetValue(execArg2)!, p.GetValue(json), p.GetValue(reset)))));
        root.Subcommands.Add(report);

        var rbName = new Argument<string?>("name") { Description = "Runbook (default: every runbook)", Arity = ArgumentArity.ZeroOrOne };
        var plan = new Command("plan", "Print what a runbook would run, in order, without running anything") { rbName, config };
        plan.SetAction((p, ct) => Cli.Run(() => Task.FromResult(Plan(p.GetValue(config)!, p.GetValue(rbName)))));
        var runbookCmd = new Command("runbook", "Runbook tools") { plan };
        root.Subcommands.Add(runbookCmd);

        ServeCommand.Register(root, config, reset);
    }

    internal static long ParseId(string s) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0 ? id
        : throw new UserErrorException($"'{s}' is not an execution id (a number; see lifeboat executions)");

    private static string PickRunbook(LifeboatConfig cfg, string? name, Func<string, bool>? preferred = null, string what = "runbook")
    {
        if (name is not null) return cfg.Recovery.Runbook(cfg.File, name).Name;
        var all = cfg.Recovery.Runbooks.Keys.ToList();
        if (all.Count == 0) throw new UserErrorException($"{cfg.File}: the config has no runbooks: section");
        if (preferred is not null)
        {
            var p = all.Where(preferred).ToList();
            if (p.Count == 1) return p[0];
            throw new UserErrorException($"{cfg.File}: name the {what} with --runbook (runbooks: {string.Join(", ", all)})");
        }
        if (all.Count == 1) return all[0];
        throw new UserErrorException($"{cfg.File}: several runbooks; name one with --runbook ({string.Join(", ", all)})");
    }

    private static bool Confirm(string question, bool yes)
    {
        if (yes) return true;
        if (Console.IsInputRedirected) throw new UserErrorException("not a terminal: add --yes to run without a confirmation prompt");
        Console.Write($"{question} [y/N] ");
        return Console.ReadLine()?.Trim().ToLowerInvariant() is "y" or "yes";
    }

    public static async Task<int> FailoverAsync(string file, string? runbookName, bool yes, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        var name = PickRunbook(cfg, runbookName);
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs(LogLevel.Warning);
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        using var rec = new RecoveryRuntime(rt, Console.Out);
        long id;
        if (rec.Executions.ActiveFor(name) is { } active)
        {
            id = active.Id;
            Console.WriteLine($"resuming execution {id} of runbook {name} (started {DateTimeOffset.FromUnixTimeMilliseconds(active.CreatedAt):u})");
        }
        else
        {
            Console.Write(Reports.Plan(cfg.Recovery.Runbook(file, name)).Replace("  (plan only: nothing was run)\n", ""));
            if (!Confirm($"Run runbook {name} now?", yes)) { Console.WriteLine("not run"); return Cli.Failed; }
            var now = rt.Time.GetUtcNow();
            try { id = rec.Engine.Create(name, RunbookEngine.KindFailover, "manual (lifeboat failover)", ApprovalMode.Auto, now, now, "operator started the failover"); }
            catch (ActiveExecutionException e) { id = e.Id; }
            Console.WriteLine($"execution {id} started");
        }
        ExecutionRow result;
        try { result = await rec.Engine.RunAsync(id, shutdown.Stop).ConfigureAwait(false); }
        catch (OperationCanceledException) when (shutdown.Stop.IsCancellationRequested)
        {
            Console.Error.WriteLine($"lifeboat: interrupted; execution {id} resumes with: lifeboat failover -c {file} --runbook {name}");
            return 130;
        }
        Console.WriteLine();
        Console.Write(Reports.Render(Reports.Build(rec.Executions, id)));
        return result.Status == ExecutionStore.Succeeded ? Cli.Ok : Cli.Failed;
    }

    /// <summary>
    /// Failback: (1) every resource a failover paused, stopped or reversed is paused (the running replicate loop
    /// confirms); (2) the recovery side is compared with the primary: what was written there during the outage is
    /// listed; (3) it is copied back (buckets: a reversed reconcile pass, deletes retained; tables: the reverse stream
    /// replication, as <c>replicate --reverse</c>); (4) verified equal; (5) the failback runbook runs (its dns step
    /// switches back, gated by the primary's checks); (6) forward replication resumes.
    /// </summary>
    public static async Task<int> FailbackAsync(string file, string? runbookName, bool yes, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        var name = PickRunbook(cfg, runbookName, n => n.StartsWith("failback", StringComparison.Ordinal), "failback runbook");
        using var shutdown = new Cli.Shutdown();
        using var logs = Cli.Logs(LogLevel.Warning);
        await using var rt = new Runtime(cfg, TimeProvider.System, logs, resetState);
        using var rec = new RecoveryRuntime(rt, Console.Out);
        var ex = rec.Executions;
        long NowMs() => rt.Time.GetUtcNow().ToUnixTimeMilliseconds();

        long id;
        if (ex.ActiveFor(name) is { } active && active.Kind == RunbookEngine.KindFailback)
        {
            id = active.Id;
            Console.WriteLine($"resuming failback execution {id}");
        }
        else
        {
            Console.Write(Reports.Plan(cfg.Recovery.Runbook(file, name)).Replace("  (plan only: nothing was run)\n", ""));
            if (!Confirm($"Fail back with runbook {name} now?", yes)) { Console.WriteLine("not run"); return Cli.Failed; }
            id = rec.Engine.Create(name, RunbookEngine.KindFailback, "manual (lifeboat failback)", ApprovalMode.Auto, null, null, "operator started the failback");
            Console.WriteLine($"failback execution {id} started");
        }

        if (!ex.Events(id).Any(e => e.Kind == "data-verified"))
        {
            var buckets = cfg.Resources.Where(r => ReplicationControl.Get(rt.State, r.Name) != ReplicationMode.Forward).ToList();
            var tables = cfg.Tables.Where(t => ReplicationControl.Get(rt.State, t.Name) != ReplicationMode.Forward).ToList();
            if (buckets.Count + tables.Count == 0)
            {
                ex.AddEvent(id, NowMs(), "data-verified", null, "no resource was paused, stopped or reversed by a failover: nothing to re-sync");
                Console.WriteLine("no resource was paused, stopped or reversed by a failover: nothing to re-sync");
            }
            var ok = true;
            foreach (var res in buckets.Select(b => b.Name).Concat(tables.Select(t => t.Name)))
            {
                ReplicationControl.Set(rt.State, res, ReplicationMode.Paused, NowMs());
                while (ReplicationControl.IsRunning(cfg.StatePath, res) && ReplicationControl.Applied(rt.State, res) != ReplicationMode.Paused)
                    await Task.Delay(ReplicationControl.PollInterval, shutdown.Stop).ConfigureAwait(false);
                ex.AddEvent(id, NowMs(), "replication", null, $"{res}: replication paused for the failback re-sync");
            }
            foreach (var b in buckets)
            {
                var rev = Hosting.Kinds.BucketProtection.Reverse(b);
                var from = rt.Store(rev.Source.Store);
                var to = rt.Store(rev.Target.Store);
                var before = await new Verifier(rev, from, to, rt.State).RunAsync(shutdown.Stop).ConfigureAwait(false);
                var written = before.Differences.Where(d => d.Kind != DifferenceKind.Extra).ToList();
                var primaryOnly = before.Differences.Count(d => d.Kind == DifferenceKind.Extra);
                var line = $"{b.Name}: {written.Count} objects written or changed in the recovery region during the outage" +
                           (primaryOnly > 0 ? $"; {primaryOnly} exist only at the primary (kept)" : "");
                Console.WriteLine(line);
                foreach (var d in written.Take(50)) Console.WriteLine($"  {d.Kind.ToString().ToLowerInvariant(),-9} {d.Key}");
                if (written.Count > 50) Console.WriteLine($"  ... and {written.Count - 50} more");
                ex.AddEvent(id, NowMs(), "outage-writes", null, line + (written.Count > 0 ? ": " + string.Join(", ", written.Take(20).Select(d => d.Key)) : ""));
                var rep = rt.Replicator(rev);
                await rep.PrepareAsync(shutdown.Stop).ConfigureAwait(false);
                await rep.RetryOpenChangesAsync(shutdown.Stop).ConfigureAwait(false);
                var pass = await rep.ReconcileAsync(null, shutdown.Stop, shutdown.Stop).ConfigureAwait(false);
                ex.AddEvent(id, NowMs(), "resynced", null, $"{b.Name}: {pass.Copied} objects copied back to the primary ({Sizes.Format(pass.Bytes)})");
                var after = await new Verifier(rev, from, to, rt.State).RunAsync(shutdown.Stop).ConfigureAwait(false);
                var left = after.Differences.Count(d => d.Kind != DifferenceKind.Extra);
                ex.AddEvent(id, NowMs(), "verify", null, $"{b.Name}: primary {(left == 0 ? "holds" : "does NOT hold")} every object of the recovery region ({after.Equal} equal, {left} different)");
                Console.WriteLine($"{b.Name}: re-synced {pass.Copied} objects to the primary; verify: {(left == 0 ? "OK" : $"{left} DIFFERENT")}");
                ok &= left == 0;
            }
            foreach (var t in tables)
            {
                var revRes = TableReplicator.Reverse(t);
                var before = await new TableVerifier(revRes, rt.Dynamo(revRes.Source.Store), rt.Dynamo(revRes.Target.Store), rt.State, rt.Time).RunAsync(shutdown.Stop).ConfigureAwait(false);
                var written = before.Differences.Where(d => d.Kind != DifferenceKind.Extra).ToList();
                var line = $"{t.Name}: {written.Count} items written or changed in the recovery region during the outage";
                Console.WriteLine(line);
                foreach (var d in written.Take(50)) Console.WriteLine($"  {d.Kind.ToString().ToLowerInvariant(),-9} {d.Key}");
                ex.AddEvent(id, NowMs(), "outage-writes", null, line);
                var rep = rt.TableReplicator(t, reverse: true);
                await rep.PrepareAsync(shutdown.Stop).ConfigureAwait(false);
                var r = await rep.RunOnceAsync(shutdown.Stop, shutdown.Stop).ConfigureAwait(false);
                ex.AddEvent(id, NowMs(), "resynced", null, $"{t.Name}: reverse replication: {r.Written} items synced, {r.Keys} stream changes applied");
                var after = await new TableVerifier(revRes, rt.Dynamo(revRes.Source.Store), rt.Dynamo(revRes.Target.Store), rt.State, rt.Time).RunAsync(shutdown.Stop).ConfigureAwait(false);
                var left = after.Differences.Count(d => d.Kind != DifferenceKind.Extra);
                ex.AddEvent(id, NowMs(), "verify", null, $"{t.Name}: primary {(left == 0 ? "holds" : "does NOT hold")} every item of the recovery table ({left} different)");
                Console.WriteLine($"{t.Name}: re-synced to the primary; verify: {(left == 0 ? "OK" : $"{left} DIFFERENT")}");
                ok &= left == 0;
            }
            if (!ok)
            {
                ex.AddEvent(id, NowMs(), "finished", null, "failback stopped: the primary does not hold everything written in the recovery region");
                ex.Finish(id, ExecutionStore.Failed, NowMs(), "re-sync did not verify: traffic not switched back");
                Console.Error.WriteLine("lifeboat: failback stopped before switching back: the re-synced primary does not verify (see above)");
                return Cli.Failed;
            }
            ex.AddEvent(id, NowMs(), "data-verified", null, "the primary holds everything written in the recovery region");
        }

        ExecutionRow result;
        try { result = await rec.Engine.RunAsync(id, shutdown.Stop).ConfigureAwait(false); }
        catch (OperationCanceledException) when (shutdown.Stop.IsCancellationRequested)
        {
            Console.Error.WriteLine($"lifeboat: interrupted; the failback resumes with: lifeboat failback -c {file} --runbook {name}");
            return 130;
        }
        if (result.Status == ExecutionStore.Succeeded)
        {
            // Every kind (ADR 0010): postgres and rds protection a failover paused or stopped resumes too.
            foreach (var res in cfg.All.Select(r => r.Name))
            {
                if (ReplicationControl.Get(rt.State, res) == ReplicationMode.Forward) continue;
                ReplicationControl.Set(rt.State, res, ReplicationMode.Forward, NowMs());
                ex.AddEvent(id, NowMs(), "replication", null, $"{res}: forward replication (primary -> recovery) resumed");
                Console.WriteLine($"{res}: forward replication resumed");
            }
        }
        Console.WriteLine();
        Console.Write(Reports.Render(Reports.Build(ex, id)));
        return result.Status == ExecutionStore.Succeeded ? Cli.Ok : Cli.Failed;
    }

    /// <summary>The state file's runbook side, opened on its own (approve, executions, report).</summary>
    private static ExecutionStore OpenExecutions(LifeboatConfig cfg, bool resetState, ILoggerFactory logs) =>
        new(cfg.StatePath, new Core.State.StateOpenOptions(resetState, TimeProvider.System, logs.CreateLogger("lifeboat.state")));

    public static int Approve(string file, string execution, string? by, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        var id = ParseId(execution);
        using var logs = Cli.Logs(LogLevel.Warning);
        using var store = OpenExecutions(cfg, resetState, logs);
        var who = by ?? Environment.UserName;
        var approved = RunbookEngine.Approve(store, id, TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds(), who);
        Console.WriteLine($"execution {id}: approved {string.Join(" and ", approved)} (by {who})");
        return Cli.Ok;
    }

    public static int Executions(string file, bool json, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        using var logs = Cli.Logs(LogLevel.Warning);
        using var store = OpenExecutions(cfg, resetState, logs);
        var list = store.List(100);
        var reports = list.Select(e => Reports.Build(store, e.Id)).ToList();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(reports.Select(r => new ExecutionSummaryJson(r.Execution.Id, r.Execution.Runbook,
                r.Execution.Kind, r.Execution.Status, r.Execution.Trigger, DateTimeOffset.FromUnixTimeMilliseconds(r.Execution.CreatedAt),
                r.Rto.TotalMs / 1000.0)).ToList(), CliJson.Default.ListExecutionSummaryJson));
            return Cli.Ok;
        }
        if (list.Count == 0) { Console.WriteLine("no executions yet"); return Cli.Ok; }
        Console.WriteLine($"{"ID",5}  {"RUNBOOK",-20} {"KIND",-9} {"STATUS",-18} {"STARTED",-20} {"RTO",9}  TRIGGER");
        foreach (var r in reports)
        {
            var e = r.Execution;
            Console.WriteLine($"{e.Id,5}  {e.Runbook,-20} {e.Kind,-9} {e.Status,-18} {DateTimeOffset.FromUnixTimeMilliseconds(e.CreatedAt):yyyy-MM-dd HH:mm:ss}  {Reports.Secs(r.Rto.TotalMs),9}  {e.Trigger}");
        }
        return Cli.Ok;
    }

    public static int Report(string file, string execution, bool json, bool resetState = false)
    {
        var cfg = Configs.Load(file);
        using var logs = Cli.Logs(LogLevel.Warning);
        using var store = OpenExecutions(cfg, resetState, logs);
        var rep = Reports.Build(store, ParseId(execution));
        if (json) Console.WriteLine(JsonSerializer.Serialize(rep, CliJson.Default.ExecutionReport));
        else Console.Write(Reports.Render(rep));
        return rep.Execution.Status == ExecutionStore.Failed ? Cli.Failed : Cli.Ok;
    }

    /// <summary>`validate`: one line per check, rule and runbook.</summary>
    public static void PrintSummary(LifeboatConfig cfg)
    {
        foreach (var c in cfg.Recovery.Checks)
            Console.WriteLine($"  check {c.Name}: {c.Probe.Describe()} every {Durations.Format(c.Interval)} (timeout {Durations.Format(c.Timeout)}), " +
                              $"down after {c.Threshold}{(c.OnFailure.Count == 0 ? "" : " -> " + string.Join(", ", c.OnFailure.Select(Describe)))}");
        foreach (var r in cfg.Recovery.Rules)
            Console.WriteLine($"  rule {r.Name}: events matching {r.PatternJson} -> {string.Join(", ", r.Actions.Select(Describe))}");
        foreach (var rb in cfg.Recovery.Runbooks.Values)
            Console.WriteLine($"  runbook {rb.Name}: {string.Join(" -> ", rb.Order)}{(rb.Handlers.Count == 0 ? "" : $" (failure handlers: {string.Join(", ", rb.Handlers)})")}");
    }

    private static string Describe(ActionSpec a) =>
        string.Join(" and ", new[] { a.Runbook is null ? null : $"runbook {a.Runbook} ({a.Approval.ToString().ToLowerInvariant()})", a.Notify is null ? null : $"notify {Redact.Url(a.Notify.Url.OriginalString)}" }.OfType<string>());

    public static int Plan(string file, string? name)
    {
        var cfg = Configs.Load(file);
        var names = name is null ? cfg.Recovery.Runbooks.Keys.ToList() : [cfg.Recovery.Runbook(file, name).Name];
        if (names.Count == 0) throw new UserErrorException($"{file}: the config has no runbooks: section");
        foreach (var n in names) Console.Write(Reports.Plan(cfg.Recovery.Runbooks[n]));
        return Cli.Ok;
    }
}
