using System.Globalization;
using System.Text;
using Lifeboat.Cost.Input;
using Lifeboat.Cost.Model;
using Lifeboat.Cost.Prices;

namespace Lifeboat.Cost.Output;

/// <summary>The estimate of one resource of a config (null options with a reason when it could not be estimated).</summary>
public sealed record ResourceEstimate(string Name, string Type, ResourceKind Kind, string Where, IReadOnlyList<Figure> Figures, IReadOnlyList<OptionCost> Options, string? Skipped);

// JSON shapes (snake_case): stable names for scripts.
public sealed record PricesJson(string File, string Name, string Region, string Currency, string Taken, string Notice, IReadOnlyList<string> Sources, IReadOnlyList<string> Overrides);
public sealed record FigureJson(string Name, double Value, string Source, string Note);
public sealed record ItemJson(string Category, string What, double Quantity, string Unit, string PriceKey, string? Entry, double UnitPrice, double Per, double Amount);
public sealed record OptionJson(string Id, string Name, string Side, double Total, IReadOnlyList<ItemJson> Items);
public sealed record ResourceJson(string Name, string Type, string Kind, string Where, IReadOnlyList<FigureJson> Workload, IReadOnlyList<OptionJson> Options, string? CheapestNative, string? CheapestLifeboat, string? Skipped);
public sealed record ConfigJson(string Config, PricesJson Prices, IReadOnlyList<ResourceJson> Resources);
public sealed record RowJson(double WritesPerMonth, IReadOnlyDictionary<string, double> Totals);
public sealed record CrossingJson(double WritesPerMonth, double Cost, bool LifeboatCheaperAbove);
public sealed record PairJson(string Native, string Lifeboat, IReadOnlyList<CrossingJson> BreakEven, string Verdict);
public sealed record ScenarioJson(string Scenario, string Title, string Resource, PricesJson Prices, IReadOnlyList<FigureJson> Workload,
    IReadOnlyDictionary<string, string> Options, IReadOnlyList<RowJson> Rows, IReadOnlyList<PairJson> Pairs, IReadOnlyList<string> Files);

public static class Reports
{
    public static PricesJson Json(PriceBook p) => new(p.File, p.Name, p.Region, p.Currency, p.Taken.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), p.Notice, p.Sources, p.Overrides);

    public static OptionJson Json(OptionCost o) => new(o.Id, o.Name, o.Side.ToString().ToLowerInvariant(), Round(o.Total),
        o.Items.Select(i => new ItemJson(i.Category.ToString().ToLowerInvariant(), i.What, i.Quantity, i.Unit, i.PriceKey, i.Entry, i.UnitPrice, i.Per, Round(i.Amount))).ToList());

    public static FigureJson Json(Figure f) => new(f.Name, f.Value, f.Source.ToString().ToLowerInvariant(), f.Note);

    private static double Round(double v) => Math.Round(v, 6);

    public static ConfigJson Json(CostConfig cfg, IReadOnlyList<ResourceEstimate> estimates) => new(cfg.File, Json(cfg.Prices),
        estimates.Select(e => new ResourceJson(e.Name, e.Type, e.Kind.ToString().ToLowerInvariant(), e.Where, e.Figures.Select(Json).ToList(),
            e.Options.Select(Json).ToList(), Cheapest(e.Options, Side.Native)?.Id, Cheapest(e.Options, Side.Lifeboat)?.Id, e.Skipped)).ToList());

    public static OptionCost? Cheapest(IReadOnlyList<OptionCost> options, Side side) =>
        options.Where(o => o.Side == side).OrderBy(o => o.Total).FirstOrDefault();

    public static string PricesLine(PriceBook p)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Prices: {p.Name} ({p.Region}, {p.Currency}) from {p.File}: {p.Notice}; taken {p.Taken:yyyy-MM-dd}.");
        if (p.Overrides.Count > 0) sb.Append(CultureInfo.InvariantCulture, $" Overridden: {string.Join("; ", p.Overrides)}.");
        return sb.ToString();
    }

    public static string FigureValue(Figure f) => f.Name switch
    {
        "change_rate" => (f.Value * 100).ToString("0.##", CultureInfo.InvariantCulture) + "% a month",
        _ when f.Name.EndsWith("_size", StringComparison.Ordinal) || f.Name == "changed_per_month" => Format.Bytes(f.Value),
        _ => Format.Exact(f.Value),
    };

    /// <summary>The line items of one option, one per line, indented.</summary>
    public static void WriteOption(StringBuilder sb, OptionCost o, string currency, string indent)
    {
        sb.AppendLine(CultureInfo.InvariantCulture, $"{indent}{o.Name,-58} {Format.Money(o.Total),12} {currency}/month");
        foreach (var i in o.Items)
        {
            var price = $"{Format.Quantity(i.Quantity)} {Format.Plural(i.Unit, i.Quantity)} × {Format.Price(i.UnitPrice)} per {(i.Per == 1 ? i.Unit : Format.Exact(i.Per))}";
            sb.AppendLine(CultureInfo.InvariantCulture, $"{indent}  {i.Category.ToString().ToLowerInvariant(),-13} {i.What,-56} {price,-44} {Format.Money(i.Amount),10}");
        }
    }

    public static string Text(CostConfig cfg, IReadOnlyList<ResourceEstimate> estimates)
    {
        var sb = new StringBuilder();
        sb.AppendLine(PricesLine(cfg.Prices));
        foreach (var e in estimates)
        {
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"{e.Name}: {ResourceKinds.Describe(e.Kind)} ({e.Where})");
            if (e.Skipped is not null)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"  not estimated: {e.Skipped}");
                continue;
            }
            sb.AppendLine("  workload:");
            foreach (var f in e.Figures)
                sb.AppendLine(CultureInfo.InvariantCulture, $"    {f.Name,-20} {FigureValue(f),-22} {f.Note}");
            foreach (var o in e.Options)
            {
                sb.AppendLine();
                WriteOption(sb, o, cfg.Prices.Currency, "  ");
            }
            var n = Cheapest(e.Options, Side.Native)!;
            var l = Cheapest(e.Options, Side.Lifeboat)!;
            var diff = n.Total - l.Total;
            sb.AppendLine();
            var verdict = diff >= 0 ? $"(saves {Format.Money(diff)} {cfg.Prices.Currency}/month)" : $"(costs {Format.Money(-diff)} {cfg.Prices.Currency}/month more)";
            sb.AppendLine(CultureInfo.InvariantCulture, $"  cheapest native: {n.Name} {Format.Money(n.Total)}; cheapest Lifeboat: {l.Name} {Format.Money(l.Total)} {verdict}");
        }
        return sb.ToString();
    }

    public static IReadOnlyDictionary<string, string> OptionSummary(ResourceKind kind, CostOptions o)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (kind is ResourceKind.Bucket or ResourceKind.Rds or ResourceKind.Postgres)
        {
            d["function_duration"] = Format.Duration(o.FunctionDuration);
            d["function_memory"] = Format.Bytes(o.FunctionMemoryBytes);
        }
        if (kind is ResourceKind.Bucket or ResourceKind.Folder or ResourceKind.Table)
        {
            d["instance_type"] = o.InstanceType;
            d["instance_disk"] = Format.Bytes(o.InstanceDiskBytes);
        }
        if (kind is ResourceKind.Bucket or ResourceKind.Folder) d["reconcile_every"] = o.ReconcileEvery is { } r ? Format.Duration(r) : "off";
        if (kind is ResourceKind.Table)
        {
            d["stream_shards"] = o.StreamShards.ToString(CultureInfo.InvariantCulture);
            d["stream_poll_interval"] = Format.Duration(o.StreamPollInterval);
        }
        if (ResourceKinds.IsDatabase(kind))
        {
            d["instance_class"] = o.DbInstanceClass ?? "";
            d["snapshot_every"] = Format.Duration(o.SnapshotEvery);
            d["snapshot_retention"] = Format.Duration(o.SnapshotRetention);
        }
        return d;
    }

    /// <summary>The scenario as Markdown: totals per row, break-even per pair, and the line items of one row.</summary>
    public static string Markdown(Scenario s, SweepResult r, IReadOnlyList<Figure> fixedFigures, string? chartFile)
    {
        var sb = new StringBuilder();
        var cur = s.Prices.Currency;
        var options = r.Rows[0].Options;
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Cost scenario `{s.Name}`: {s.Title}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Generated by `lifeboat cost --scenario {(s.File.StartsWith("(built-in)", StringComparison.Ordinal) ? s.Name : s.File)}` from {s.File}. Monthly DR-related cost in {cur}.");
        sb.AppendLine();
        sb.AppendLine(PricesLine(s.Prices));
        sb.AppendLine();
        sb.Append("Workload: ");
        // Derived figures follow the swept writes, so only their rule is shown.
        sb.AppendLine(string.Join("; ", fixedFigures.Where(f => f.Name != "writes_per_month")
                .Select(f => f.Source == FigureSource.Derived ? $"{f.Name} {f.Note}" : $"{f.Name} {FigureValue(f)} ({f.Note})")
            .Concat(OptionSummary(s.Kind, s.Workload.Options).Select(kv => $"{kv.Key} {kv.Value}"))) + ".");
        sb.AppendLine();
        sb.Append("| writes/month | data |");
        foreach (var o in options) sb.Append(CultureInfo.InvariantCulture, $" {o.Name} |");
        sb.AppendLine(" cheapest |");
        sb.Append("|---:|---:|");
        foreach (var _ in options) sb.Append("---:|");
        sb.AppendLine("---|");
        foreach (var row in r.Rows)
        {
            var w = s.At(row.Writes).Workload;
            var cheapest = row.Options.OrderBy(o => o.Total).First();
            sb.Append(CultureInfo.InvariantCulture, $"| {Format.Exact(row.Writes)} | {Format.Bytes(w.DataBytes)} |");
            foreach (var o in row.Options) sb.Append(CultureInfo.InvariantCulture, $" {Format.Money(o.Total)} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $" {cheapest.Name} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Break-even");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"| native | Lifeboat | break-even (writes/month) | cost there ({cur}/month) | verdict |");
        sb.AppendLine("|---|---|---:|---:|---|");
        foreach (var p in r.Pairs)
        {
            var at = p.Crossings.Count == 0 ? "none in range" : string.Join(", ", p.Crossings.Select(c => Format.Exact(c.Writes)));
            var cost = p.Crossings.Count == 0 ? "" : string.Join(", ", p.Crossings.Select(c => Format.Money(c.Cost)));
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {p.NativeName} | {p.LifeboatName} | {at} | {cost} | {p.Verdict} |");
        }
        if (chartFile is not null)
        {
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"![{s.Title}]({chartFile})");
        }
        var mid = r.Rows.OrderBy(x => Math.Abs(Math.Log10(x.Writes) - 6)).First();
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"## Line items at {Format.Exact(mid.Writes)} writes/month");
        sb.AppendLine();
        sb.AppendLine("```");
        foreach (var o in mid.Options) { WriteOption(sb, o, cur, ""); sb.AppendLine(); }
        sb.AppendLine("```");
        return sb.ToString();
    }

    public static ScenarioJson Json(Scenario s, SweepResult r, IReadOnlyList<Figure> fixedFigures, IReadOnlyList<string> files) => new(
        s.Name, s.Title, s.Kind.ToString().ToLowerInvariant(), Json(s.Prices),
        fixedFigures.Where(f => f.Name != "writes_per_month").Select(Json).ToList(), OptionSummary(s.Kind, s.Workload.Options),
        r.Rows.Select(row => new RowJson(row.Writes, row.Options.ToDictionary(o => o.Id, o => Round(o.Total)))).ToList(),
        r.Pairs.Select(p => new PairJson(p.NativeId, p.LifeboatId, p.Crossings.Select(c => new CrossingJson(c.Writes, Round(c.Cost), c.LifeboatCheaperAbove)).ToList(), p.Verdict)).ToList(),
        files);
}
