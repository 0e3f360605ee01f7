using Lifeboat.Providers.Postgres;
using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Core.Storage;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Providers.S3;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Hosting;

/// <summary>
/// The composition root: config -> stores -> replicators. The only place that knows every provider.
/// </summary>
public sealed class Runtime : IAsyncDisposable
{
    private readonly Dictionary<string, IObjectStore> _stores = new(StringComparer.Ordinal);
    private readonly List<FileStream> _locks = [];
    private readonly Dictionary<string, Amazon.DynamoDBv2.IAmazonDynamoDB> _dynamo = new(StringComparer.Ordinal);
    private readonly List<TableReplicator> _tables = [];
    private readonly List<IDisposable> _owned = [];

    /// <param name="resetState"><c>--reset-state</c>: a damaged state file is set aside and a new one begun; targets
    /// protected by another state are taken over (both logged).</param>
    public Runtime(LifeboatConfig config, TimeProvider time, ILoggerFactory logs, bool resetState = false)
    {
        Config = config;
        Time = time;
        Logs = logs;
        ResetState = resetState;
        // Opened on a pool thread: commands set up their stores meanwhile (the first use waits for it).
        State = StateStore.OpenInBackground(config.StatePath, new StateOpenOptions(resetState, time, logs.CreateLogger("lifeboat.state")));
    }

    public bool ResetState { get; }

    public LifeboatConfig Config { get; }
    public TimeProvider Time { get; }
    public ILoggerFactory Logs { get; }
    public StateStore State { get; }
    public MetricsRegistry Metrics { get; } = new();

    /// <summary>The upload-buffer budget of every S3 store this runtime creates (one per process, not a static).</summary>
    public MemoryBudget Budget { get; } = new(MemoryBudget.DefaultBytes);

    /// <summary>The rds copy gates of every runner this runtime creates.</summary>
    private readonly Providers.Aws.Rds.RdsCopyGates _rdsGates = new();

    /// <param name="logs">Where a folder store reports the entries its listings skip (links, FIFOs, ...).</param>
    /// <summary>The WAL and base-backup archive of a postgres resource, in a new store the caller disposes.</summary>
    public static Providers.Postgres.PgArchive PgArchiveOf(LifeboatConfig cfg, PostgresResource res, out IObjectStore store)
    {
        if (!cfg.Stores.TryGetValue(res.Target.Store, out var sc)) throw new UserErrorException($"{res.Target.Where}: no store '{res.Target.Store}'");
        store = CreateStore(sc);
        return Providers.Postgres.PgArchive.For(res, store);
    }

    public static IObjectStore CreateStore(StoreConfig cfg, ILoggerFactory? logs = null, MemoryBudget? budget = null) => cfg.Type switch
    {
        StoreType.File => new FileStore(cfg.Name, cfg.Path!, log: logs?.CreateLogger("lifeboat.store." + cfg.Name)),
        StoreType.S3 => new S3Store(cfg, TimeProvider.System, budget),
        _ => throw new UserErrorException($"{cfg.Where}: unsupported store type {cfg.Type}"),
    };

    public IObjectStore Store(string name)
    {
        if (_stores.TryGetValue(name, out var s)) return s;
        if (!Config.Stores.TryGetValue(name, out var cfg))
            throw new UserErrorException($"{Config.File}: no store named '{name}' (stores: {string.Join(", ", Config.Stores.Keys)})");
        return _stores[name] = CreateStore(cfg, Logs, Budget);
    }

    /// <param name="claim">What the replicator does with its target's claim marker: forward replication claims it
    /// (replicate, serve), verify checks it; restores and the reverse direction leave it alone.</param>
    public ObjectReplicator Replicator(BucketResource res, bool onlyMissing = false, ClaimMode claim = ClaimMode.None) =>
        new(res, Store(res.Source.Store), Store(res.Target.Store), State, Time, Metrics,
            Logs.CreateLogger("lifeboat." + res.Name), onlyMissing: onlyMissing) { Claim = claim, TakeOverClaim = ResetState };

    /// <summary>The replicator of a table resource; <paramref name="reverse"/> = from its target back to its source
    /// (failback). Disposed with the runtime.</summary>
    public TableReplicator TableReplicator(TableResource res, bool reverse = false, ClaimMode claim = ClaimMode.None)
    {
        var rep = Providers.DynamoDb.TableReplicator.Create(Config, res, State, Time, Logs.CreateLogger("lifeboat." + res.Name + (reverse ? Providers.DynamoDb.TableReplicator.ReverseSuffix : "")), reverse);
        rep.Metrics = Metrics;
        rep.Claim = reverse ? ClaimMode.None : claim;
        rep.TakeOverClaim = ResetState;
        _tables.Add(rep);
        return rep;
    }

    /// <summary>The snapshot runner of an rds resource (its RDS clients are disposed with the runtime).</summary>
    public Providers.Aws.Rds.RdsSnapshotRunner RdsRunner(RdsResource res)
    {
        var (runner, source, target) = Providers.Aws.Rds.RdsFactory.Create(Config, res, State, Time, Logs.CreateLogger("lifeboat." + res.Name), _rdsGates);
        _owned.Add(source);
        _owned.Add(target);
        return runner;
    }

    /// <summary>A DynamoDB client for a <c>type: dynamodb</c> store (one per store, disposed with the runtime).</summary>
    public Amazon.DynamoDBv2.IAmazonDynamoDB Dynamo(string store)
    {
        if (_dynamo.TryGetValue(store, out var c)) return c;
        if (!Config.Stores.TryGetValue(store, out var cfg))
            throw new UserErrorException($"{Config.File}: no store named '{store}' (stores: {string.Join(", ", Config.Stores.Keys)})");
        if (cfg.Type != StoreType.DynamoDb)
            throw new UserErrorException($"{Config.File}: store '{store}' is not a dynamodb store");
        return _dynamo[store] = Providers.DynamoDb.TableReplicator.CreateClient(cfg);
    }

    /// <summary>Takes the per-resource run lock (an OS file lock, released even on kill -9), so two
    /// replicate processes never work the same resource at once.</summary>
    public void LockResource(string resource)
    {
        var path = $"{Config.StatePath}.{resource}.lock";
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            // The state store may still be creating its folder in the background: the lock does not wait for it.
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"state file {Path.GetFullPath(Config.StatePath)}: cannot create its folder {dir}: {e.Message}");
        }
        try
        {
            _locks.Add(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (Exception e) when (e is UnauthorizedAccessException or DirectoryNotFoundException or PathTooLongException)
        {
            throw new UserErrorException($"resource '{resource}': cannot create the run lock {path}: {e.Message}");
        }
        catch (IOException)
        {
            throw new UserErrorException($"resource '{resource}' is being replicated by another lifeboat process (lock {path})");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _stores.Values) await s.DisposeAsync().ConfigureAwait(false);
        foreach (var t in _tables) t.Dispose();
        foreach (var d in _dynamo.Values) d.Dispose();
        foreach (var o in _owned) o.Dispose();
        foreach (var l in _locks) await l.DisposeAsync().ConfigureAwait(false);
        State.Dispose();
    }
}
