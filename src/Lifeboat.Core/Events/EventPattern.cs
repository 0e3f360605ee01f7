using Lifeboat.Core.Storage;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;

namespace Lifeboat.Core.Events;

/// <summary>
/// An Amazon EventBridge event pattern (the content-filtering language of EventBridge rules and
/// <c>aws events test-event-pattern</c>), parsed once and matched against JSON events. Written here because no
/// EventBridge library is reachable (AWSSDK.EventBridge is absent, and the SDK does not match patterns locally anyway).
///
/// Semantics follow AWS's documentation ("Content filtering in Amazon EventBridge event patterns", "Comparison
/// operators for use in event patterns"): every field of the pattern must match (AND); the values listed for a field
/// are alternatives (OR); nested objects match nested objects; when the event's field is an array, the field matches
/// when any element matches; leaf values match by type (the string "true" is not the boolean true, null is not "").
/// Operators: exact values, <c>prefix</c>, <c>suffix</c> (both also with <c>equals-ignore-case</c>),
/// <c>equals-ignore-case</c>, <c>anything-but</c> (a value, a list, or <c>prefix</c> / <c>suffix</c> /
/// <c>equals-ignore-case</c> / <c>wildcard</c>), <c>numeric</c> ranges, <c>exists</c>, <c>wildcard</c>,
/// <c>cidr</c> and <c>$or</c>. See docs/events.md for the details and the few edge cases decided here.
/// </summary>
public sealed class EventPattern
{
    private readonly PatternObject _root;

    private EventPattern(PatternObject root, string source)
    {
        _root = root;
        Source = source;
    }

    /// <summary>Where the pattern came from (a file name), for messages.</summary>
    public string Source { get; }

    /// <summary>Parses a pattern; a malformed one throws a <see cref="ConfigException"/> naming
    /// <paramref name="source"/>, line, column and the JSON path of the bad part. When the JSON is embedded in another
    /// file (e.g. a YAML block scalar), <paramref name="lineOffset"/> and <paramref name="columnOffset"/> are added to
    /// every reported position (the block's first line minus 1, and its indentation).</summary>
    public static EventPattern Parse(string json, string source = "pattern", int lineOffset = 0, int columnOffset = 0)
    {
        var where = new Where(source, lineOffset, columnOffset);
        var doc = JNode.Parse(json, where);
        var p = new Parser(where, doc.Lines);
        if (doc.Root.Kind != JKind.Object) throw p.Error(doc.Root, "$", "an event pattern is a JSON object, e.g. {\"source\": [\"aws.health\"]}");
        var root = p.Object(doc.Root, "$");
        return new EventPattern(root, source);
    }

    public static EventPattern Load(string file)
    {
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{file}: cannot read the event pattern: {e.Message}");
        }
        return Parse(text, file);
    }

    public bool Matches(JsonElement evt) => _root.Matches(evt);

    /// <summary>Matches an event given as JSON text; throws <see cref="JsonException"/> for malformed JSON.</summary>
    public bool Matches(string eventJson)
    {
        using var doc = JsonDocument.Parse(eventJson);
        return Matches(doc.RootElement);
    }

    // ---------------- the compiled pattern ----------------

    private sealed class PatternObject
    {
        public readonly List<(string Key, PatternObject? Nested, List<Condition>? Conditions)> Fields = [];
        public List<PatternObject>? Or;

        /// <summary>Matches an object (or, when absent, the missing object: only "exists": false parts can match).</summary>
        public bool Matches(JsonElement? obj)
        {
            foreach (var (key, nested, conditions) in Fields)
            {
                JsonElement? value = null;
                if (obj is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(key, out var v)) value = v;
                if (nested is not null)
                {
                    if (!MatchesNested(nested, value)) return false;
                }
                else if (!MatchesLeaf(conditions!, value)) return false;
            }
            return Or is null || Or.Any(alt => alt.Matches(obj));
        }

        private static bool MatchesNested(PatternObject nested, JsonElement? value)
        {
            if (value is { ValueKind: JsonValueKind.Array } arr)
            {
                // An array of objects matches when one element matches the whole nested pattern.
                var any = false;
                foreach (var e in arr.EnumerateArray())
                {
                    if (e.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                    {
                        any = true;
                        if (MatchesNested(nested, e)) return true;
                    }
                }
                return !any && nested.Matches(null);
            }
            return nested.Matches(value is { ValueKind: JsonValueKind.Object } ? value : null);
        }

        private static bool MatchesLeaf(List<Condition> conditions, JsonElement? value)
        {
            var leaves = new List<JsonElement>();
            if (value is { } v) Flatten(v, leaves);
            foreach (var c in conditions)
            {
                if (c is Exists ex)
                {
                    if (ex.Want == leaves.Count > 0) return true;
                    continue;
                }
                foreach (var leaf in leaves)
                    if (c.Matches(leaf)) return true;
            }
            return false;
        }

        private static void Flatten(JsonElement v, List<JsonElement> into)
        {
            switch (v.ValueKind)
            {
                case JsonValueKind.Array:
                    foreach (var e in v.EnumerateArray()) Flatten(e, into);
                    break;
                case JsonValueKind.Object:
                    break; // exists and the value operators apply to leaves only
                default:
                    into.Add(v);
                    break;
            }
        }
    }

    private abstract class Condition
    {
        public abstract bool Matches(JsonElement leaf);
    }

    private sealed class Exact(JKind kind, string? text, double number) : Condition
    {
        public override bool Matches(JsonElement leaf) => kind switch
        {
            JKind.String => leaf.ValueKind == JsonValueKind.String && leaf.GetString() == text,
            JKind.Number => leaf.ValueKind == JsonValueKind.Number && leaf.TryGetDouble(out var d) && d == number,
            JKind.True => leaf.ValueKind == JsonValueKind.True,
            JKind.False => leaf.ValueKind == JsonValueKind.False,
            JKind.Null => leaf.ValueKind == JsonValueKind.Null,
            _ => false,
        };
    }

    private sealed class StringTest(Func<string, bool> test) : Condition
    {
        public override bool Matches(JsonElement leaf) => leaf.ValueKind == JsonValueKind.String && test(leaf.GetString()!);
    }

    private sealed class Exists(bool want) : Condition
    {
        public bool Want { get; } = want;
        public override bool Matches(JsonElement leaf) => throw new InvalidOperationException("exists is evaluated on the field");
    }

    private sealed class Numeric(double? lo, bool loIncl, double? hi, bool hiIncl) : Condition
    {
        public override bool Matches(JsonElement leaf)
        {
            if (leaf.ValueKind != JsonValueKind.Number || !leaf.TryGetDouble(out var d)) return false;
            if (lo is { } l && (loIncl ? d < l : d <= l)) return false;
            if (hi is { } h && (hiIncl ? d > h : d >= h)) return false;
            return true;
        }
    }

    /// <summary>anything-but: matches a present value that none of the inner conditions match.</summary>
    private sealed class AnythingBut(List<Condition> excluded, bool stringsOnly) : Condition
    {
        public override bool Matches(JsonElement leaf)
        {
            if (stringsOnly && leaf.ValueKind != JsonValueKind.String) return false;
            return !excluded.Any(c => c.Matches(leaf));
        }
    }

    private sealed class Cidr(IPAddress network, int bits) : Condition
    {
        public override bool Matches(JsonElement leaf)
        {
            if (leaf.ValueKind != JsonValueKind.String || !IPAddress.TryParse(leaf.GetString(), out var ip) || ip.AddressFamily != network.AddressFamily) return false;
            var a = ip.GetAddressBytes();
            var n = network.GetAddressBytes();
            for (var i = 0; i < bits; i++)
            {
                var mask = 0x80 >> (i % 8);
                if ((a[i / 8] & mask) != (n[i / 8] & mask)) return false;
            }
            return true;
        }
    }

    // ---------------- parsing and validation ----------------

    private sealed record Where(string Source, int LineOffset, int ColumnOffset)
    {
        public ConfigException Error(long line, long col, string key, string message) =>
            new(Source, line + LineOffset, col + ColumnOffset, key, message);
    }

    private sealed class Parser(Where where, LineMap lines)
    {
        private static readonly string[] Operators = ["prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"];

        public ConfigException Error(JNode at, string path, string message)
        {
            var (line, col) = lines.Position(at.Offset);
            return where.Error(line, col, path, message);
        }

        public PatternObject Object(JNode node, string path)
        {
            if (node.Members!.Count == 0) throw Error(node, path, "an empty object matches nothing useful: name at least one field");
            var o = new PatternObject();
            foreach (var (key, value, _) in node.Members)
            {
                var p = $"{path}.{(key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '$') && key.Length > 0 ? key : JsonText.Quote(key))}";
                if (key == "$or")
                {
                    if (value.Kind != JKind.Array || value.Items!.Count < 2)
                        throw Error(value, p, "$or takes an array of at least two patterns, e.g. \"$or\": [{\"a\": [1]}, {\"b\": [2]}]");
                    o.Or = [];
                    for (var i = 0; i < value.Items.Count; i++)
                    {
                        var alt = value.Items[i];
                        if (alt.Kind != JKind.Object) throw Error(alt, $"{p}[{i}]", "each $or alternative is a pattern object");
                        o.Or.Add(Object(alt, $"{p}[{i}]"));
                    }
                    continue;
                }
                switch (value.Kind)
                {
                    case JKind.Object:
                        o.Fields.Add((key, Object(value, p), null));
                        break;
                    case JKind.Array:
                        o.Fields.Add((key, null, Conditions(value, p)));
                        break;
                    default:
                        throw Error(value, p, $"a field's values go in an array, e.g. \"{key}\": [{value.Raw}]");
                }
            }
            return o;
        }

        private List<Condition> Conditions(JNode array, string path)
        {
            if (array.Items!.Count == 0) throw Error(array, path, "an empty array matches nothing: list at least one value");
            var list = new List<Condition>();
            for (var i = 0; i < array.Items.Count; i++)
            {
                var item = array.Items[i];
                var p = $"{path}[{i}]";
                list.Add(item.Kind switch
                {
                    JKind.Object => Operator(item, p),
                    JKind.Array => throw Error(item, p, "arrays inside a field's value list are not allowed (list the values directly)"),
                    _ => ExactValue(item),
                });
            }
            return list;
        }

        private static Exact ExactValue(JNode v) => new(v.Kind, v.Str, v.Num);

        private Condition Operator(JNode obj, string path)
        {
            if (obj.Members!.Count != 1)
                throw Error(obj, path, obj.Members.Count == 0
                    ? $"an empty object is not a matcher (use one of {string.Join(", ", Operators)})"
                    : "a matcher object has exactly one operator, e.g. {\"prefix\": \"us-\"}");
            var (op, v, _) = obj.Members[0];
            var p = $"{path}.{op}";
            switch (op)
            {
                case "prefix":
                case "suffix":
                {
                    var (text, ignoreCase) = StringOrIgnoreCase(v, p, op);
                    var cmp = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                    return op == "prefix" ? new StringTest(s => s.StartsWith(text, cmp)) : new StringTest(s => s.EndsWith(text, cmp));
                }
                case "equals-ignore-case":
                {
                    var text = String(v, p, "equals-ignore-case takes a string");
                    return new StringTest(s => string.Equals(s, text, StringComparison.OrdinalIgnoreCase));
                }
                case "wildcard":
                    return new StringTest(Wildcard(v, p));
                case "exists":
                    if (v.Kind is not (JKind.True or JKind.False)) throw Error(v, p, "exists takes true or false");
                    return new Exists(v.Kind == JKind.True);
                case "numeric":
                    return NumericRange(v, p);
                case "cidr":
                    return CidrBlock(v, p);
                case "anything-but":
                    return AnythingButOf(v, p);
                default:
                    throw Error(obj, p, $"unknown operator '{op}' (supported: {string.Join(", ", Operators)}; $or goes at the level of the fields)");
            }
        }

        private string String(JNode v, string path, string message)
        {
            if (v.Kind != JKind.String) throw Error(v, path, message);
            return v.Str!;
        }

        private (string Text, bool IgnoreCase) StringOrIgnoreCase(JNode v, string path, string op)
        {
            if (v.Kind == JKind.String) return (v.Str!, false);
            if (v.Kind == JKind.Object && v.Members!.Count == 1 && v.Members[0].Key == "equals-ignore-case")
                return (String(v.Members[0].Value, $"{path}.equals-ignore-case", "equals-ignore-case takes a string"), true);
            throw Error(v, path, $"{op} takes a string, or {{\"equals-ignore-case\": \"...\"}}");
        }

        private Func<string, bool> Wildcard(JNode v, string path)
        {
            var pattern = String(v, path, "wildcard takes a string such as \"*/lib/*\"");
            // Segments between unescaped '*'; "\*" is a literal star and "\\" a literal backslash.
            var segments = new List<string>();
            var cur = new StringBuilder();
            for (var i = 0; i < pattern.Length; i++)
            {
                var c = pattern[i];
                if (c == '\\')
                {
                    if (i + 1 < pattern.Length && pattern[i + 1] is '*' or '\\') { cur.Append(pattern[++i]); continue; }
                    throw Error(v, path, $"'\\' at position {i + 1} escapes nothing (use \\* for a literal '*' or \\\\ for '\\')");
                }
                if (c == '*')
                {
                    if (i + 1 < pattern.Length && pattern[i + 1] == '*') throw Error(v, path, "consecutive wildcard characters ('**') are not allowed");
                    segments.Add(cur.ToString());
                    cur.Clear();
                    continue;
                }
                cur.Append(c);
            }
            segments.Add(cur.ToString());
            return s => WildcardMatch(s, segments);
        }

        private static bool WildcardMatch(string s, List<string> segments)
        {
            if (segments.Count == 1) return s == segments[0];
            if (!s.StartsWith(segments[0], StringComparison.Ordinal)) return false;
            var pos = segments[0].Length;
            for (var i = 1; i < segments.Count - 1; i++)
            {
                var at = s.IndexOf(segments[i], pos, StringComparison.Ordinal);
                if (at < 0) return false;
                pos = at + segments[i].Length;
            }
            var last = segments[^1];
            return s.Length - pos >= last.Length && s.EndsWith(last, StringComparison.Ordinal);
        }

        private Numeric NumericRange(JNode v, string path)
        {
            if (v.Kind != JKind.Array || v.Items!.Count is not (2 or 4))
                throw Error(v, path, "numeric takes [\"OP\", NUMBER] or [\"OP\", NUMBER, \"OP\", NUMBER], e.g. [\">\", 0, \"<=\", 5]");
            double? lo = null, hi = null;
            bool loIncl = false, hiIncl = false, equals = false;
            for (var i = 0; i < v.Items.Count; i += 2)
            {
                var opNode = v.Items[i];
                var numNode = v.Items[i + 1];
                if (opNode.Kind != JKind.String || opNode.Str is not (">" or ">=" or "<" or "<=" or "="))
                    throw Error(opNode, $"{path}[{i}]", $"expected one of \">\", \">=\", \"<\", \"<=\", \"=\", got {opNode.Raw}");
                if (numNode.Kind != JKind.Number) throw Error(numNode, $"{path}[{i + 1}]", $"expected a number after \"{opNode.Str}\", got {numNode.Raw}");
                var n = numNode.Num;
                switch (opNode.Str)
                {
                    case ">" or ">=":
                        if (lo is not null || equals) throw Error(opNode, $"{path}[{i}]", "a range has at most one lower bound");
                        lo = n; loIncl = opNode.Str == ">=";
                        break;
                    case "<" or "<=":
                        if (hi is not null || equals) throw Error(opNode, $"{path}[{i}]", "a range has at most one upper bound");
                        hi = n; hiIncl = opNode.Str == "<=";
                        break;
                    default:
                        if (v.Items.Count != 2) throw Error(opNode, $"{path}[{i}]", "\"=\" stands alone: [\"=\", NUMBER]");
                        lo = hi = n; loIncl = hiIncl = equals = true;
                        break;
                }
            }
            if (lo is { } l && hi is { } h && (l > h || (l == h && !(loIncl && hiIncl))))
                throw Error(v, path, $"the range is empty (lower bound {l.ToString(CultureInfo.InvariantCulture)} is not below upper bound {h.ToString(CultureInfo.InvariantCulture)})");
            return new Numeric(lo, loIncl, hi, hiIncl);
        }

        private Cidr CidrBlock(JNode v, string path)
        {
            var text = String(v, path, "cidr takes a string such as \"10.0.0.0/24\"");
            var slash = text.IndexOf('/');
            var maxBits = text.Contains(':') ? 128 : 32;
            if (slash < 0 || !IPAddress.TryParse(text[..slash], out var ip)
                || !int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var bits) || bits > maxBits)
                throw Error(v, path, $"'{text}' is not a CIDR block such as 10.0.0.0/24 or 2001:db8::/32");
            return new Cidr(ip, bits);
        }

        private AnythingBut AnythingButOf(JNode v, string path)
        {
            switch (v.Kind)
            {
                case JKind.String or JKind.Number:
                    return new AnythingBut([ExactValue(v)], stringsOnly: false);
                case JKind.Array:
                {
                    if (v.Items!.Count == 0) throw Error(v, path, "anything-but takes a non-empty list");
                    var list = new List<Condition>();
                    for (var i = 0; i < v.Items.Count; i++)
                    {
                        var item = v.Items[i];
                        if (item.Kind is not (JKind.String or JKind.Number))
                            throw Error(item, $"{path}[{i}]", "anything-but lists hold strings or numbers");
                        list.Add(ExactValue(item));
                    }
                    return new AnythingBut(list, stringsOnly: false);
                }
                case JKind.Object when v.Members!.Count == 1:
                {
                    var (op, inner, _) = v.Members[0];
                    var p = $"{path}.{op}";
                    switch (op)
                    {
                        case "prefix" or "suffix":
                        {
                            var text = String(inner, p, $"anything-but {op} takes a string");
                            return new AnythingBut([op == "prefix"
                                ? new StringTest(s => s.StartsWith(text, StringComparison.Ordinal))
                                : new StringTest(s => s.EndsWith(text, StringComparison.Ordinal))], stringsOnly: true);
                        }
                        case "equals-ignore-case" or "wildcard":
                        {
                            var items = inner.Kind == JKind.Array ? inner.Items! : [inner];
                            if (items.Count == 0) throw Error(inner, p, $"anything-but {op} takes a string or a non-empty list of strings");
                            var list = new List<Condition>();
                            for (var i = 0; i < items.Count; i++)
                            {
                                var ip = inner.Kind == JKind.Array ? $"{p}[{i}]" : p;
                                if (op == "wildcard") list.Add(new StringTest(Wildcard(items[i], ip)));
                                else
                                {
                                    var text = String(items[i], ip, "anything-but equals-ignore-case takes a string or a list of strings");
                                    list.Add(new StringTest(s => string.Equals(s, text, StringComparison.OrdinalIgnoreCase)));
                                }
                            }
                            return new AnythingBut(list, stringsOnly: true);
                        }
                        default:
                            throw Error(v, p, $"anything-but takes a value, a list, or one of prefix, suffix, equals-ignore-case, wildcard (not '{op}')");
                    }
                }
                default:
                    throw Error(v, path, "anything-but takes a string, a number, a list of them, or {\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": ...}");
            }
        }
    }

    // ---------------- a JSON tree with positions ----------------

    private enum JKind { Object, Array, String, Number, True, False, Null }

    private sealed class JNode
    {
        public JKind Kind;
        public long Offset;
        public string? Str;
        public double Num;
        public string Raw = "";
        public List<(string Key, JNode Value, long KeyOffset)>? Members;
        public List<JNode>? Items;

        public static (JNode Root, LineMap Lines) Parse(string json, Where source)
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            var lines = new LineMap(bytes);
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false });
            try
            {
                if (!reader.Read()) throw source.Error(1, 1, "$", "the pattern is empty (expected a JSON object)");
                var root = Read(ref reader, source, lines, "$");
                if (reader.Read())
                {
                    var (l, c) = lines.Position(reader.TokenStartIndex);
                    throw source.Error(l, c, "$", "unexpected text after the pattern's closing '}'");
                }
                return (root, lines);
            }
            catch (JsonException e)
            {
                var line = (e.LineNumber ?? 0) + 1;
                var col = (e.BytePositionInLine ?? 0) + 1;
                var msg = e.Message;
                var cut = msg.IndexOf(" LineNumber:", StringComparison.Ordinal);
                if (cut > 0) msg = msg[..cut].TrimEnd('.', ' ');
                throw source.Error(line, col, "(json)", $"malformed JSON: {msg}");
            }
        }

        private static JNode Read(ref Utf8JsonReader r, Where source, LineMap lines, string path)
        {
            var n = new JNode { Offset = r.TokenStartIndex };
            switch (r.TokenType)
            {
                case JsonTokenType.StartObject:
                    n.Kind = JKind.Object;
                    n.Members = [];
                    while (r.Read() && r.TokenType != JsonTokenType.EndObject)
                    {
                        var keyOffset = r.TokenStartIndex;
                        var key = r.GetString()!;
                        if (n.Members.Any(m => m.Key == key))
                        {
                            var (l, c) = lines.Position(keyOffset);
                            throw source.Error(l, c, $"{path}.{key}", "duplicate key");
                        }
                        r.Read();
                        n.Members.Add((key, Read(ref r, source, lines, $"{path}.{key}"), keyOffset));
                    }
                    n.Raw = "{...}";
                    break;
                case JsonTokenType.StartArray:
                    n.Kind = JKind.Array;
                    n.Items = [];
                    while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                        n.Items.Add(Read(ref r, source, lines, $"{path}[{n.Items.Count}]"));
                    n.Raw = "[...]";
                    break;
                case JsonTokenType.String:
                    n.Kind = JKind.String;
                    n.Str = r.GetString();
                    n.Raw = JsonText.Quote(n.Str!);
                    break;
                case JsonTokenType.Number:
                    n.Kind = JKind.Number;
                    n.Num = r.GetDouble();
                    n.Raw = Encoding.UTF8.GetString(r.ValueSpan);
                    break;
                case JsonTokenType.True: n.Kind = JKind.True; n.Raw = "true"; break;
                case JsonTokenType.False: n.Kind = JKind.False; n.Raw = "false"; break;
                default: n.Kind = JKind.Null; n.Raw = "null"; break;
            }
            return n;
        }
    }

    private sealed class LineMap
    {
        private readonly byte[] _bytes;
        private readonly List<int> _starts = [0];

        public LineMap(byte[] bytes)
        {
            _bytes = bytes;
            for (var i = 0; i < bytes.Length; i++)
                if (bytes[i] == '\n') _starts.Add(i + 1);
        }

        public (int Line, int Column) Position(long offset)
        {
            var line = _starts.BinarySearch((int)offset);
            if (line < 0) line = ~line - 1;
            var start = _starts[line];
            var col = Encoding.UTF8.GetCharCount(_bytes, start, (int)offset - start) + 1;
            return (line + 1, col);
        }
    }
}
