using Lifeboat.Core.Config;
using Lifeboat.Cost.Model;
using Lifeboat.Cost.Prices;

namespace Lifeboat.Cost.Input;

/// <summary>
/// A sweep of one workload across a range of writes a month (YAML, see docs/cost.md): a resource kind, the range,
/// how many table rows per decade, the fixed workload figures and options, and optional price overrides.
/// </summary>
public sealed record Scenario(
    string File, string Name, string Title, ResourceKind Kind, double From, double To, int RowsPerDecade,
    WorkloadSpec Workload, PriceBook Prices)
{
    public const string Seed = "seed";

    /// <summary>The workload at <paramref name="writes"/> writes a month, with where each figure came from.</summary>
    public (Workload Workload, IReadOnlyList<Figure> Figures) At(double writes) => Workload.Require(null, writes, Workload.Map!, "workload");

    /// <summary>Every option's cost at <paramref name="writes"/> writes a month.</summary>
    public IReadOnlyList<OptionCost> Costs(double writes) => Formulas.Options(Kind, At(writes).Workload, Workload.Options, Prices);

    public SweepResult Run() => Sweep.Run(Costs, From, To, RowsPerDecade);

    public static IReadOnlyList<string> BuiltIns { get; } = [Seed];

    /// <summary>A scenario file, or the name of a built-in scenario when no such file exists.</summary>
    public static Scenario Load(string fileOrName)
    {
        if (System.IO.File.Exists(fileOrName))
        {
            string text;
            try { text = System.IO.File.ReadAllText(fileOrName); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UserErrorException($"{fileOrName}: cannot read scenario: {e.Message}");
            }
            return Parse(fileOrName, text);
        }
        if (BuiltIns.Contains(fileOrName)) return BuiltIn(fileOrName);
        throw new UserErrorException($"{fileOrName}: no such scenario file, and no built-in scenario of that name (built-in: {string.Join(", ", BuiltIns)})");
    }

    public static Scenario BuiltIn(string name)
    {
        using var stream = typeof(Scenario).Assembly.GetManifestResourceStream($"Lifeboat.Cost.scenarios.{name}.yaml")
            ?? throw new UserErrorException($"no built-in scenario named '{name}' (built-in: {string.Join(", ", BuiltIns)})");
        using var reader = new StreamReader(stream);
        return Parse($"(built-in) scenarios/{name}.yaml", reader.ReadToEnd());
    }

    public static Scenario Parse(string file, string text)
    {
        var root = YamlMap.Parse(file, text);
        var baseDir = file.StartsWith("(built-in)", StringComparison.Ordinal) ? "." : Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".";
        var name = root.String("name");
        if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw root.Error("name", $"'{name}' may only contain letters, digits, '-', '_' and '.' (it names the output files)");
        var title = root.OptString("title") ?? name;
        var kind = root.OneOf("resource", ResourceKinds.ScenarioNames, required: true);
        var sweep = root.Map("sweep");
        var from = Model.Parse.OptNumber(sweep, "from", 1, "a number of writes a month") ?? throw sweep.Error(sweep.Node, sweep.Join("from"), "is required");
        var to = Model.Parse.OptNumber(sweep, "to", 1, "a number of writes a month") ?? throw sweep.Error(sweep.Node, sweep.Join("to"), "is required");
        if (to <= from) throw sweep.Error("to", $"must be greater than from ({from:N0})");
        if (to > WorkloadSpec.MaxWrites) throw sweep.Error("to", $"more than {WorkloadSpec.MaxWrites:0e0} writes a month is beyond this model");
        var rows = sweep.OptInt("rows_per_decade", 1, 20) ?? 1;
        sweep.EnsureNoUnknownKeys();
        var prices = PriceBook.FromSetting(root, "prices", baseDir);
        var workloadMap = root.Map("workload");
        var workload = WorkloadSpec.Read(workloadMap, kind, prices, CostOptions.Default, sweep: true);
        root.EnsureNoUnknownKeys();
        var s = new Scenario(file, name, title, kind, from, to, rows, workload, prices);
        s.Workload.Require(null, from, root, "workload"); // every other figure must be there
        return s;
    }
}
