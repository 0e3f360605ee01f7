using Amazon.DynamoDBv2.Model;

namespace Lifeboat.Providers.DynamoDb;

/// <summary>Converts between <see cref="DdbValue"/> and AWSSDK.DynamoDBv2's AttributeValue, losslessly (numbers stay
/// strings in both).</summary>
public static class DdbSdk
{
    public static AttributeValue ToSdk(DdbValue v) => v.Type switch
    {
        DdbType.S => new AttributeValue { S = v.Text },
        DdbType.N => new AttributeValue { N = v.Text },
        DdbType.B => new AttributeValue { B = new MemoryStream(v.Bytes.ToArray(), writable: false) },
        DdbType.SS => new AttributeValue { SS = [.. v.Strings!] },
        DdbType.NS => new AttributeValue { NS = [.. v.Strings!] },
        DdbType.BS => new AttributeValue { BS = v.BinarySet!.Select(b => new MemoryStream(b.ToArray(), writable: false)).ToList() },
        DdbType.M => new AttributeValue { M = ToSdk(v.Map!) },
        DdbType.L => new AttributeValue { L = v.List!.Select(ToSdk).ToList() },
        DdbType.NULL => new AttributeValue { NULL = true },
        DdbType.BOOL => new AttributeValue { BOOL = v.Bool },
        _ => throw new ArgumentOutOfRangeException(nameof(v), v.Type, "unknown attribute type"),
    };

    public static Dictionary<string, AttributeValue> ToSdk(IReadOnlyDictionary<string, DdbValue> item)
    {
        var d = new Dictionary<string, AttributeValue>(item.Count, StringComparer.Ordinal);
        foreach (var (k, v) in item) d[k] = ToSdk(v);
        return d;
    }

    public static DdbValue FromSdk(AttributeValue a)
    {
        if (a.S is not null) return DdbValue.S(a.S);
        if (a.N is not null) return DdbValue.N(a.N);
        if (a.B is not null) return DdbValue.B(a.B.ToArray());
        if (a.SS is { Count: > 0 }) return DdbValue.SS(a.SS);
        if (a.NS is { Count: > 0 }) return DdbValue.NS(a.NS);
        if (a.BS is { Count: > 0 }) return DdbValue.BS(a.BS.Select(s => (ReadOnlyMemory<byte>)s.ToArray()));
        if (a.IsMSet || a.M is not null) return DdbValue.M(FromSdk(a.M ?? []));
        if (a.IsLSet || a.L is not null) return DdbValue.L((a.L ?? []).Select(FromSdk).ToList());
        if (a.NULL == true) return DdbValue.Null;
        if (a.BOOL is bool b) return DdbValue.BOOL(b);
        throw new FormatException("attribute value with no type set");
    }

    public static Dictionary<string, DdbValue> FromSdk(IReadOnlyDictionary<string, AttributeValue> item)
    {
        var d = new Dictionary<string, DdbValue>(item.Count, StringComparer.Ordinal);
        foreach (var (k, v) in item) d[k] = FromSdk(v);
        return d;
    }

    public static Dictionary<string, DdbValue> FromSdk(Dictionary<string, AttributeValue> item) =>
        FromSdk((IReadOnlyDictionary<string, AttributeValue>)item);
}
