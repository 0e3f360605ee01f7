namespace Lifeboat.Core.Scheduling;

/// <summary>
/// A standard 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.
/// Written here because no cron library (Cronos, NCrontab) is reachable in this project's NuGet copy: the smallest
/// correct piece. Supports <c>*</c>, numbers, ranges <c>a-b</c>, steps <c>*/n</c> and <c>a-b/n</c>, lists <c>a,b</c>,
/// names for months (jan..dec) and weekdays (sun..sat), 7 as Sunday, and the classic rule that when both day fields
/// are restricted a day matches if either matches. Not supported: <c>L</c>, <c>W</c>, <c>#</c>, <c>?</c>, seconds.
/// </summary>
public sealed class CronSchedule
{
    private readonly ulong _minutes, _hours, _days, _months, _weekdays;
    private readonly bool _dayRestricted, _weekdayRestricted;

    public string Expression { get; }

    private CronSchedule(string expr, ulong mi, ulong h, ulong d, ulong mo, ulong wd, bool dr, bool wr)
    {
        Expression = expr; _minutes = mi; _hours = h; _days = d; _months = mo; _weekdays = wd; _dayRestricted = dr; _weekdayRestricted = wr;
    }

    private static readonly string[] MonthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    private static readonly string[] DayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    /// <summary>Parses the expression; throws <see cref="FormatException"/> naming the bad field.</summary>
    public static CronSchedule Parse(string expr)
    {
        var f = expr.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length != 5) throw new FormatException($"'{expr}' has {f.Length} fields; a cron schedule has 5 (minute hour day-of-month month day-of-week)");
        var mi = Field(f[0], "minute", 0, 59, null);
        var h = Field(f[1], "hour", 0, 23, null);
        var d = Field(f[2], "day-of-month", 1, 31, null);
        var mo = Field(f[3], "month", 1, 12, MonthNames);
        var wd = Field(f[4], "day-of-week", 0, 7, DayNames);
        if ((wd & (1UL << 7)) != 0) wd = (wd | 1UL) & ~(1UL << 7); // 7 = Sunday
        // Vixie cron: a day field starting with '*' is unrestricted; when both are restricted either may match.
        return new CronSchedule(expr, mi, h, d, mo, wd, !f[2].StartsWith('*'), !f[4].StartsWith('*'));
    }

    private static ulong Field(string text, string name, int min, int max, string[]? names)
    {
        ulong bits = 0;
        foreach (var part in text.Split(','))
        {
            if (part.Length == 0) throw new FormatException($"{name} field '{text}' has an empty list item");
            var range = part;
            var step = 1;
            var slash = part.IndexOf('/');
            if (slash >= 0)
            {
                range = part[..slash];
                if (!int.TryParse(part[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out step) || step < 1)
                    throw new FormatException($"{name} field '{text}': step '{part[(slash + 1)..]}' is not a positive number");
            }
            int lo, hi;
            if (range == "*") { lo = min; hi = max == 7 ? 6 : max; }
            else
            {
                var dash = range.IndexOf('-');
                lo = Value(dash >= 0 ? range[..dash] : range, name, text, min, max, names);
                hi = dash >= 0 ? Value(range[(dash + 1)..], name, text, min, max, names) : (slash >= 0 ? (max == 7 ? 6 : max) : lo);
                if (hi < lo) throw new FormatException($"{name} field '{text}': range {range} goes backwards");
            }
            for (var v = lo; v <= hi; v += step) bits |= 1UL << v;
        }
        return bits;
    }

    private static int Value(string s, string name, string text, int min, int max, string[]? names)
    {
        if (names is not null)
        {
            var i = Array.IndexOf(names, s.ToLowerInvariant());
            if (i >= 0) return i + (min == 1 ? 1 : 0);
        }
        if (!int.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw new FormatException($"{name} field '{text}': '{s}' is not a value from {min} to {max}");
        return v;
    }

    private bool DayMatches(DateTime t)
    {
        var dom = (_days & (1UL << t.Day)) != 0;
        var dow = (_weekdays & (1UL << (int)t.DayOfWeek)) != 0;
        if (_dayRestricted && _weekdayRestricted) return dom || dow;
        return dom && dow;
    }

    /// <summary>The first matching minute strictly after <paramref name="after"/> (UTC), or null if none within 5 years
    /// (e.g. 30 February).</summary>
    public DateTimeOffset? Next(DateTimeOffset after)
    {
        var t = after.UtcDateTime;
        t = new DateTime(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, DateTimeKind.Utc).AddMinutes(1);
        var limit = t.AddYears(5);
        while (t < limit)
        {
            if ((_months & (1UL << t.Month)) == 0) { t = new DateTime(t.Year, t.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1); continue; }
            if (!DayMatches(t)) { t = t.Date.AddDays(1); continue; }
            if ((_hours & (1UL << t.Hour)) == 0) { t = new DateTime(t.Year, t.Month, t.Day, t.Hour, 0, 0, DateTimeKind.Utc).AddHours(1); continue; }
            if ((_minutes & (1UL << t.Minute)) == 0) { t = t.AddMinutes(1); continue; }
            return new DateTimeOffset(t, TimeSpan.Zero);
        }
        return null;
    }

    public override string ToString() => Expression;
}
