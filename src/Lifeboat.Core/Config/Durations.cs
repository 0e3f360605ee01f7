using System.Globalization;
using System.Text.RegularExpressions;

namespace Lifeboat.Core.Config;

/// <summary>Parses durations such as <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>24h</c>, <c>1h30m</c>, <c>7d</c>.</summary>
public static partial class Durations
{
    /// <summary>The longest duration a config may give (100 years): beyond it, a time plus the duration could leave the
    /// calendar.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(36500);

    /// <summary>The longest duration of a timer (an interval, a timeout, a wait): .NET timers go up to ~49.7 days.</summary>
    public static readonly TimeSpan MaxTimer = TimeSpan.FromDays(49);

    [GeneratedRegex(@"^(?:([0-9]+)(ms|s|m|h|d))+$")]
    private static partial Regex Whole();

    [GeneratedRegex(@"([0-9]+)(ms|s|m|h|d)")]
    private static partial Regex Part();

    public static bool TryParse(string text, out TimeSpan value) => TryParse(text, out value, out _);

    /// <summary>False for text that is not a duration, and for one longer than <see cref="Max"/>
    /// (<paramref name="tooLong"/> then says so).</summary>
    public static bool TryParse(string text, out TimeSpan value, out bool tooLong)
    {
        value = TimeSpan.Zero;
        tooLong = false;
        if (string.IsNullOrWhiteSpace(text) || !Whole().IsMatch(text.Trim())) return false;
        decimal ms = 0;
        foreach (Match m in Part().Matches(text.Trim()))
        {
            var digits = m.Groups[1].Value.TrimStart('0');
            // 20 digits of a number times a day's milliseconds still fit a decimal; more is beyond Max anyway.
            if (digits.Length > 20 || !decimal.TryParse(digits.Length == 0 ? "0" : digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                tooLong = true;
                return false;
            }
            ms += n * m.Groups[2].Value switch
            {
                "ms" => 1m,
                "s" => 1_000m,
                "m" => 60_000m,
                "h" => 3_600_000m,
                _ => 86_400_000m,
            };
            if (ms > (decimal)Max.TotalMilliseconds)
            {
                tooLong = true;
                return false;
            }
        }
        value = TimeSpan.FromTicks((long)ms * TimeSpan.TicksPerMillisecond);
        return true;
    }

    public static string Format(TimeSpan t)
    {
        if (t == TimeSpan.Zero) return "0s";
        if (t.TotalMilliseconds < 1000) return $"{t.TotalMilliseconds:0}ms";
        if (t.TotalSeconds < 60) return $"{t.TotalSeconds:0.#}s";
        if (t.TotalMinutes < 60) return $"{(int)t.TotalMinutes}m{t.Seconds:00}s";
        if (t.TotalHours < 48) return $"{(int)t.TotalHours}h{t.Minutes:00}m";
        return $"{(int)t.TotalDays}d{t.Hours:00}h";
    }
}
