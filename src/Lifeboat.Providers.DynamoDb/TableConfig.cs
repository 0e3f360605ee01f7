using Lifeboat.Core.Config;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>A DynamoDB table in a <c>type: dynamodb</c> store.</summary>
public sealed record TableLocation(string Store, string Table, ConfigLocation Where);

/// <summary>
/// A <c>type: table</c> resource: a DynamoDB table replicated from its stream into a table of another store.
/// <see cref="CreateTarget"/> creates the target with the source's keys, indexes and billing mode when it is absent;
/// <see cref="ExcludeAttributes"/> are left out of every copied item (never key attributes);
/// <see cref="Concurrency"/> is the number of parallel Scan segments (and writers) of the initial sync;
/// <see cref="Canary"/> optionally writes a marker item to the source every so often and times its arrival.
/// </summary>
public sealed record TableResource(
    string Name,
    TableLocation Source,
    TableLocation Target,
    bool CreateTarget,
    IReadOnlyList<string> ExcludeAttributes,
    DeletePolicy Deletes,
    TimeSpan Rpo,
    int Concurrency,
    ConfigLocation Where,
    TableCanary? Canary = null) : ResourceConfig(Name, Where)
{
    public override string Type => "table";
    public override ResourceCapabilities Capabilities => History is null ? Caps : CapsWithHistory;
    public override TimeSpan? TargetRpo => Rpo;

    private static readonly ResourceCapabilities Caps = Replicated("to_table");
    private static readonly ResourceCapabilities CapsWithHistory = WithHistory(Caps);

    /// <summary><c>history:</c>: archived stream changes and periodic snapshots (ADR 0011); null = a mirror only.</summary>
    public HistoryConfig? History { get; init; }

    public override string Describe() => $"table {Source.Store}/{Source.Table} -> {Target.Store}/{Target.Table} (stream)";
}

/// <summary>
/// <c>canary: 10s</c> or <c>canary: { every: 10s, key: { pk: lifeboat-canary } }</c>: while replicating
/// continuously, Lifeboat writes a small marker item with this key to the source every <see cref="Every"/> and
/// measures when it is durable on the target. <see cref="Key"/> gives a value per key attribute as text (converted
/// to the attribute's type from the table's definition); null = every key attribute is "lifeboat-canary" (0 for a
/// number).
/// </summary>
public sealed record TableCanary(TimeSpan Every, IReadOnlyDictionary<string, string>? Key, ConfigLocation Where);

/// <summary>Reads <c>type: table</c> resources (ADR 0010: the provider owns its keys and their errors).</summary>
public sealed class TableKind : IResourceKindReader
{
    public string Type => "table";

    public ResourceConfig Read(YamlMap r, ConfigReadContext context)
    {
        var name = context.Name(r);
        var source = ReadTableLocation(r.Map("source"), context);
        var target = ReadTableLocation(r.Map("target"), context);
        if (source.Store == target.Store && source.Table == target.Table)
            throw r.Error("target", "source and target are the same table: the copy would replicate itself");

        var exclude = r.OptStringList("exclude_attributes");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < exclude.Count; i++)
        {
            if (exclude[i].Length == 0) throw r.Error("exclude_attributes", $"item {i + 1} is empty: name an attribute");
            if (!seen.Add(exclude[i])) throw r.Error("exclude_attributes", $"'{exclude[i]}' is listed twice");
        }

        var res = new TableResource(
            name, source, target,
            CreateTarget: r.OptBool("create_target") ?? false,
            ExcludeAttributes: exclude,
            Deletes: context.Deletes(r),
            Rpo: r.OptDuration("rpo", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromMinutes(15),
            Concurrency: r.OptInt("concurrency", 1, 64) ?? 4,
            Where: ConfigReadContext.Where(r),
            Canary: ReadCanary(r)) { History = context.History(r, table: true) };
        r.EnsureNoUnknownKeys();
        return res;
    }

    private static TableCanary? ReadCanary(YamlMap r)
    {
        var node = r.Raw("canary");
        if (node is null) return null;
        var where = new ConfigLocation(r.File, node.Start.Line, r.Join("canary"));
        if (node is YamlDotNet.RepresentationModel.YamlScalarNode)
            return new TableCanary(r.OptDuration("canary", TimeSpan.FromSeconds(1)) ?? throw r.Error("canary", "expected a duration such as 10s"), null, where);
        var m = r.Map("canary");
        var every = m.OptDuration("every", TimeSpan.FromSeconds(1)) ?? throw m.Error("every", "is required (how often to write the canary, e.g. 10s)");
        Dictionary<string, string>? key = null;
        if (m.OptMap("key") is { } k)
        {
            key = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var name in k.Keys.ToList()) key[name] = k.String(name);
            if (key.Count is 0 or > 2) throw m.Error("key", "name the table's key attributes (one or two) with the canary's values");
            k.EnsureNoUnknownKeys();
        }
        m.EnsureNoUnknownKeys();
        return new TableCanary(every, key, where);
    }

    private static TableLocation ReadTableLocation(YamlMap m, ConfigReadContext context)
    {
        var store = context.StoreRef(m);
        if (context.Stores[store].Type != StoreType.DynamoDb)
            throw m.Error("store", $"store '{store}' is of type {context.TypeName(context.Stores[store].Type)}: a table resource needs a dynamodb store");
        var table = m.String("table");
        if (table.Length is < 3 or > 255 || table.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw m.Error("table", $"'{table}' is not a valid DynamoDB table name (3 to 255 letters, digits, '-', '_' or '.')");
        m.EnsureNoUnknownKeys();
        return new TableLocation(store, table, ConfigReadContext.Where(m));
    }
}

/// <summary>The table resources of a config (a view of <see cref="LifeboatConfig.All"/>).</summary>
public static class TableConfigViews
{
    extension(LifeboatConfig cfg)
    {
        public IReadOnlyList<TableResource> Tables => cfg.Of<TableResource>();

        public TableResource Table(string name) => cfg.Find<TableResource>(name, "table");

        /// <summary>Every bucket and table resource (null), or the one bucket or table resource named.</summary>
        public (IReadOnlyList<BucketResource> Buckets, IReadOnlyList<TableResource> Tables) SelectAny(string? name)
        {
            if (name is null) return (cfg.Resources, cfg.Tables);
            if (cfg.Resources.FirstOrDefault(r => r.Name == name) is { } b) return ([b], []);
            if (cfg.Tables.FirstOrDefault(r => r.Name == name) is { } t) return ([], [t]);
            throw new UserErrorException($"{cfg.File}: no resource named '{name}' (resources: {string.Join(", ", cfg.Resources.Select(r => r.Name).Concat(cfg.Tables.Select(r => r.Name)))})");
        }
    }
}
