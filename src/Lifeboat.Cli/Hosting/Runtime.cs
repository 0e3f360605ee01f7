using Lifeboat.Core.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Metrics;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Core.Storage;
using Lifeboat.Providers.S3;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli.Hosting;

/// <summary>
/// The composition root: config -> stores -> replicators. The only place that knows every provider.
/// </summary>
public sealed class Runtime : IAsyncDisposable
{
    private readonly Dictionary<string, IObjectStore> _stores = new(StringComparer.Ordinal);
    private readonly List<FileStream> _locks = [];

    public Runtime(LifeboatConfig config, TimeProvider time, ILoggerFactory logs)
    {
        Config = config;
        Time = time;
        Logs = logs;
        State = new StateStore(config.StatePath);
    }

    public LifeboatConfig Config { get; }
    public TimeProvider Time { get; }
    public ILoggerFactory Logs { get; }
    public StateStore State { get; }
    public MetricsRegistry Metrics { get; } = new();

    public static IObjectStore CreateStore(StoreConfig cfg) => cfg.Type switch
    {
        StoreType.File => new FileStore(cfg.Name, cfg.Path!),
        StoreType.S3 => new S3Store(cfg),
        _ => throw new UserErrorException($"{cfg.Where}: unsupported store type {cfg.Type}"),
    };

    public IObjectStore Store(string name)
    {
        if (_stores.TryGetValue(name, out var s)) return s;
        if (!Config.Stores.TryGetValue(name, out var cfg))
            throw new UserErrorException($"{Config.File}: no store named '{name}' (stores: {string.Join(", ", Config.Stores.Keys)})");
        return _stores[name] = CreateStore(cfg);
    }

    public ObjectReplicator Replicator(BucketResource res, bool onlyMissing = false) =>
        new(res, Store(res.Source.Store), Store(res.Target.Store), State, Time, Metrics,
            Logs.CreateLogger("lifeboat." + res.Name), onlyMissing: onlyMissing);

    /// <summary>Takes the per-resource run lock (an OS file lock, released even on kill -9), so two
    /// replicate processes never work the same resource at once.</summary>
    public void LockResource(string resource)
    {
        var path = $"{Config.StatePath}.{resource}.lock";
        try
        {
            _locks.Add(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException)
        {
            throw new UserErrorException($"resource '{resource}' is being replicated by another lifeboat process (lock {path})");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _stores.Values) await s.DisposeAsync().ConfigureAwait(false);
        foreach (var l in _locks) await l.DisposeAsync().ConfigureAwait(false);
        State.Dispose();
    }
}
