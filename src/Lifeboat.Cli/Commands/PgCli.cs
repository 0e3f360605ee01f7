using System.CommandLine;

namespace Lifeboat.Cli.Commands;

/// <summary>Registers <c>pg backup|restore|verify</c>, <c>wal-push</c> and <c>wal-fetch</c>.</summary>
internal static class PgCli
{
    public static void Add(RootCommand root)
    {
        var cfg = Program.ConfigOption;
        var resource = new Option<string>("--resource", "-r") { Description = "The postgres resource", Required = true };
        var pg = new Command("pg", "PostgreSQL: base backups, point-in-time restore, archive verification");

        var backup = new Command("backup", "Take a base backup now (then apply retention)") { cfg, resource };
        backup.SetAction((p, ct) => Cli.Run(() => PgCommand.BackupAsync(p.GetValue(cfg)!, p.GetValue(resource)!, ct)));
        pg.Subcommands.Add(backup);

        var target = new Option<string>("--target-dir") { Description = "New (or empty) data directory to restore into", Required = true };
        var time = new Option<string?>("--time") { Description = "Recover to this time (ISO 8601; UTC unless an offset is given)" };
        var latest = new Option<bool>("--latest") { Description = "Recover to the end of the archive" };
        var start = new Option<bool>("--start") { Description = "Start the restored server, wait until it is promoted and check it reached the target" };
        var port = new Option<int?>("--port") { Description = "Port for the restored server (with --start)" };
        var restore = new Command("restore", "Restore a base backup and WAL into a data directory that recovers to --time or --latest") { cfg, resource, target, time, latest, start, port };
        restore.SetAction((p, ct) => Cli.Run(() => PgCommand.RestoreAsync(p.GetValue(cfg)!, p.GetValue(resource)!, p.GetValue(target)!, p.GetValue(time),
            p.GetValue(latest), p.GetValue(start), p.GetValue(port), ct)));
        pg.Subcommands.Add(restore);

        var optResource = new Option<string?>("--resource", "-r") { Description = "Only this postgres resource" };
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };
        var verify = new Command("verify", "Check every backup's and WAL segment's checksums and the WAL chain; print the recoverable time ranges") { cfg, optResource, json };
        verify.SetAction((p, ct) => Cli.Run(() => PgCommand.VerifyAsync(p.GetValue(cfg)!, p.GetValue(optResource), p.GetValue(json), ct)));
        pg.Subcommands.Add(verify);
        root.Subcommands.Add(pg);

        var path = new Argument<string>("path") { Description = "%p: the WAL file to archive" };
        var push = new Command("wal-push", "archive_command: store a WAL file; exit 0 only once it is durable") { cfg, resource, path };
        push.SetAction((p, ct) => Cli.Run(() => PgCommand.WalPushAsync(p.GetValue(cfg)!, p.GetValue(resource)!, p.GetValue(path)!, ct)));
        root.Subcommands.Add(push);

        var name = new Argument<string>("name") { Description = "%f: the WAL file name" };
        var dest = new Argument<string>("dest") { Description = "%p: where to write it" };
        var fetch = new Command("wal-fetch", "restore_command: fetch an archived WAL file; exit 1 when it is not archived") { cfg, resource, name, dest };
        fetch.SetAction((p, ct) => Cli.Run(() => PgCommand.WalFetchAsync(p.GetValue(cfg)!, p.GetValue(resource)!, p.GetValue(name)!, p.GetValue(dest)!, ct)));
        root.Subcommands.Add(fetch);
    }
}
