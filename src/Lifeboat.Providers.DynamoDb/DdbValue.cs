using System.Text;
using System.Text.Json;

namespace Lifeboat.Providers.DynamoDb;

public enum DdbType { S, N, B, SS, NS, BS, M, L, NULL, BOOL }

/// <summary>
/// One DynamoDB attribute value, exactly as the service sent it. Numbers stay decimal strings (up to 38 significant
/// digits; never converted through double or decimal), binary stays bytes, sets keep the service's order but compare
/// as sets. Immutable.
/// </summary>
public sealed class DdbValue : IEquatable<DdbValue>
{
    private DdbValue(DdbType type) => Type = type;

    public DdbType Type { get; }
    /// <summary>The text of S, or the decimal string of N.</summary>
    public string? Text { get; private init; }
    public ReadOnlyMemory<byte> Bytes { get; private init; }
    /// <summary>Members of SS or NS.</summary>
    public IReadOnlyList<string>? Strings { get; private init; }
    public IReadOnlyList<ReadOnlyMemory<byte>>? BinarySet { get; private init; }
    public IReadOnlyDictionary<string, DdbValue>? Map { get; private init; }
    public IReadOnlyList<DdbValue>? List { get; private init; }
    public bool Bool { get; private init; }

    public static DdbValue S(string s) => new(DdbType.S) { Text = s ?? throw new ArgumentNullException(nameof(s)) };
    public static DdbValue N(string decimalString) => new(DdbType.N) { Text = decimalString ?? throw new ArgumentNullException(nameof(decimalString)) };
    public static DdbValue B(ReadOnlyMemory<byte> bytes) => new(DdbType.B) { Bytes = bytes };
    public static DdbValue SS(IEnumerable<string> members) => new(DdbType.SS) { Strings = members.ToArray() };
    public static DdbValue NS(IEnumerable<string> members) => new(DdbType.NS) { Strings = members.ToArray() };
    public static DdbValue BS(IEnumerable<ReadOnlyMemory<byte>> members) => new(DdbType.BS) { BinarySet = members.ToArray() };
    public static DdbValue M(IReadOnlyDictionary<string, DdbValue> map) => new(DdbType.M) { Map = new Dictionary<string, DdbValue>(map, StringComparer.Ordinal) };
    public static DdbValue L(IEnumerable<DdbValue> items) => new(DdbType.L) { List = items.ToArray() };
    public static DdbValue Null { get; } = new(DdbType.NULL) { Bool = true };
    public static DdbValue True { get; } = new(DdbType.BOOL) { Bool = true };
    public static DdbValue False { get; } = new(DdbType.BOOL) { Bool = false };
    public static DdbValue BOOL(bool b) => b ? True : False;

    /// <summary>Structural equality: S, N (as exact strings: DynamoDB returns numbers normalised), B by bytes, sets as
    /// sets (order ignored), maps by key, lists in order.</summary>
    public bool Equals(DdbValue? other)
    {
        if (other is null || other.Type != Type) return false;
        if (ReferenceEquals(this, other)) return true;
        return Type switch
        {
            DdbType.S or DdbType.N => string.Equals(Text, other.Text, StringComparison.Ordinal),
            DdbType.B => Bytes.Span.SequenceEqual(other.Bytes.Span),
            DdbType.SS or DdbType.NS => new HashSet<string>(Strings!, StringComparer.Ordinal).SetEquals(other.Strings!) && Strings!.Count == other.Strings!.Count,
            DdbType.BS => BinarySet!.Count == other.BinarySet!.Count &&
                          new HashSet<string>(BinarySet.Select(b => Convert.ToBase64String(b.Span)), StringComparer.Ordinal)
                              .SetEquals(other.BinarySet.Select(b => Convert.ToBase64String(b.Span))),
            DdbType.M => Map!.Count == other.Map!.Count && Map.All(kv => other.Map.TryGetValue(kv.Key, out var o) && kv.Value.Equals(o)),
            DdbType.L => List!.Count == other.List!.Count && List.Zip(other.List).All(p => p.First.Equals(p.Second)),
            _ => Bool == other.Bool,
        };
    }

    public override bool Equals(object? obj) => obj is DdbValue v && Equals(v);

    public override int GetHashCode() => Type switch
    {
        DdbType.S or DdbType.N => HashCode.Combine(Type, Text),
        DdbType.B => HashCode.Combine(Type, Bytes.Length),
        DdbType.SS or DdbType.NS => HashCode.Combine(Type, Strings!.Count),
        DdbType.BS => HashCode.Combine(Type, BinarySet!.Count),
        DdbType.M => HashCode.Combine(Type, Map!.Count),
        DdbType.L => HashCode.Combine(Type, List!.Count),
        _ => HashCode.Combine(Type, Bool),
    };

    /// <summary>DynamoDB JSON, e.g. {"N":"1.5"}: for messages and diffs.</summary>
    public override string ToString() => DdbJson.Serialize(this);
}

/// <summary>
/// The DynamoDB JSON wire form of attribute values ({"S":"x"}, {"N":"12.5"}, {"B":"base64"}, {"SS":[..]}, {"M":{..}},
/// {"L":[..]}, {"NULL":true}, {"BOOL":false}). Numbers are JSON strings on the wire and stay strings here.
/// Nesting: DynamoDB allows 32 levels; each level is two JSON levels, so documents are read with a depth limit well
/// above that (<see cref="MaxJsonDepth"/>).
/// </summary>
public static class DdbJson
{
    public const int MaxJsonDepth = 256;

    public static JsonDocumentOptions DocumentOptions { get; } = new() { MaxDepth = MaxJsonDepth };
    public static JsonWriterOptions WriterOptions { get; } = new() { MaxDepth = MaxJsonDepth, SkipValidation = false };

    public static DdbValue ReadValue(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new FormatException($"attribute value must be an object, got {e.ValueKind}");
        DdbValue? result = null;
        foreach (var p in e.EnumerateObject())
        {
            if (result is not null) throw new FormatException($"attribute value has more than one type: {e.GetRawText()[..Math.Min(200, e.GetRawText().Length)]}");
            var v = p.Value;
            result = p.Name switch
            {
                "S" => DdbValue.S(v.GetString()!),
                "N" => DdbValue.N(NumberText(v)),
                "B" => DdbValue.B(v.GetBytesFromBase64()),
                "SS" => DdbValue.SS(v.EnumerateArray().Select(x => x.GetString()!)),
                "NS" => DdbValue.NS(v.EnumerateArray().Select(NumberText)),
                "BS" => DdbValue.BS(v.EnumerateArray().Select(x => (ReadOnlyMemory<byte>)x.GetBytesFromBase64())),
                "M" => DdbValue.M(ReadItem(v)),
                "L" => DdbValue.L(v.EnumerateArray().Select(ReadValue).ToList()),
                "NULL" => DdbValue.Null,
                "BOOL" => DdbValue.BOOL(v.GetBoolean()),
                _ => throw new FormatException($"unknown attribute value type '{p.Name}'"),
            };
        }
        return result ?? throw new FormatException("empty attribute value {}");
    }

    // N is a JSON string on the wire; accept a bare JSON number too, keeping its exact text.
    private static string NumberText(JsonElement v) => v.ValueKind == JsonValueKind.Number ? v.GetRawText() : v.GetString()!;

    public static Dictionary<string, DdbValue> ReadItem(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new FormatException($"item must be an object, got {e.ValueKind}");
        var item = new Dictionary<string, DdbValue>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject()) item[p.Name] = ReadValue(p.Value);
        return item;
    }

    public static void WriteValue(Utf8JsonWriter w, DdbValue v)
    {
        w.WriteStartObject();
        switch (v.Type)
        {
            case DdbType.S: w.WriteString("S", v.Text); break;
            case DdbType.N: w.WriteString("N", v.Text); break;
            case DdbType.B: w.WriteBase64String("B", v.Bytes.Span); break;
            case DdbType.SS:
            case DdbType.NS:
                w.WriteStartArray(v.Type == DdbType.SS ? "SS" : "NS");
                foreach (var s in v.Strings!) w.WriteStringValue(s);
                w.WriteEndArray();
                break;
            case DdbType.BS:
                w.WriteStartArray("BS");
                foreach (var b in v.BinarySet!) w.WriteBase64StringValue(b.Span);
                w.WriteEndArray();
                break;
            case DdbType.M:
                w.WritePropertyName("M");
                WriteItem(w, v.Map!);
                break;
            case DdbType.L:
                w.WriteStartArray("L");
                foreach (var x in v.List!) WriteValue(w, x);
                w.WriteEndArray();
                break;
            case DdbType.NULL: w.WriteBoolean("NULL", true); break;
            case DdbType.BOOL: w.WriteBoolean("BOOL", v.Bool); break;
            default: throw new ArgumentOutOfRangeException(nameof(v), v.Type, "unknown attribute type");
        }
        w.WriteEndObject();
    }

    public static void WriteItem(Utf8JsonWriter w, IReadOnlyDictionary<string, DdbValue> item)
    {
        w.WriteStartObject();
        foreach (var (k, x) in item)
        {
            w.WritePropertyName(k);
            WriteValue(w, x);
        }
        w.WriteEndObject();
    }

    public static string Serialize(DdbValue v)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions)) WriteValue(w, v);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public static string SerializeItem(IReadOnlyDictionary<string, DdbValue> item)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions)) WriteItem(w, item);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public static DdbValue ParseValue(string json)
    {
        using var doc = JsonDocument.Parse(json, DocumentOptions);
        return ReadValue(doc.RootElement);
    }

    public static Dictionary<string, DdbValue> ParseItem(string json)
    {
        using var doc = JsonDocument.Parse(json, DocumentOptions);
        return ReadItem(doc.RootElement);
    }
}
