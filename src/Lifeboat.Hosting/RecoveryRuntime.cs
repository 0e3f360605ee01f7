using Lifeboat.Providers.Postgres;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.Traffic;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Recovery;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Hosting;

/// <summary>
/// The recovery engine wired to this build's providers: traffic stores (routing files here; RFC 2136 zones and Route 53
/// hosted zones), the metrics alarms read (the same figures as
/// <c>lifeboat status</c>), restores through the existing restore code, and the event-pattern matcher.
/// </summary>
public sealed class RecoveryRuntime : IDisposable
{
    private readonly Dictionary<string, IDnsRecordStore> _traffic = new(StringComparer.Ordinal);
    private static readonly HttpClient SharedHttp = new() { Timeout = TimeSpan.FromSeconds(30) };

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Core.Events.EventPattern> Patterns = new(StringComparer.Ordinal);

    /// <summary>The EventBridge event-pattern matcher (Lifeboat.Core.Events); patterns are parsed once.</summary>
    public static bool Matcher(string pattern, string eventJson) =>
        Patterns.GetOrAdd(pattern, p => Core.Events.EventPattern.Parse(p, "rule")).Matches(eventJson);

    public RecoveryRuntime(Runtime rt, TextWriter? progress = null)
    {
        Runtime = rt;
        // After the runtime's open of the state file (its checks, upgrade or --reset-state): a second connection.
        Executions = new ExecutionStore(rt.State);
        var probes = new ProbeFactory(rt.Config, SharedHttp, Traffic, ReadMetric);
        Context = new RecoveryContext
        {
            Config = rt.Config,
            Time = rt.Time,
            Executions = Executions,
            State = rt.State,
            Http = SharedHttp,
            TrafficStore = Traffic,
            Probes = probes,
            Restore = new RestoreRunner(rt),
            Log = rt.Logs.CreateLogger("lifeboat.recovery"),
            Progress = progress,
        };
        Engine = new RunbookEngine(Context);
        Dispatcher = new Dispatcher(Context, Engine, Matcher);
    }

    public Runtime Runtime { get; }
    public ExecutionStore Executions { get; }
    public RecoveryContext Context { get; }
    public RunbookEngine Engine { get; }
    public Dispatcher Dispatcher { get; }

    public IDnsRecordStore Traffic(string name)
    {
        lock (_traffic)
        {
            if (_traffic.TryGetValue(name, out var s)) return s;
            var cfg = Runtime.Config.Stores.TryGetValue(name, out var c) ? c
                : throw new UserErrorException($"{Runtime.Config.File}: no store named '{name}'");
            IDnsRecordStore store = cfg.Type switch
            {
                StoreType.Routes => new RoutingFileStore(name, cfg.Path!),
                StoreType.Dns => Providers.Dns.DnsStores.Create(cfg, Runtime.Time),
                StoreType.Route53 => Providers.Aws.Route53.Route53RecordStore.ForStore(cfg, Runtime.Time),
                _ => throw new UserErrorException(
                    $"{cfg.Where}: store '{name}' of type {cfg.Type.ToString().ToLowerInvariant()} is not available in this build (traffic stores: routes, dns, route53)"),
            };
            return _traffic[name] = store;
        }
    }

    /// <summary>Alarm metrics: rpo (measured RPO, s), lag (p99 over the last hour, s), backlog, failed. Null = not
    /// measured, no evidence either way (the alarm holds its state): a table's RPO until its stream was read to its end
    /// once, and lag while no change finished in the last hour but some are still pending (how long those wait is what
    /// the rpo alarm measures). Lag with no change in the last hour and none pending is 0: nothing is behind.</summary>
    public double? ReadMetric(string resource, string metric)
    {
        var now = Runtime.Time.GetUtcNow();
        // Only kinds that measure figures (validate refuses alarms on the others: ResourceCapabilities.Figures).
        if (Runtime.Config.All.FirstOrDefault(r => r.Name == resource) is not { Capabilities.Figures.Count: > 0 } res
            || Kinds.ResourceKinds.Measured(Runtime.State, res, now) is not [var s, ..]) return null;
        return metric switch
        {
            "rpo" => s.RpoKnown ? s.RpoSeconds : null,
            "lag" => s.LagP99Seconds ?? (s.Backlog == 0 ? 0 : null),
            "backlog" => s.Backlog,
            "failed" => s.Failed,
            _ => null,
        };
    }

    public void Dispose() => Executions.Dispose();

    /// <summary>restore: steps: buckets and tables through the restore command's code paths.</summary>
    private sealed class RestoreRunner(Runtime rt) : IRestoreRunner
    {
        public async Task<string> RestoreAsync(RestoreStepSpec spec, CancellationToken ct)
        {
            var cfg = rt.Config;
            if (cfg.Postgres.FirstOrDefault(p => p.Name == spec.Resource) is { } pg)
            {
                if (spec.PointInTime is null || spec.TargetDir is null)
                    throw new StepFailedException($"restore of postgres resource '{pg.Name}' needs point_in_time (a time or 'latest') and target_dir");
                DateTimeOffset? t = spec.PointInTime == "latest" ? null
                    : DateTimeOffset.Parse(spec.PointInTime, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);
                var archive = Runtime.PgArchiveOf(cfg, pg, out var archiveStore);
                await using var _ = archiveStore;
                var r = await new Providers.Postgres.PgRestore(pg, archive, rt.Logs.CreateLogger("lifeboat." + pg.Name))
                    .RunAsync(new Providers.Postgres.RestoreOptions(spec.TargetDir, t, spec.Port is not null, spec.Port), ct).ConfigureAwait(false);
                return $"restore {pg.Name}: base backup {r.BackupId} + {r.WalSegments} WAL segments into {r.DataDir}" +
                       (r.Started ? $", started on port {spec.Port}, replayed to {r.ReplayLsn}" : " (not started)");
            }
            if (spec.PointInTime is not null)
                throw new StepFailedException($"restore: point_in_time is for postgres resources; '{spec.Resource}' is not one");
            if (cfg.Tables.FirstOrDefault(t => t.Name == spec.Resource) is { } table)
            {
                var store = spec.ToStore ?? table.Source.Store;
                var to = new TableLocation(store, spec.ToTable ?? table.Source.Table, table.Source.Where);
                if (to.Store == table.Target.Store && to.Table == table.Target.Table) throw new StepFailedException($"restore: '{to.Table}' is the replica itself");
                var restorer = new TableRestorer(table, rt.Dynamo(table.Target.Store), rt.Dynamo(table.Source.Store), rt.Dynamo(to.Store), to, rt.Time,
                    rt.Logs.CreateLogger("lifeboat." + table.Name));
                var r = await restorer.RunAsync(spec.Overwrite, ct).ConfigureAwait(false);
                return $"restore {table.Name}: {r.Restored} items restored{(spec.Overwrite ? $", {r.Overwritten} replaced" : "")} to {to.Store}/{to.Table}; {r.Equal} already equal";
            }
            if (cfg.Resources.FirstOrDefault(r => r.Name == spec.Resource) is not { } res)
                throw new StepFailedException($"restore: '{spec.Resource}' is not a bucket, table or postgres resource");
            var rel = spec.Prefix ?? "";
            var toBucket = spec.ToBucket ?? res.Source.Bucket;
            var dest = new Location(spec.ToStore ?? res.Source.Store, toBucket, res.Source.Prefix + rel, res.Source.Where);
            var restore = res with { Name = res.Name + ".restore", Source = res.Target with { Prefix = res.Target.Prefix + rel }, Target = dest, Deletes = DeletePolicy.Retain, Events = null };
            var rep = rt.Replicator(restore, onlyMissing: !spec.Overwrite);
            await rep.PrepareAsync(ct).ConfigureAwait(false);
            await rep.RetryOpenChangesAsync(ct).ConfigureAwait(false);
            var pass = await rep.ReconcileAsync(null, ct, ct).ConfigureAwait(false);
            var failed = rt.State.Failed(restore.Name);
            if (!pass.Completed || failed.Count > 0)
                throw new StepFailedException($"restore {res.Name}: {failed.Count} objects failed{(failed.Count > 0 ? $" (first: {failed[0].Key}: {failed[0].Error})" : "")}");
            return $"restore {res.Name}: {pass.Copied} objects restored ({Sizes.Format(pass.Bytes)}) to {dest.Store}/{dest.Bucket}/{dest.Prefix}; {pass.InSync} already present";
        }
    }
}
