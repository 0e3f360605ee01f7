using System.CommandLine;
using Lifeboat.Cli.Commands;

namespace Lifeboat.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = BuildCommands();
        var parse = root.Parse(args);
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
    }

    internal static readonly Option<string> ConfigOption = new("--config", "-c") { Description = "Lifeboat YAML config file", Required = true };

    /// <summary>On every command that opens the state file (ADR 0009).</summary>
    internal static readonly Option<bool> ResetStateOption = new("--reset-state")
    {
        Description = "Start over knowingly: set a damaged state file aside (as STATE.damaged-TIME, never deleted) and begin a new one; " +
                      "targets protected by another (e.g. a lost) state file are taken over. Logged.",
    };

    public static RootCommand BuildCommands()
    {
        var root = new RootCommand("Lifeboat: disaster recovery for cloud applications (replicate, verify, restore, measure)");
        var resource = new Option<string?>("--resource", "-r") { Description = "Only this resource" };
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };

        var validate = new Command("validate", "Check a config file; errors name file, line and key") { ConfigOption };
        validate.SetAction((p, ct) => Cli.Run(() => Task.FromResult(ValidateCommand.Run(p.GetValue(ConfigOption)!))));
        root.Subcommands.Add(validate);

        var once = new Option<bool>("--once") { Description = "Backfill and reconcile, then exit (0 only if everything is replicated)" };
        var reverse = new Option<bool>("--reverse") { Description = "Table resources: replicate from the target back to the source (failback after a failover)" };
        var deep = new Option<bool>("--deep") { Description = "With --once, bucket resources: then compare every object's metadata and tags (HEAD + tags on both sides) and repair drift (continuous mode: every deep_reconcile_every)" };
        var replicate = new Command("replicate", "Replicate resources: continuously (until SIGINT/SIGTERM), or --once") { ConfigOption, resource, once, reverse, deep, ResetStateOption };
        replicate.SetAction((p, ct) => Cli.Run(() => ReplicateCommand.RunAsync(p.GetValue(ConfigOption)!, p.GetValue(resource), p.GetValue(once), p.GetValue(reverse),
            p.GetValue(ResetStateOption), p.GetValue(deep))));
        root.Subcommands.Add(replicate);

        var verifyReverse = new Option<bool>("--reverse") { Description = "Table resources: compare the failback way (the recovery table as the source)" };
        var verify = new Command("verify", "Compare source and target: exit 0 when the target holds every source object (or item) with equal content and metadata") { ConfigOption, resource, json, verifyReverse, ResetStateOption };
        verify.SetAction((p, ct) => Cli.Run(() => VerifyCommand.RunAsync(p.GetValue(ConfigOption)!, p.GetValue(resource), p.GetValue(json), ct, p.GetValue(verifyReverse),
            p.GetValue(ResetStateOption))));
        root.Subcommands.Add(verify);

        var status = new Command("status", "Backlog, lag p50/p99 over the last hour and measured RPO per resource") { ConfigOption, json, ResetStateOption };
        status.SetAction((p, ct) => Cli.Run(() => Task.FromResult(StatusCommand.Run(p.GetValue(ConfigOption)!, p.GetValue(json), p.GetValue(ResetStateOption)))));
        root.Subcommands.Add(status);

        var restoreResource = new Option<string>("--resource", "-r") { Description = "Resource to restore", Required = true };
        var prefix = new Option<string?>("--prefix") { Description = "Only keys under this prefix (relative to the resource's prefix)" };
        var toStore = new Option<string?>("--to-store") { Description = "Restore into this store instead of the source" };
        var toBucket = new Option<string?>("--to-bucket") { Description = "Restore into this bucket instead of the source's" };
        var toTable = new Option<string?>("--to-table") { Description = "Table resources: restore into this table (created with the source's keys if absent) instead of the source" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Also replace objects (items) that exist but differ (default: only restore missing ones)" };
        var restore = new Command("restore", "Copy objects (or items) back from the replica (by default to the source)") { ConfigOption, restoreResource, prefix, toStore, toBucket, toTable, overwrite, ResetStateOption };
        restore.SetAction((p, ct) => Cli.Run(() => RestoreCommand.RunAsync(p.GetValue(ConfigOption)!, p.GetValue(restoreResource)!, p.GetValue(prefix),
            p.GetValue(toStore), p.GetValue(toBucket), p.GetValue(overwrite), ct, p.GetValue(toTable), p.GetValue(ResetStateOption))));
        root.Subcommands.Add(restore);

        var windows = new Command("windows", "Per resource: the recoverable window (earliest and latest point), its precision, the history's size and object count") { ConfigOption, json };
        windows.SetAction((p, ct) => Cli.Run(() => HistoryCommands.WindowsAsync(p.GetValue(ConfigOption)!, p.GetValue(json), ct)));
        root.Subcommands.Add(windows);

        var costConfig = new Option<string?>("--config", "-c") { Description = "Lifeboat YAML config: estimate each resource from its workload: block or the state store's measurements" };
        var scenario = new Option<string?>("--scenario") { Description = "A scenario file to sweep, or a built-in scenario (seed)" };
        var costOut = new Option<string?>("--out") { Description = "Write the scenario's table (.md) and chart (.svg, .png) into this folder (without it, no file is written)" };
        var cost = new Command("cost", "Monthly DR cost, native options versus Lifeboat, for a config's workloads (-c) or a sweep (--scenario)") { costConfig, scenario, json, costOut };
        cost.SetAction((p, ct) => Cli.Run(() => Task.FromResult(CostCommand.Run(p.GetValue(costConfig), p.GetValue(scenario), p.GetValue(json), p.GetValue(costOut),
            Console.Out, Console.Error, TimeProvider.System))));
        root.Subcommands.Add(cost);

        var rdsResource = new Option<string>("--resource", "-r") { Description = "The rds resource", Required = true };
        var rdsSnapshot = new Command("snapshot", "Take a snapshot now, copy it to the target region, tag it and apply retention") { ConfigOption, rdsResource, ResetStateOption };
        rdsSnapshot.SetAction((p, ct) => Cli.Run(() => RdsCommand.SnapshotAsync(p.GetValue(ConfigOption)!, p.GetValue(rdsResource)!, ct, p.GetValue(ResetStateOption))));
        root.Subcommands.Add(new Command("rds", "RDS snapshot resources (type: rds)") { rdsSnapshot });

        var dir = new Option<string?>("--dir") { Description = "Folder for the demo's data (default: a new temporary folder)" };
        var demo = new Command("demo", "Replicate, lose data by a mistyped delete, restore: on embedded defaults (local folders, SQLite)") { dir };
        demo.SetAction((p, ct) => Cli.Run(() => DemoCommand.RunAsync(p.GetValue(dir), ct)));
        root.Subcommands.Add(demo);
        RecoveryCommands.Register(root, ConfigOption, ResetStateOption); // failover, failback, approve, executions, report, runbook plan, serve
        root.Subcommands.Add(EventsCommand.Build()); // events test-pattern
        PgCli.Add(root);
        return root;
    }
}
