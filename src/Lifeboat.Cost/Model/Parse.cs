using System.Globalization;
using System.Text.RegularExpressions;
using Lifeboat.Core.Config;

namespace Lifeboat.Cost.Model;

/// <summary>Readers for the numbers of workload, price and scenario files, on top of <see cref="YamlMap"/>:
/// every error names file, line and key.</summary>
public static partial class Parse
{
    [GeneratedRegex(@"^([0-9][0-9_,]*(?:\.[0-9]+)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?$")]
    private static partial Regex NumberPattern();

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$")]
    private static partial Regex SizePattern();

    /// <summary>A plain number: 1000, 1_000_000, 1,000,000, 0.023, 1e9.</summary>
    public static bool TryNumber(string text, out double value)
    {
        value = 0;
        var t = text.Trim();
        if (!NumberPattern().IsMatch(t)) return false;
        return double.TryParse(t.Replace("_", "", StringComparison.Ordinal).Replace(",", "", StringComparison.Ordinal),
                   NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    /// <summary>A size: 50KB, 1.5GiB, 2TB, 512 (bytes). K/M/G/T/P are binary multiples, as everywhere in Lifeboat
    /// (AWS bills a "GB" of storage and transfer as 2^30 bytes too).</summary>
    public static bool TrySize(string text, out double bytes)
    {
        bytes = 0;
        var m = SizePattern().Match(text.Trim());
        if (!m.Success || !double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n)) return false;
        var exp = m.Groups[2].Value.ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "K" or "KB" or "KIB" => 1,
            "M" or "MB" or "MIB" => 2,
            "G" or "GB" or "GIB" => 3,
            "T" or "TB" or "TIB" => 4,
            "P" or "PB" or "PIB" => 5,
            _ => -1,
        };
        if (exp < 0) return false;
        bytes = n * Math.Pow(1024, exp);
        return true;
    }

    public static double? OptNumber(YamlMap m, string key, double min, string what)
    {
        var v = m.OptString(key);
        if (v is null) return null;
        if (!TryNumber(v, out var d) || d < min)
            throw m.Error(key, $"expected {what} (a number{(min > double.MinValue ? $" ≥ {min.ToString(CultureInfo.InvariantCulture)}" : "")}), got '{v}'");
        return d;
    }

    public static double? OptSize(YamlMap m, string key, double minBytes)
    {
        var v = m.OptString(key);
        if (v is null) return null;
        if (!TrySize(v, out var b) || b < minBytes)
            throw m.Error(key, $"expected a size such as 50KB, 200GB or 2TB{(minBytes > 0 ? $" of at least {minBytes.ToString(CultureInfo.InvariantCulture)} bytes" : "")}, got '{v}'");
        return b;
    }

    /// <summary>A fraction: 0.05 or 5%.</summary>
    public static double? OptFraction(YamlMap m, string key)
    {
        var v = m.OptString(key);
        if (v is null) return null;
        var t = v.Trim();
        var percent = t.EndsWith('%');
        if (percent) t = t[..^1].TrimEnd();
        if (!TryNumber(t, out var d))
            throw m.Error(key, $"expected a fraction such as 0.05 or 5%, got '{v}'");
        return percent ? d / 100 : d;
    }

    public static TimeSpan? OptDuration(YamlMap m, string key, TimeSpan min)
    {
        var v = m.OptString(key);
        if (v is null) return null;
        if (!Durations.TryParse(v, out var t) || t < min)
            throw m.Error(key, $"expected a duration such as 200ms, 30s, 10m or 24h (at least {Durations.Format(min)}), got '{v}'");
        return t;
    }
}
