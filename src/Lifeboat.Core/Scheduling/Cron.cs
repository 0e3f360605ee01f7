using System.Globalization;

namespace Lifeboat.Core.Scheduling;

/// <summary>
/// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC. No cron library is in the
/// reachable NuGet copy (Cronos and NCrontab are absent), so this is the smallest correct piece, with the semantics of
/// Vixie cron (crontab(5)):
/// <list type="bullet">
/// <item>each field is <c>*</c>, a number, a range <c>a-b</c>, any of these with a step <c>/n</c>, or a comma list of them;</item>
/// <item>months accept JAN..DEC, days of week SUN..SAT; day of week 0 and 7 are both Sunday;</item>
/// <item>when both day of month and day of week are restricted (neither starts with <c>*</c>), a day matches if
///   EITHER matches; otherwise both must;</item>
/// <item>macros @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually).</item>
/// </list>
/// An expression that can never fire (e.g. 30 February) is rejected when parsed.
/// </summary>
public sealed class Cron
{
    private readonly ulong _minutes; // bits 0..59
    private readonly uint _hours;    // bits 0..23
    private readonly uint _days;     // bits 1..31
    private readonly uint _months;   // bits 1..12
    private readonly uint _weekdays; // bits 0..6 (Sunday = 0)
    private readonly bool _domStar, _dowStar;

    public string Expression { get; }

    private Cron(string expression, ulong minutes, uint hours, uint days, uint months, uint weekdays, bool domStar, bool dowStar)
    {
        Expression = expression;
        _minutes = minutes;
        _hours = hours;
        _days = days;
        _months = months;
        _weekdays = weekdays;
        _domStar = domStar;
        _dowStar = dowStar;
    }

    private static readonly string[] MonthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    private static readonly string[] DayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private static readonly Dictionary<string, string> Macros = new(StringComparer.OrdinalIgnoreCase)
    {
        ["@hourly"] = "0 * * * *",
        ["@daily"] = "0 0 * * *",
        ["@midnight"] = "0 0 * * *",
        ["@weekly"] = "0 0 * * 0",
        ["@monthly"] = "0 0 1 * *",
        ["@yearly"] = "0 0 1 1 *",
        ["@annually"] = "0 0 1 1 *",
    };

    /// <summary>Parses <paramref name="expression"/>; throws <see cref="FormatException"/> naming the bad field.</summary>
    public static Cron Parse(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var text = expression.Trim();
        if (Macros.TryGetValue(text, out var expanded)) text = expanded;
        else if (text.StartsWith('@')) throw new FormatException($"unknown macro '{text}' (known: {string.Join(", ", Macros.Keys)})");
        var fields = text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
            throw new FormatException($"expected 5 fields (minute hour day-of-month month day-of-week), got {fields.Length} in '{expression}'");
        var minutes = Field(fields[0], "minute", 0, 59, null);
        var hours = Field(fields[1], "hour", 0, 23, null);
        var days = Field(fields[2], "day-of-month", 1, 31, null);
        var months = Field(fields[3], "month", 1, 12, MonthNames);
        var dow = Field(fields[4], "day-of-week", 0, 7, DayNames);
        if ((dow & (1UL << 7)) != 0) dow = (dow | 1) & 0x7F; // 7 = Sunday
        var cron = new Cron(expression.Trim(), minutes, (uint)hours, (uint)days, (uint)months, (uint)dow,
            fields[2].StartsWith('*'), fields[4].StartsWith('*'));
        // Reject expressions that never fire (e.g. "0 0 30 2 *"): a leap-year cycle covers every calendar date.
        if (cron.Next(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero)) is null)
            throw new FormatException($"'{expression}' never matches a date (day-of-month {fields[2]} does not occur in month {fields[3]})");
        return cron;
    }

    public static bool TryParse(string expression, out Cron? cron, out string? error)
    {
        try
        {
            cron = Parse(expression);
            error = null;
            return true;
        }
        catch (FormatException e)
        {
            cron = null;
            error = e.Message;
            return false;
        }
    }

    private static ulong Field(string text, string name, int min, int max, string[]? names)
    {
        ulong bits = 0;
        foreach (var part in text.Split(','))
        {
            if (part.Length == 0) throw new FormatException($"{name} field '{text}': empty list item");
            var step = 1;
            var range = part;
            var slash = part.IndexOf('/');
            if (slash >= 0)
            {
                range = part[..slash];
                if (!int.TryParse(part[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out step) || step < 1 || step > max)
                    throw new FormatException($"{name} field '{text}': step '{part[(slash + 1)..]}' must be a number from 1 to {max}");
            }
            int lo, hi;
            if (range == "*") { lo = min; hi = name == "day-of-week" ? 6 : max; }
            else
            {
                var dash = range.IndexOf('-');
                if (dash >= 0)
                {
                    lo = Value(range[..dash], name, text, min, max, names);
                    hi = Value(range[(dash + 1)..], name, text, min, max, names);
                    if (hi < lo) throw new FormatException($"{name} field '{text}': range {range} runs backwards");
                }
                else
                {
                    lo = Value(range, name, text, min, max, names);
                    // "5/15" means from 5 to the end, every 15 (as Vixie cron reads it).
                    hi = slash >= 0 ? (name == "day-of-week" ? 6 : max) : lo;
                }
            }
            for (var v = lo; v <= hi; v += step) bits |= 1UL << v;
        }
        return bits;
    }

    private static int Value(string s, string name, string field, int min, int max, string[]? names)
    {
        if (int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
        {
            if (v < min || v > max) throw new FormatException($"{name} field '{field}': {v} is outside {min}-{max}");
            return v;
        }
        if (names is not null)
        {
            var i = Array.FindIndex(names, n => n.Equals(s, StringComparison.OrdinalIgnoreCase));
            if (i >= 0) return names == MonthNames ? i + 1 : i;
        }
        throw new FormatException($"{name} field '{field}': '{s}' is not a number{(names is null ? "" : " or a name")}");
    }

    private bool DayMatches(DateTime d)
    {
        var dom = (_days & (1u << d.Day)) != 0;
        var dow = (_weekdays & (1u << (int)d.DayOfWeek)) != 0;
        if (_domStar || _dowStar) return dom && dow;
        return dom || dow;
    }

    /// <summary>The first time strictly after <paramref name="after"/> (at whole minutes, UTC) that matches; null if
    /// none within the next 5 years (only for expressions that never fire, which <see cref="Parse"/> rejects).</summary>
    public DateTimeOffset? Next(DateTimeOffset after)
    {
        var u = after.UtcDateTime;
        var t = new DateTime(u.Year, u.Month, u.Day, u.Hour, u.Minute, 0, DateTimeKind.Utc).AddMinutes(1);
        var limit = t.AddYears(5);
        while (t < limit)
        {
            if ((_months & (1u << t.Month)) == 0)
            {
                t = new DateTime(t.Year, t.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1);
                continue;
            }
            if (!DayMatches(t))
            {
                t = t.Date.AddDays(1);
                continue;
            }
            if ((_hours & (1u << t.Hour)) == 0)
            {
                t = new DateTime(t.Year, t.Month, t.Day, t.Hour, 0, 0, DateTimeKind.Utc).AddHours(1);
                continue;
            }
            if ((_minutes & (1UL << t.Minute)) == 0)
            {
                t = t.AddMinutes(1);
                continue;
            }
            return new DateTimeOffset(t, TimeSpan.Zero);
        }
        return null;
    }

    /// <summary>The latest matching time at or before <paramref name="atOrBefore"/>, searching back at most
    /// <paramref name="window"/>; null when none. Used to catch up a run missed while Lifeboat was down.</summary>
    public DateTimeOffset? Previous(DateTimeOffset atOrBefore, TimeSpan window)
    {
        DateTimeOffset? last = null;
        var t = Next(atOrBefore - window - TimeSpan.FromMinutes(1));
        while (t is { } v && v <= atOrBefore)
        {
            last = v;
            t = Next(v);
        }
        return last;
    }

    public override string ToString() => Expression;
}
