using Lifeboat.Core.Config;
using Lifeboat.Cost.Model;
using Lifeboat.Cost.Prices;

namespace Lifeboat.Cost.Input;

/// <summary>One resource of a config, as the cost model sees it.</summary>
public sealed record CostResource(string Name, string Type, ResourceKind Kind, WorkloadSpec Workload, YamlMap Map);

/// <summary>
/// The cost command's own, tolerant pass over a Lifeboat config: it reads <c>state</c>, the stores' types,
/// <c>prices</c> and, per resource, <c>name</c>, <c>type</c>, the source/target stores, <c>reconcile_every</c> and
/// <c>workload</c>, and ignores every other key, so configs with resource types that <c>validate</c> does not know
/// yet (table, rds, postgres) can be costed. The <c>workload</c> and <c>prices</c> blocks themselves are strict.
/// </summary>
public sealed record CostConfig(string File, string StatePath, PriceBook Prices, IReadOnlyList<CostResource> Resources)
{
    private static readonly IReadOnlyDictionary<string, ResourceKind> Types = new Dictionary<string, ResourceKind>(StringComparer.Ordinal)
    {
        ["bucket"] = ResourceKind.Bucket,
        ["table"] = ResourceKind.Table,
        ["rds"] = ResourceKind.Rds,
        ["postgres"] = ResourceKind.Postgres,
    };

    public static CostConfig Load(string file) => Read(YamlMap.Load(file), file);

    public static CostConfig Parse(string file, string text) => Read(YamlMap.Parse(file, text), file);

    private static CostConfig Read(YamlMap root, string file)
    {
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".";
        var state = Path.GetFullPath(Path.Combine(baseDir, root.OptString("state") ?? ".lifeboat/state.db"));
        var prices = PriceBook.FromSetting(root, "prices", baseDir);

        var storeTypes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.OptMap("stores") is { } stores)
            foreach (var name in stores.Keys.ToList())
                if (stores.OptMap(name) is { } s) storeTypes[name] = s.OptString("type") ?? "";

        var list = new List<CostResource>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in root.OptListOfMaps("resources"))
        {
            var name = r.String("name");
            if (!names.Add(name)) throw r.Error("name", $"duplicate resource name '{name}'");
            var type = r.OptString("type") ?? "bucket";
            if (!Types.TryGetValue(type, out var kind))
                throw r.Error("type", $"resource type '{type}' has no cost model (known: {string.Join(", ", Types.Keys)}; a folder sync is a bucket whose source store has type: file)");
            var defaults = CostOptions.Default;
            if (kind == ResourceKind.Bucket)
            {
                string? StoreType(string side) => r.OptMap(side)?.OptString("store") is { } s && storeTypes.TryGetValue(s, out var t) ? t : null;
                if (StoreType("source") == "file") kind = ResourceKind.Folder;
                defaults = defaults with
                {
                    TargetIsFolder = StoreType("target") == "file",
                    // A bucket's reconciliation cost follows its own reconcile_every (Lifeboat's default: 10m).
                    ReconcileEvery = r.OptDuration("reconcile_every", TimeSpan.FromSeconds(1)) ?? defaults.ReconcileEvery,
                };
            }
            var workload = WorkloadSpec.Read(r.OptMap("workload"), kind, prices, defaults);
            list.Add(new CostResource(name, type, kind, workload, r));
        }
        return new CostConfig(file, state, prices, list);
    }
}
