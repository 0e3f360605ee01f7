using System.Globalization;
using System.Net;

namespace Lifeboat.Core.Config;

/// <summary>Loads and validates a Lifeboat YAML config. Every error names file, line and key.</summary>
public static partial class ConfigLoader
{
    private static readonly Dictionary<string, StoreType> StoreTypes = new()
    {
        ["s3"] = StoreType.S3,
        ["file"] = StoreType.File,
        ["dynamodb"] = StoreType.DynamoDb,
        ["routes"] = StoreType.Routes,
        ["dns"] = StoreType.Dns,
        ["route53"] = StoreType.Route53,
    };

    /// <summary>Loads <paramref name="file"/>. <paramref name="kinds"/>: the resource kinds besides buckets (the hosting
    /// layer's registry, <c>Lifeboat.Hosting.Configs</c>); without them only bucket resources are known.</summary>
    public static LifeboatConfig Load(string file, IReadOnlyList<IResourceKindReader>? kinds = null) => Build(YamlMap.Load(file), file, kinds ?? []);

    public static LifeboatConfig Parse(string file, string text, IReadOnlyList<IResourceKindReader>? kinds = null) => Build(YamlMap.Parse(file, text), file, kinds ?? []);

    private static LifeboatConfig Build(YamlMap root, string file, IReadOnlyList<IResourceKindReader> kinds)
    {
        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file)) ?? ".";
        var statePath = root.OptString("state") ?? ".lifeboat/state.db";
        statePath = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, statePath));

        var stores = new Dictionary<string, StoreConfig>(StringComparer.Ordinal);
        var storesMap = root.OptMap("stores");
        if (storesMap is not null)
        {
            foreach (var name in storesMap.Keys.ToList())
            {
                var m = storesMap.Map(name);
                stores[name] = ReadStore(name, m, baseDir);
            }
        }

        var readers = kinds.ToDictionary(k => k.Type, StringComparer.Ordinal);
        var context = new ConfigReadContext(stores);
        var resources = new List<BucketResource>();
        var names = new ResourceNames();
        var all = new List<ResourceConfig>();
        foreach (var r in root.OptListOfMaps("resources"))
        {
            // Each kind reads its own keys (ADR 0010); buckets are the engine's own kind.
            var type = ResourceType(r, readers);
            var res = type == "bucket" ? ReadResource(r, stores) : readers[type].Read(r, context);
            if (!names.Add(res.Name)) throw r.Error("name", $"duplicate resource name '{res.Name}'");
            if (res is BucketResource b) resources.Add(b);
            all.Add(res);
            names.Kinds[res.Name] = res;
        }

        MetricsConfig? metrics = null;
        if (root.OptMap("metrics") is { } mm)
        {
            metrics = new MetricsConfig(ParseEndpoint(mm, "listen", required: true)!) { Where = mm.Location("listen") };
            mm.EnsureNoUnknownKeys();
        }

        // Prices for `lifeboat cost`: a price file path or a mapping of overrides; the cost command reads them.
        if (root.Raw("prices") is { } prices && prices is not YamlDotNet.RepresentationModel.YamlScalarNode and not YamlDotNet.RepresentationModel.YamlMappingNode)
            throw root.Error("prices", "expected a price file path or a mapping of price overrides");
        var recovery = ReadRecovery(root, stores, names);
        root.EnsureNoUnknownKeys();
        CheckListenerConflicts(resources, file);
        var cfg = new LifeboatConfig(file, statePath, stores, resources, metrics) { Recovery = recovery, All = all };
        // serve's listener counts when the config is meant for serve (`serve` checks again at its start in any case).
        CheckListeners(cfg, withServe: root.Has("serve") || recovery.Checks.Count + recovery.Rules.Count + recovery.Runbooks.Count > 0);
        return cfg;
    }

    private static StoreConfig ReadStore(string name, YamlMap m, string baseDir)
    {
        var where = new ConfigLocation(m.File, m.Node.Start.Line, m.Path);
        var type = m.OneOf("type", StoreTypes, required: true);
        StoreConfig store;
        if (type == StoreType.Dns) store = ReadDnsStore(name, m, baseDir, where); // ConfigLoader.Dns.cs
        else if (type == StoreType.Route53) store = ReadRoute53Store(name, type, where, m);
        else if (type is StoreType.File or StoreType.Routes)
        {
            var path = m.String("path");
            store = new StoreConfig(name, type, where, Path: System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, path)));
        }
        else
        {
            var endpoint = ReadUrl(m, "endpoint");
            var region = m.OptString("region") ?? "us-east-1";
            var accessEnv = m.OptString("access_key_env");
            var secretEnv = m.OptString("secret_key_env");
            if ((accessEnv is null) != (secretEnv is null))
                throw m.Error(accessEnv is null ? "secret_key_env" : "access_key_env", "access_key_env and secret_key_env go together");
            var roleArn = m.OptString("role_arn");
            // STS for role_arn: sts_endpoint, else an S3-compatible server's own endpoint (Ceph RGW and MinIO answer
            // AssumeRole there), else AWS's STS.
            var sts = ReadUrl(m, "sts_endpoint");
            if (sts is not null && roleArn is null) throw m.Error("sts_endpoint", "sts_endpoint is only used with role_arn");
            if (sts is null && roleArn is not null && type == StoreType.S3) sts = endpoint;
            store = new StoreConfig(name, type, where,
                Endpoint: endpoint,
                Region: region,
                ForcePathStyle: type == StoreType.S3 ? m.OptBool("force_path_style") : null,
                Profile: m.OptString("profile"),
                RoleArn: roleArn,
                ExternalId: m.OptString("external_id"),
                AccessKeyEnv: accessEnv,
                SecretKeyEnv: secretEnv,
                StsEndpoint: sts);
        }
        m.EnsureNoUnknownKeys();
        return store;
    }

    private static string ResourceType(YamlMap r, Dictionary<string, IResourceKindReader> readers)
    {
        var typeNode = r.Raw("type");
        var type = r.OptString("type") ?? "bucket";
        if (type != "bucket" && !readers.ContainsKey(type))
            throw r.Error(typeNode!, r.Join("type"), $"resource type '{type}' is not supported by this version (supported: {string.Join(", ", ["bucket", .. readers.Keys])})");
        return type;
    }

    // The readers of the keys every kind shares, for the kinds' own readers (ConfigReadContext).
    internal static string ResourceNameOf(YamlMap r) => ResourceName(r);
    internal static string StoreRefOf(YamlMap m, IReadOnlyDictionary<string, StoreConfig> stores) => ReadStoreRef(m, stores);
    internal static Location LocationOf(YamlMap m, IReadOnlyDictionary<string, StoreConfig> stores) => ReadLocation(m, stores);
    internal static DeletePolicy DeletesOf(YamlMap r) => ReadDeletes(r);
    internal static HistoryConfig? HistoryOf(YamlMap r, IReadOnlyDictionary<string, StoreConfig> stores, bool table) => ReadHistory(r, stores, table);
    internal static void RefuseHistoryOf(YamlMap r, string why) => RefuseHistory(r, why);
    internal static string? UrlOf(YamlMap m, string key) => ReadUrl(m, key);
    internal static string RegionOf(YamlMap m, string key) => ReadRegion(m, key);
    internal static string TypeNameOf(StoreType t) => TypeName(t);

    private static string ResourceName(YamlMap r)
    {
        var name = r.String("name");
        if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw r.Error("name", $"'{name}' may only contain letters, digits, '-', '_' and '.'");
        return name;
    }

    private static DeletePolicy ReadDeletes(YamlMap r)
    {
        if (r.OptString("deletes") is not { } d) return DeletePolicy.Retain;
        return d switch
        {
            "retain" => DeletePolicy.Retain,
            "propagate" => DeletePolicy.Propagate,
            _ when Durations.TryParse(d, out var delay, out _) => new DeletePolicy(DeleteMode.Delayed, delay),
            _ when Durations.TryParse(d, out _, out var tooLong) || tooLong => throw r.Error("deletes", $"'{d}' is too long: at most {Durations.Format(Durations.Max)}"),
            _ => throw r.Error("deletes", $"expected retain, propagate or a duration like 24h, got '{d}'"),
        };
    }

    private static string TypeName(StoreType t) => StoreTypes.First(kv => kv.Value == t).Key;

    private static string ReadStoreRef(YamlMap m, IReadOnlyDictionary<string, StoreConfig> stores)
    {
        var store = m.String("store");
        if (!stores.ContainsKey(store))
            throw m.Error("store", stores.Count == 0
                ? $"store '{store}' is not defined (the config has no stores: section)"
                : $"store '{store}' is not defined (stores: {string.Join(", ", stores.Keys)})");
        return store;
    }

    private static BucketResource ReadResource(YamlMap r, IReadOnlyDictionary<string, StoreConfig> stores)
    {
        var name = ResourceName(r);

        var source = ReadLocation(r.Map("source"), stores);
        var target = ReadLocation(r.Map("target"), stores);
        if (source.Store == target.Store && source.Bucket == target.Bucket &&
            (source.Prefix.StartsWith(target.Prefix, StringComparison.Ordinal) || target.Prefix.StartsWith(source.Prefix, StringComparison.Ordinal)))
            throw r.Error("target", "source and target overlap (same store and bucket with nested prefixes): the copy would replicate itself");

        var deletes = ReadDeletes(r);

        EventsConfig? events = null;
        if (r.OptMap("events") is { } e)
        {
            // Binds the loopback address unless told otherwise.
            var listen = ParseEndpoint(e, "listen", required: false) ?? new IPEndPoint(IPAddress.Loopback, 8099);
            var token = ReadToken(e);
            var path = ReadPath(e, "path");
            var verifySns = e.OptBool("verify_sns") ?? true;
            var insecure = ReadInsecure(e, "listen", listen, token);
            var topicArns = e.OptStringList("topic_arns");
            foreach (var arn in topicArns)
                if (!Replication.S3Events.SnsTopicArn().IsMatch(arn))
                    throw e.Error("topic_arns", $"'{arn}' is not an Amazon SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)");
            e.EnsureNoUnknownKeys();
            events = new EventsConfig(listen, token, path, verifySns, topicArns) { Insecure = insecure, ListenWhere = e.Location("listen"), PathWhere = e.Location("path") };
        }

        var res = new BucketResource(
            name, source, target, deletes,
            Rpo: r.OptDuration("rpo", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromMinutes(15),
            Events: events,
            ReconcileEvery: r.OptDuration("reconcile_every", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromMinutes(10),
            Concurrency: r.OptInt("concurrency", 1, 256) ?? 32,
            MultipartThreshold: r.OptSize("multipart_threshold", 5L << 20, 128L << 20),
            PartSize: r.OptSize("part_size", 5L << 20, 128L << 20),
            Where: new ConfigLocation(r.File, r.Node.Start.Line, r.Path),
            Workload: r.OptMap("workload")) // for `lifeboat cost`, which validates its keys
        {
            DeepReconcileEvery = ReadDeepReconcileEvery(r),
            History = ReadHistory(r, stores, table: false),
        };
        if (res.History?.Place is { } hp && hp.Store == target.Store && hp.Bucket == target.Bucket && !hp.Prefix.StartsWith(target.Prefix + Replication.TargetClaim.Reserved, StringComparison.Ordinal)
            && (hp.Prefix.StartsWith(target.Prefix, StringComparison.Ordinal) || target.Prefix.StartsWith(hp.Prefix, StringComparison.Ordinal)))
            throw r.Map("history").Error("prefix", "the history overlaps the replica's own keys: give it another bucket or a prefix outside the target's");
        r.EnsureNoUnknownKeys();
        return res;
    }

    /// <summary><c>deep_reconcile_every</c>: a duration (1m to 49 days; default 24h), or <c>off</c>.</summary>
    private static TimeSpan? ReadDeepReconcileEvery(YamlMap r)
    {
        const string key = "deep_reconcile_every";
        var v = r.OptString(key);
        if (v is null) return BucketResource.DefaultDeepReconcileEvery;
        if (v == "off") return null;
        if (!Durations.TryParse(v, out _, out var tooLong) && !tooLong)
            throw r.Error(key, $"expected a duration such as 12h or 7d, or off, got '{v}'");
        return r.OptDuration(key, TimeSpan.FromMinutes(1));
    }

    private static Location ReadLocation(YamlMap m, IReadOnlyDictionary<string, StoreConfig> stores)
    {
        var store = ReadStoreRef(m, stores);
        if (stores[store].Type == StoreType.DynamoDb)
            throw m.Error("store", $"store '{store}' is of type dynamodb: a bucket resource needs an s3 or file store (use type: table for DynamoDB)");
        if (stores[store].Type is not (StoreType.S3 or StoreType.File))
            throw m.Error("store", $"store '{store}' is of type {TypeName(stores[store].Type)}: a bucket resource needs an s3 or file store");
        var bucket = m.String("bucket");
        if (bucket.Contains('/') || bucket is "." or ".." || bucket.StartsWith('.'))
            throw m.Error("bucket", $"'{bucket}' is not a valid bucket name");
        var prefix = m.OptString("prefix") ?? "";
        m.EnsureNoUnknownKeys();
        return new Location(store, bucket, prefix, new ConfigLocation(m.File, m.Node.Start.Line, m.Path));
    }

    private static IPEndPoint? ParseEndpoint(YamlMap m, string key, bool required)
    {
        var v = required ? m.String(key) : m.OptString(key);
        if (v is null) return null;
        var i = v.LastIndexOf(':');
        if (i <= 0 || !int.TryParse(v[(i + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw m.Error(key, $"expected HOST:PORT (port 1-65535) such as 127.0.0.1:8099, got '{v}'");
        var host = v[..i].Trim('[', ']');
        if (host == "localhost") host = "127.0.0.1";
        if (!IPAddress.TryParse(host, out var ip))
            throw m.Error(key, $"'{host}' is not an IP address (use 127.0.0.1, or 0.0.0.0 to listen on every interface)");
        return new IPEndPoint(ip, port);
    }

    private static void CheckListenerConflicts(List<BucketResource> resources, string file)
    {
        // Resources may share a listener only with the same token and path semantics.
        foreach (var g in resources.Where(r => r.Events is not null).GroupBy(r => r.Events!.Listen.ToString()))
        {
            var tokens = g.Select(r => r.Events!.Token ?? "").Distinct().Count();
            if (tokens > 1)
            {
                var r = g.Last();
                throw new ConfigException(file, r.Where.Line, 1, $"{r.Where.Key}.events.token",
                    $"resources sharing the listener {g.Key} must use the same token");
            }
        }
    }

    private static readonly Dictionary<string, HistoryLock> HistoryLocks = new() { ["governance"] = HistoryLock.Governance, ["compliance"] = HistoryLock.Compliance };

    /// <summary><c>history:</c> of a bucket or table resource (ADR 0011). A table's history needs an object store
    /// (<c>store</c> + <c>bucket</c>); <c>lock:</c> needs a separate history bucket in an s3 store (a bucket created with
    /// Object Lock; checked online by <c>validate --online</c> and at start-up).</summary>
    private static HistoryConfig? ReadHistory(YamlMap r, IReadOnlyDictionary<string, StoreConfig> stores, bool table)
    {
        if (r.OptMap("history") is not { } h) return null;
        var where = new ConfigLocation(h.File, h.Node.Start.Line, h.Path);
        var keep = h.OptDuration("keep", TimeSpan.FromHours(1)) ?? throw h.Error("keep", "is required (how long replaced versions are kept, e.g. 30d)");
        var lockMode = h.OneOf("lock", HistoryLocks, HistoryLock.None);
        Location? place = null;
        if (h.Has("store") || h.Has("bucket"))
        {
            var store = ReadStoreRef(h, stores);
            var st = stores[store].Type;
            if (st is not (StoreType.S3 or StoreType.File))
                throw h.Error("store", $"store '{store}' is of type {TypeName(st)}: history is kept in an s3 or file store");
            var bucket = h.String("bucket");
            if (bucket.Contains('/') || bucket is "." or ".." || bucket.StartsWith('.'))
                throw h.Error("bucket", $"'{bucket}' is not a valid bucket name");
            var prefix = h.OptString("prefix") ?? "";
            if (prefix.Length > 0 && !prefix.EndsWith('/')) throw h.Error("prefix", $"'{prefix}' must end with '/'");
            place = new Location(store, bucket, prefix, where);
        }
        else if (h.Has("prefix")) throw h.Error("prefix", "give store and bucket with a prefix");
        if (table && place is null)
            throw h.Error("store", "a table's history goes to an object store: give store and bucket (e.g. history: { keep: 14d, store: vault, bucket: orders-history })");
        TimeSpan? snapshotEvery = null;
        if (table) snapshotEvery = h.OptDuration("snapshot_every", TimeSpan.FromMinutes(1)) ?? HistoryConfig.DefaultSnapshotEvery;
        else if (h.Has("snapshot_every")) throw h.Error("snapshot_every", "is for table resources (a bucket keeps every replaced version, no snapshots)");
        if (lockMode != HistoryLock.None)
        {
            if (place is null)
                throw h.Error("lock", "Object Lock needs a separate history bucket created with Object Lock enabled (give store and bucket): the replica itself is never locked");
            if (stores[place.Store].Type == StoreType.File)
                throw h.Error("lock", $"store '{place.Store}' is a folder store, which cannot lock objects: use an s3 store whose bucket has Object Lock enabled");
        }
        h.EnsureNoUnknownKeys();
        return new HistoryConfig(keep, lockMode, place, snapshotEvery, where);
    }

    /// <summary><c>history:</c> on a kind that keeps its history another way (postgres: base backups + WAL; rds:
    /// snapshots) is refused where it is written.</summary>
    private static void RefuseHistory(YamlMap r, string why)
    {
        if (r.Has("history")) throw r.Error("history", why);
    }
}
