using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
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
        var guard = new GuardedParser(file, new Parser(new StringReader(text)));
        try { stream.Load(guard); }
        catch (YamlException e)
        {
            var (line, column) = (Math.Max(1, e.Start.Line), Math.Max(1, e.Start.Column));
            var message = Flatten(e);
            // The scanner reports a tab in the indentation at the start of the enclosing mapping: find the tab itself.
            if (message.Contains(" tab", StringComparison.Ordinal) && TabIndent(text, line) is { } tab)
                throw new ConfigException(file, tab.Line, tab.Column, "(yaml)", "a tab in the indentation: YAML indents with spaces only");
            throw new ConfigException(file, line, column, "(yaml)", message);
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet reports some malformed documents (e.g. an unclosed flow mapping) this way, without a position.
            throw guard.Malformed();
        }
        if (stream.Documents.Count == 0)
            throw new ConfigException(file, 1, 1, "(root)", "expected a mapping of settings (state, stores, resources)");
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            var at = stream.Documents[0].RootNode.Start;
            throw new ConfigException(file, Math.Max(1, at.Line), Math.Max(1, at.Column), "(root)", "expected a mapping of settings (state, stores, resources)");
        }
        return new YamlMap(file, "", root);
    }

    private static string Flatten(YamlException e)
    {
        var msg = e.InnerException?.Message ?? e.Message;
        var i = msg.IndexOf("): ", StringComparison.Ordinal);
        return i >= 0 && msg.StartsWith("(Line", StringComparison.Ordinal) ? msg[(i + 3)..] : msg;
    }

    /// <summary>The first line from <paramref name="from"/> on whose indentation holds a tab, and the tab's column.</summary>
    private static (long Line, long Column)? TabIndent(string text, long from)
    {
        var lines = text.Split('\n');
        for (var i = (int)Math.Min(from - 1, lines.Length); i < lines.Length; i++)
        {
            var l = lines[i];
            for (var c = 0; c < l.Length && l[c] is ' ' or '\t'; c++)
                if (l[c] == '\t') return (i + 1, c + 1);
        }
        return null;
    }

    /// <summary>
    /// The YAML parser as the representation model reads it, with limits: a config is one document, nested at most
    /// <see cref="MaxDepth"/> levels, and its aliases (<c>*name</c>) refer to an anchor (<c>&amp;name</c>) defined before
    /// them and outside them, at most <see cref="MaxAliases"/> times and copying at most <see cref="MaxAliasNodes"/>
    /// nodes in all. The representation model shares an alias's node, but every reader after it (the event pattern's
    /// JSON, the key checks) walks the expanded tree: a "billion laughs" bomb of a few hundred bytes would expand to
    /// billions of nodes. Every refusal is located at the event that crossed the line.
    /// </summary>
    private sealed class GuardedParser(string file, IParser inner) : IParser
    {
        public const int MaxDepth = 64;
        public const int MaxAliases = 256;
        public const long MaxAliasNodes = 10_000;

        private readonly Dictionary<string, (long Id, bool Open, long Size)> _anchors = new(StringComparer.Ordinal);
        private readonly List<(ParsingEvent Start, string? Anchor, long Id, long Size)> _open = [];
        private long _ids;
        private int _aliases;
        private long _aliasNodes;
        private int _documents;
        private ParsingEvent? _last;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext()) return false;
            var ev = inner.Current!;
            _last = ev;
            switch (ev)
            {
                case DocumentStart d:
                    if (++_documents > 1)
                        throw Error(d.Start, "a second YAML document ('---'): a config file holds one document; remove this line (and what follows) or split the file");
                    break;
                case MappingStart or SequenceStart:
                    if (_open.Count >= MaxDepth) throw Error(ev.Start, $"nested more than {MaxDepth} levels deep");
                    var anchor = AnchorOf((NodeEvent)ev);
                    var id = ++_ids;
                    if (anchor is not null) _anchors[anchor] = (id, true, 0);
                    _open.Add((ev, anchor, id, 1));
                    break;
                case MappingEnd or SequenceEnd:
                    var node = _open[^1];
                    _open.RemoveAt(_open.Count - 1);
                    Complete(node.Anchor, node.Id, node.Size);
                    break;
                case Scalar s:
                    Complete(AnchorOf(s), ++_ids, 1);
                    break;
                case AnchorAlias a:
                    var name = a.Value.Value;
                    if (!_anchors.TryGetValue(name, out var target))
                        throw Error(a.Start, $"alias *{name} refers to no anchor: define &{name} before it");
                    if (target.Open) throw Error(a.Start, $"alias *{name} is inside the node it refers to (&{name}): a config cannot refer to itself");
                    if (++_aliases > MaxAliases) throw Error(a.Start, $"more than {MaxAliases} aliases: refused");
                    _aliasNodes += target.Size;
                    if (_aliasNodes > MaxAliasNodes)
                        throw Error(a.Start, $"the aliases expand to more than {MaxAliasNodes} nodes (*{name} alone is {target.Size}): refused, as a YAML alias bomb would be");
                    Complete(null, 0, target.Size);
                    break;
            }
            return true;
        }

        private static string? AnchorOf(NodeEvent e) => e.Anchor.IsEmpty ? null : e.Anchor.Value;

        private void Complete(string? anchor, long id, long size)
        {
            if (anchor is not null && (!_anchors.TryGetValue(anchor, out var a) || a.Id <= id)) _anchors[anchor] = (id, false, size);
            if (_open.Count > 0) _open[^1] = _open[^1] with { Size = _open[^1].Size + size };
        }

        private ConfigException Error(Mark at, string message) => new(file, Math.Max(1, at.Line), Math.Max(1, at.Column), "(yaml)", message);

        /// <summary>For a document the parser gave up on without a position: the innermost bracket left open, else
        /// the last thing read.</summary>
        public ConfigException Malformed()
        {
            for (var i = _open.Count - 1; i >= 0; i--)
            {
                if (_open[i].Start is MappingStart { Style: MappingStyle.Flow } m)
                    return Error(m.Start, "this '{' is never closed: a flow mapping { key: value, ... } ends with '}' (check brackets and quotes)");
                if (_open[i].Start is SequenceStart { Style: SequenceStyle.Flow } q)
                    return Error(q.Start, "this '[' is never closed: a flow list [a, b, ...] ends with ']' (check brackets and quotes)");
            }
            return Error(_last?.End ?? Mark.Empty, "malformed YAML after this point (check brackets, quotes and indentation)");
        }
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

    /// <summary>Where <paramref name="key"/>'s value is written, or this mapping when the key is absent.</summary>
    public ConfigLocation Location(string key)
    {
        var n = Find(key) ?? Node;
        return new ConfigLocation(File, n.Start.Line, Join(key)) { Column = n.Start.Column };
    }

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

    /// <summary>A duration from <paramref name="min"/> to <paramref name="max"/> (default <see cref="Durations.MaxTimer"/>:
    /// most durations drive a timer).</summary>
    public TimeSpan? OptDuration(string key, TimeSpan? min = null, TimeSpan? max = null)
    {
        var v = OptString(key);
        if (v is null) return null;
        var limit = max ?? Durations.MaxTimer;
        if (!Durations.TryParse(v, out var t, out var tooLong) && !tooLong)
            throw Error(Find(key)!, Join(key), $"expected a duration such as 30s, 5m or 24h, got '{v}'");
        if (tooLong || t > limit)
            throw Error(Find(key)!, Join(key), $"'{v}' is too long: at most {Durations.Format(limit)}");
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
        if (mult == 0 || n > long.MaxValue / mult) return false;
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
