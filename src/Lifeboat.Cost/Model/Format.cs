using System.Globalization;

namespace Lifeboat.Cost.Model;

/// <summary>Number formats shared by the reports (invariant culture).</summary>
public static class Format
{
    /// <summary>Writes and other counts: 1,000 / 25,000 / 3.76M / 1.2B.</summary>
    public static string Count(double n) => n switch
    {
        >= 1e9 => Trim(n / 1e9) + "B",
        >= 1e6 => Trim(n / 1e6) + "M",
        _ => Math.Round(n).ToString("N0", CultureInfo.InvariantCulture),
    };

    /// <summary>Exact counts for tables: 1,000,000,000.</summary>
    public static string Exact(double n) => Math.Round(n).ToString("N0", CultureInfo.InvariantCulture);

    private static string Trim(double v) => v.ToString(v >= 100 ? "0" : v >= 10 ? "0.#" : "0.##", CultureInfo.InvariantCulture);

    /// <summary>Money: 2 decimals, thousands separated; small non-zero amounts keep 2 significant digits.</summary>
    public static string Money(double v)
    {
        if (v == 0) return "0.00";
        if (Math.Abs(v) < 0.0001) return "<0.0001";
        if (Math.Abs(v) < 0.01) return v.ToString("0.0000", CultureInfo.InvariantCulture);
        return v.ToString("N2", CultureInfo.InvariantCulture);
    }

    public static string Price(double v) => v.ToString("0.##########", CultureInfo.InvariantCulture);

    public static string Quantity(double v) => v switch
    {
        0 => "0",
        >= 1000 => v.ToString("N0", CultureInfo.InvariantCulture),
        >= 1 => v.ToString("0.##", CultureInfo.InvariantCulture),
        _ => v.ToString("0.####", CultureInfo.InvariantCulture),
    };

    /// <summary>A unit counted more than once: request → requests, delivery → deliveries; GB and *-month stay.</summary>
    public static string Plural(string unit, double quantity)
    {
        if (quantity == 1 || unit is "GB" || unit.EndsWith("-month", StringComparison.Ordinal)) return unit;
        return unit.EndsWith('y') ? unit[..^1] + "ies" : unit + "s";
    }

    /// <summary>Durations as written in configs: 200ms, 30s, 10m, 24h, 7d (falls back to Lifeboat's format).</summary>
    public static string Duration(TimeSpan t)
    {
        if (t > TimeSpan.Zero && t.TotalDays >= 2 && t.TotalDays % 1 == 0) return $"{t.TotalDays:0}d";
        if (t > TimeSpan.Zero && t.TotalHours >= 1 && t.TotalHours % 1 == 0) return $"{t.TotalHours:0}h";
        if (t > TimeSpan.Zero && t.TotalMinutes >= 1 && t.TotalMinutes % 1 == 0) return $"{t.TotalMinutes:0}m";
        return Core.Config.Durations.Format(t);
    }

    public static string Bytes(double b) => b switch
    {
        >= 1L << 40 => (b / (1L << 40)).ToString("0.##", CultureInfo.InvariantCulture) + " TiB",
        >= 1L << 30 => (b / (1L << 30)).ToString("0.##", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (b / (1L << 20)).ToString("0.##", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (b / (1L << 10)).ToString("0.##", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString("0", CultureInfo.InvariantCulture) + " B",
    };
}
