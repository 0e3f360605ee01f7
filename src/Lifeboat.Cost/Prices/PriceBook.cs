using System.Globalization;
using Lifeboat.Core.Config;
using Lifeboat.Cost.Model;
using YamlDotNet.RepresentationModel;

namespace Lifeboat.Cost.Prices;

/// <summary>
/// A region's unit prices, read from a versioned price file (format 1): metadata (region, currency, the date the
/// prices were taken, their sources) and every price the formulas use. Overrides from a config or scenario replace
/// single keys and are remembered, so a report can say which prices are not the file's.
/// </summary>
public sealed class PriceBook
{
    public const string BuiltInName = "aws-us-east-1";

    private readonly Dictionary<string, double> _numbers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, double>> _tables = new(StringComparer.Ordinal);
    private readonly List<string> _overrides = [];

    private PriceBook(string file) { File = file; }

    /// <summary>The price file these prices come from.</summary>
    public string File { get; }
    public string Name { get; private set; } = "";
    public string Region { get; private set; } = "";
    public string Currency { get; private set; } = "";
    public DateOnly Taken { get; private set; }
    public string Notice { get; private set; } = "";
    public IReadOnlyList<string> Sources { get; private set; } = [];
    /// <summary>"key = value (file:line)" for each price replaced after the file was read.</summary>
    public IReadOnlyList<string> Overrides => _overrides;

    public double HoursPerMonth => Number(PriceSchema.HoursPerMonth);

    /// <summary>A unit price or a number of the book.</summary>
    public double Number(string key) =>
        _numbers.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"price key {key} is not in the schema");

    public string NameOf(string key) =>
        _names.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"price key {key} is not in the schema");

    public bool HasEntry(string tableKey, string entry) => _tables.TryGetValue(tableKey, out var t) && t.ContainsKey(entry);

    public IEnumerable<string> Entries(string tableKey) => _tables.TryGetValue(tableKey, out var t) ? t.Keys.Order(StringComparer.Ordinal) : [];

    public double Entry(string tableKey, string entry) =>
        _tables.TryGetValue(tableKey, out var t) && t.TryGetValue(entry, out var v) ? v
            : throw new UserErrorException($"{File}: {tableKey} has no entry for '{entry}' (known: {string.Join(", ", Entries(tableKey))}); add one under prices: in the config");

    public static PriceBook BuiltIn(string name = BuiltInName)
    {
        var resource = $"Lifeboat.Cost.prices.{name}.yaml";
        using var stream = typeof(PriceBook).Assembly.GetManifestResourceStream(resource)
            ?? throw new UserErrorException($"no built-in price file named '{name}' (built-in: {BuiltInName})");
        using var reader = new StreamReader(stream);
        return Parse($"(built-in) prices/{name}.yaml", reader.ReadToEnd());
    }

    public static PriceBook Load(string file)
    {
        string text;
        try { text = System.IO.File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{file}: cannot read price file: {e.Message}");
        }
        return Parse(file, text);
    }

    /// <summary>Reads a full price file: every key of <see cref="PriceSchema"/> is required.</summary>
    public static PriceBook Parse(string file, string text)
    {
        var root = YamlMap.Parse(file, text);
        var book = new PriceBook(file);
        var format = root.String("format");
        if (format != "1") throw root.Error("format", $"unsupported price file format '{format}' (this version reads format 1)");
        book.Name = root.String("name");
        book.Region = root.String("region");
        book.Currency = root.String("currency");
        var taken = root.String("taken");
        if (!DateOnly.TryParseExact(taken, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            throw root.Error("taken", $"expected the date the prices were taken as YYYY-MM-DD, got '{taken}'");
        book.Taken = date;
        book.Notice = root.String("notice");
        book.Sources = root.OptStringList("sources");
        if (book.Sources.Count == 0) throw root.Error("sources", "is required: list where the prices come from");
        book.ReadSections(root, full: true);
        root.EnsureNoUnknownKeys();
        return book;
    }

    /// <summary>The prices a config or scenario asks for: its <c>prices:</c> value is a price file path (relative to
    /// the file), or a mapping of overrides with an optional <c>file:</c> to start from instead of the built-in file.</summary>
    public static PriceBook FromSetting(YamlMap owner, string key, string baseDir)
    {
        var node = owner.Raw(key);
        if (node is null) return BuiltIn();
        if (node is YamlScalarNode)
        {
            var path = owner.OptString(key);
            return path is null ? BuiltIn() : LoadRelative(owner, key, path, baseDir);
        }
        var map = owner.OptMap(key)!;
        var book = map.OptString("file") is { } f ? LoadRelative(map, "file", f, baseDir) : BuiltIn();
        book = book.Copy();
        book.ReadSections(map, full: false);
        map.EnsureNoUnknownKeys();
        return book;
    }

    private static PriceBook LoadRelative(YamlMap m, string key, string path, string baseDir)
    {
        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, path));
        if (!System.IO.File.Exists(full)) throw m.Error(key, $"price file {full} does not exist");
        return Load(full);
    }

    private PriceBook Copy()
    {
        var b = new PriceBook(File)
        {
            Name = Name, Region = Region, Currency = Currency, Taken = Taken, Notice = Notice, Sources = Sources,
        };
        foreach (var (k, v) in _numbers) b._numbers[k] = v;
        foreach (var (k, v) in _names) b._names[k] = v;
        foreach (var (k, v) in _tables) b._tables[k] = new Dictionary<string, double>(v, StringComparer.Ordinal);
        b._overrides.AddRange(_overrides);
        return b;
    }

    private void ReadSections(YamlMap root, bool full)
    {
        foreach (var section in PriceSchema.Sections)
        {
            var keys = PriceSchema.Keys.Where(k => k.Section == section).ToList();
            var m = root.OptMap(section);
            if (m is null)
            {
                if (full) throw root.Error(section, $"is required (keys: {string.Join(", ", keys.Select(k => k.Name))})");
                continue;
            }
            foreach (var k in keys)
            {
                if (!m.Has(k.Name))
                {
                    if (full) throw m.Error(m.Node, m.Join(k.Name), $"is required ({k.Description})");
                    continue;
                }
                var where = $"{m.File}:{m.Raw(k.Name)!.Start.Line}";
                switch (k.Kind)
                {
                    case PriceKind.Price or PriceKind.Number:
                        var v = Model.Parse.OptNumber(m, k.Name, 0, k.Kind == PriceKind.Price ? $"a price in {Currency} per {Per(k)}" : $"a number of {k.Unit}")
                                ?? throw m.Error(k.Name, "must not be empty");
                        if (k.Kind == PriceKind.Number && v <= 0) throw m.Error(k.Name, $"must be greater than 0, got '{m.OptString(k.Name)}'");
                        if (!full) _overrides.Add($"{k.Key} = {Fmt(v)} ({where})");
                        _numbers[k.Key] = v;
                        break;
                    case PriceKind.Name:
                        _names[k.Key] = m.String(k.Name);
                        if (!full) _overrides.Add($"{k.Key} = {_names[k.Key]} ({where})");
                        break;
                    default:
                        var t = m.Map(k.Name);
                        if (!_tables.TryGetValue(k.Key, out var table)) _tables[k.Key] = table = new Dictionary<string, double>(StringComparer.Ordinal);
                        foreach (var entry in t.Keys.ToList())
                        {
                            var ev = Model.Parse.OptNumber(t, entry, 0, k.Kind == PriceKind.PriceTable ? $"a price in {Currency} per {k.Unit}" : $"a number of {k.Unit}")
                                     ?? throw t.Error(entry, "must not be empty");
                            if (k.Kind == PriceKind.NumberTable && ev <= 0) throw t.Error(entry, $"must be greater than 0, got '{t.OptString(entry)}'");
                            table[entry] = ev;
                            if (!full) _overrides.Add($"{k.Key}.{entry} = {Fmt(ev)} ({t.File}:{t.Raw(entry)!.Start.Line})");
                        }
                        t.EnsureNoUnknownKeys();
                        if (full && table.Count == 0) throw m.Error(k.Name, "must list at least one entry");
                        break;
                }
            }
            m.EnsureNoUnknownKeys();
        }
    }

    public static string Per(PriceKey k) => k.Per == 1 ? k.Unit : $"{k.Per.ToString("N0", CultureInfo.InvariantCulture)} {k.Unit}s";

    private static string Fmt(double v) => v.ToString("0.##########", CultureInfo.InvariantCulture);
}
