using Cronos;

namespace Lifeboat.Core.Scheduling;

/// <summary>
/// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC, parsed and evaluated by
/// Cronos (<see href="https://github.com/HangfireIO/Cronos"/>), with the semantics of Vixie cron (crontab(5)):
/// <list type="bullet">
/// <item>each field is <c>*</c>, a number, a range <c>a-b</c>, any of these with a step <c>/n</c>, or a comma list of them;</item>
/// <item>months accept JAN..DEC, days of week SUN..SAT; day of week 0 and 7 are both Sunday;</item>
/// <item>when both day of month and day of week are restricted (neither starts with <c>*</c>), a day matches if
///   EITHER matches; otherwise both must;</item>
/// <item>macros @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually).</item>
/// </list>
/// What this class adds: an expression that can never fire (e.g. 30 February) is rejected when parsed, errors are
/// <see cref="FormatException"/>s that quote the expression, and <see cref="Previous"/> (a missed run to catch up).
/// tests/Lifeboat.Tests/Scheduling/CronTests.cs is the specification Cronos is checked against.
/// </summary>
public sealed class Cron
{
    // Cronos matches a day only when day-of-month AND day-of-week match; Vixie cron fires when EITHER matches if both
    // are restricted. Such an expression is kept as two (one per day field, the other day field '*'), and the earlier
    // occurrence wins.
    private readonly CronExpression[] _exprs;

    public string Expression { get; }

    private Cron(string expression, CronExpression[] exprs)
    {
        Expression = expression;
        _exprs = exprs;
    }

    private static readonly string[] MonthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    private static readonly string[] DayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    private static readonly string[] FieldNames = ["minute", "hour", "day-of-month", "month", "day-of-week"];

    /// <summary>Cronos reads a range that runs backwards (5-1) as wrapping around; crontab(5) refuses it.</summary>
    private static void RefuseBackwardRanges(string[] fields)
    {
        for (var f = 0; f < fields.Length; f++)
            foreach (var part in fields[f].Split(','))
            {
                var range = part.Split('/')[0];
                var dash = range.IndexOf('-');
                if (dash <= 0) continue;
                int? lo = Number(range[..dash], f), hi = Number(range[(dash + 1)..], f);
                if (lo is { } a && hi is { } b && b < a)
                    throw new FormatException($"{FieldNames[f]} field '{fields[f]}': range {range} runs backwards");
            }
    }

    private static int? Number(string s, int field)
    {
        if (int.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)) return v;
        var names = field == 3 ? MonthNames : field == 4 ? DayNames : null;
        var i = names is null ? -1 : Array.FindIndex(names, n => n.Equals(s, StringComparison.OrdinalIgnoreCase));
        return i < 0 ? null : field == 3 ? i + 1 : i;
    }

    /// <summary>Parses <paramref name="expression"/>; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static Cron Parse(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var text = expression.Trim();
        var texts = new List<string> { text };
        if (!text.StartsWith('@'))
        {
            var fields = text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 5)
                throw new FormatException($"expected 5 fields (minute hour day-of-month month day-of-week), got {fields.Length} in '{expression}'");
            RefuseBackwardRanges(fields);
            texts = !fields[2].StartsWith('*') && !fields[4].StartsWith('*')
                ? [$"{fields[0]} {fields[1]} {fields[2]} {fields[3]} *", $"{fields[0]} {fields[1]} * {fields[3]} {fields[4]}"]
                : [string.Join(' ', fields)];
        }
        var exprs = new CronExpression[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            try { exprs[i] = CronExpression.Parse(texts[i], CronFormat.Standard); }
            catch (CronFormatException e)
            {
                const string prefix = "The given cron expression has an invalid format. ";
                var why = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
                throw new FormatException($"'{expression}' is not a valid cron expression: {why.TrimEnd('.')}", e);
            }
        }
        var cron = new Cron(expression.Trim(), exprs);
        // Reject expressions that never fire (e.g. "0 0 30 2 *"): a leap-year cycle covers every calendar date.
        if (cron.Next(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero)) is not { } first || first.Year > 2004)
            throw new FormatException($"'{expression}' never matches a date");
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

    /// <summary>The first time strictly after <paramref name="after"/> (at whole minutes, UTC) that matches; null if
    /// none (only for expressions that never fire, which <see cref="Parse"/> rejects).</summary>
    public DateTimeOffset? Next(DateTimeOffset after)
    {
        DateTimeOffset? next = null;
        foreach (var e in _exprs)
            if (e.GetNextOccurrence(after, TimeZoneInfo.Utc, inclusive: false) is { } t && (next is null || t < next)) next = t;
        return next;
    }

    /// <summary>The latest matching time at or before <paramref name="atOrBefore"/>, searching back at most
    /// <paramref name="window"/>; null when none. Used to catch up a run missed while Lifeboat was down.</summary>
    public DateTimeOffset? Previous(DateTimeOffset atOrBefore, TimeSpan window)
    {
        DateTimeOffset? last = null;
        foreach (var e in _exprs)
            foreach (var t in e.GetOccurrences(atOrBefore - window, atOrBefore, TimeZoneInfo.Utc, fromInclusive: true, toInclusive: true))
                if (last is null || t > last) last = t;
        return last;
    }

    public override string ToString() => Expression;
}
