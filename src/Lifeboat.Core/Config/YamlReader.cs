using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Lifeboat.Core.Config;

/// <summary>
/// A validating view of one YAML mapping: every read names its key path, every error carries
/// file, line and key, and <see cref="EnsureNoUnknownKeys"/> rejects keys nobody asked for.
/// </summary>
public sealed class YamlMap
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _asked = new(StringComparer.Ordinal);

    public YamlMap(string file, string path, YamlMappingNode node)
    {
        File = file;
        Path = path;
        Node = node;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, _) in node.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? throw Error(k, Path, "keys must be plain strings");
            if (!keys.Add(name)) throw Error(k, Join(name), "duplicate key");
        }
    }

    public string File { get; }
    public string Path { get; }
    public YamlMappingNode Node { get; }

    public static YamlMap Load(string file)
    {
        string text;
        try { text = System.IO.File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{file}: cannot read config: {e.Message}");
        }
        return Parse(file, text);
    }

    public static YamlMap Parse(string file, string text)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(text)); }
        catch (YamlException e)
        {
            throw new ConfigException(file, e.Start.Line, e.Start.Column, "(yaml)", Flatten(e));
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet reports some malformed documents (e.g. an unclosed flow mapping) this way, without a position.
            throw new ConfigException(file, 1, 1, "(yaml)", $"malformed YAML ({e.Message}); check brackets and indentation");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException(file, 1, 1, "(root)", "expected a mapping of settings (state, stores, resources)");
        return new YamlMap(file, "", root);
    }

    private static string Flatten(YamlException e)
    {
        var msg = e.InnerException?.Message ?? e.Message;
        var i = msg.IndexOf("): ", StringComparison.Ordinal);
        return i >= 0 && msg.StartsWith("(Line", StringComparison.Ordinal) ? msg[(i + 3)..] : msg;
    }

    public string Join(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public ConfigException Error(YamlNode node, string key, string message) =>
        new(File, node.Start.Line, node.Start.Column, key, message);

    public ConfigException Error(string key, string message)
    {
        var node = Find(key);
        return node is null ? Error(Node, Join(key), message) : Error(node, Join(key), message);
    }

    public bool Has(string key) => Find(key) is not null;

    public IEnumerable<string> Keys => Node.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value!);

    private YamlNode? Find(string key)
    {
        _asked.Add(key);
        foreach (var (k, v) in Node.Children)
            if (k is YamlScalarNode s && s.Value == key) { _seen.Add(key); return v; }
        return null;
    }

    public YamlNode? Raw(string key) => Find(key);

    public string? OptString(string key)
    {
        var n = Find(key);
        if (n is null) return null;
        if (n is not YamlScalarNode s) throw Error(n, Join(key), "expected a single value");
        if (s.Style == ScalarStyle.Plain && (s.Value is "~" or "null" or "")) return null;
        return s.Value;
    }

    public string String(string key) =>
        OptString(key) ?? throw Error(key, Has(key) ? "must not be empty" : "is required");

    public T OneOf<T>(string key, IReadOnlyDictionary<string, T> choices, T? fallback = default, bool required = false)
    {
        var v = OptString(key);
        if (v is null)
        {
            if (required) throw Error(key, $"is required (one of {string.Join(", ", choices.Keys)})");
            return fallback!;
        }
        if (choices.TryGetValue(v, out var t)) return t;
        throw Error(Find(key)!, Join(key), $"'{v}' is not one of {string.Join(", ", choices.Keys)}");
    }

    public bool? OptBool(string key)
    {
        var v = OptString(key);
        if (v is null) return null;
        return v.ToLowerInvariant() switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => throw Error(Find(key)!, Join(key), $"expected true or false, got '{v}'"),
        };
    }

    public int? OptInt(string key, int min, int max)
    {
        var v = OptString(key);
        if (v is null) return null;
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) || i < min || i > max)
            throw Error(Find(key)!, Join(key), $"expected a whole number from {min} to {max}, got '{v}'");
        return i;
    }

    public long? OptSize(string key, long min, long max)
    {
        var v = OptString(key);
        if (v is null) return null;
        if (!Sizes.TryParse(v, out var n) || n < min || n > max)
            throw Error(Find(key)!, Join(key), $"expected a size such as 8MiB between {Sizes.Format(min)} and {Sizes.Format(max)}, got '{v}'");
        return n;
    }

    public TimeSpan? OptDuration(string key, TimeSpan? min = null)
    {
        var v = OptString(key);
        if (v is null) return null;
        if (!Durations.TryParse(v, out var t))
            throw Error(Find(key)!, Join(key), $"expected a duration such as 30s, 5m or 24h, got '{v}'");
        if (min is { } m && t < m)
            throw Error(Find(key)!, Join(key), $"must be at least {Durations.Format(m)}");
        return t;
    }

    public YamlMap? OptMap(string key)
    {
        var n = Find(key);
        if (n is null) return null;
        if (n is YamlScalarNode { Style: ScalarStyle.Plain, Value: "" or "~" or "null" }) return null;
        if (n is not YamlMappingNode m) throw Error(n, Join(key), "expected a mapping (key: value pairs)");
        return new YamlMap(File, Join(key), m);
    }

    public YamlMap Map(string key) => OptMap(key) ?? throw Error(key, "is required");

    public IReadOnlyList<YamlMap> OptListOfMaps(string key)
    {
        var n = Find(key);
        if (n is null) return [];
        if (n is YamlScalarNode { Style: ScalarStyle.Plain, Value: "" or "~" or "null" }) return [];
        if (n is not YamlSequenceNode seq) throw Error(n, Join(key), "expected a list");
        var list = new List<YamlMap>();
        for (var i = 0; i < seq.Children.Count; i++)
        {
            if (seq.Children[i] is not YamlMappingNode m)
                throw Error(seq.Children[i], $"{Join(key)}[{i}]", "expected a mapping");
            list.Add(new YamlMap(File, $"{Join(key)}[{i}]", m));
        }
        return list;
    }

    public IReadOnlyList<string> OptStringList(string key)
    {
        var n = Find(key);
        if (n is null) return [];
        if (n is not YamlSequenceNode seq) throw Error(n, Join(key), "expected a list of values");
        var list = new List<string>();
        for (var i = 0; i < seq.Children.Count; i++)
        {
            if (seq.Children[i] is not YamlScalarNode s || s.Value is null)
                throw Error(seq.Children[i], $"{Join(key)}[{i}]", "expected a value");
            list.Add(s.Value);
        }
        return list;
    }

    /// <summary>Rejects keys that no reader asked for: a typo must not be silently ignored.</summary>
    public void EnsureNoUnknownKeys(params string[] allowed)
    {
        foreach (var (k, _) in Node.Children)
        {
            var name = ((YamlScalarNode)k).Value!;
            if (!_seen.Contains(name) && !allowed.Contains(name))
            {
                var known = allowed.Concat(_asked).Distinct().OrderBy(x => x, StringComparer.Ordinal);
                throw Error(k, Join(name), $"unknown key (known here: {string.Join(", ", known)})");
            }
        }
    }
}

public static class Sizes
{
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && char.IsAsciiDigit(t[i])) i++;
        if (i == 0 || !long.TryParse(t[..i], NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return false;
        long mult = t[i..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            _ => 0,
        };
        if (mult == 0) return false;
        bytes = n * mult;
        return true;
    }

    public static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => Fmt(bytes / (double)(1L << 30), "GiB"),
        >= 1L << 20 => Fmt(bytes / (double)(1L << 20), "MiB"),
        >= 1L << 10 => Fmt(bytes / (double)(1L << 10), "KiB"),
        _ => $"{bytes}B",
    };

    private static string Fmt(double v, string unit) => v.ToString(v % 1 == 0 ? "0" : "0.0", CultureInfo.InvariantCulture) + unit;
}
