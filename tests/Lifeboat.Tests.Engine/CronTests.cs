using Lifeboat.Core.Scheduling;
using Xunit;

namespace Lifeboat.Tests.Scheduling;

public sealed class CronTests
{
    private static DateTimeOffset T(string s) => DateTimeOffset.Parse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal);

    [Theory]
    [InlineData("0 */6 * * *", "2026-11-22T02:39:00Z", "2026-11-22T06:00:00Z")]
    [InlineData("0 */6 * * *", "2026-11-22T06:00:00Z", "2026-11-22T12:00:00Z")] // strictly after
    [InlineData("0 3 * * *", "2026-11-22T03:00:30Z", "2026-11-23T03:00:00Z")]
    [InlineData("*/15 * * * *", "2026-11-22T02:46:10Z", "2026-11-22T03:00:00Z")]
    [InlineData("30 2 1 * *", "2026-11-22T00:00:00Z", "2026-12-01T02:30:00Z")]
    [InlineData("0 0 * * MON", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z")] // 2026-11-22 is a Sunday
    [InlineData("0 0 * * 7", "2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z")] // 7 = Sunday
    [InlineData("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z")] // leap day
    [InlineData("0 12 * JAN-MAR/2 *", "2026-11-22T00:00:00Z", "2027-01-01T12:00:00Z")]
    [InlineData("5,10-12 1 * * *", "2026-11-22T01:10:00Z", "2026-11-22T01:11:00Z")]
    [InlineData("5/20 * * * *", "2026-11-22T01:26:00Z", "2026-11-22T01:45:00Z")]
    [InlineData("@daily", "2026-11-22T01:26:00Z", "2026-11-23T00:00:00Z")]
    [InlineData("0 0 31 * *", "2026-11-01T00:00:00Z", "2026-12-31T00:00:00Z")] // November has 30 days
    public void Next(string expr, string after, string expected) =>
        Assert.Equal(T(expected), Cron.Parse(expr).Next(T(after)));

    [Fact]
    public void DayOfMonthAndDayOfWeek_BothRestricted_EitherMatches()
    {
        // crontab(5): "30 4 1,15 * 5" runs at 4:30 on the 1st and 15th of each month, plus every Friday.
        var c = Cron.Parse("30 4 1,15 * 5");
        Assert.Equal(T("2026-11-27T04:30:00Z"), c.Next(T("2026-11-22T00:00:00Z"))); // Friday 27th
        Assert.Equal(T("2026-12-01T04:30:00Z"), c.Next(T("2026-11-27T04:30:00Z"))); // then the 1st (a Tuesday)
    }

    [Theory]
    [InlineData("0 */6 * *", "expected 5 fields")]
    [InlineData("60 * * * *", "Minutes: Value must be a number between 0 and 59")]
    [InlineData("0 24 * * *", "Hours:")]
    [InlineData("0 0 0 * *", "Days of month:")]
    [InlineData("0 0 * 13 *", "Months:")]
    [InlineData("0 0 * * 8", "Days of week:")]
    [InlineData("*/0 * * * *", "Minutes:")]
    [InlineData("5-1 * * * *", "runs backwards")]
    [InlineData("0 0 30 2 *", "never matches")]
    [InlineData("x * * * *", "'x * * * *' is not a valid cron expression: Minutes:")]
    [InlineData("@often", "Macro:")]
    [InlineData("1,,2 * * * *", "Minutes:")]
    public void Invalid(string expr, string message)
    {
        var e = Assert.Throws<FormatException>(() => Cron.Parse(expr));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Previous_FindsTheLatestTickInTheWindow()
    {
        var c = Cron.Parse("0 */6 * * *");
        Assert.Equal(T("2026-11-22T00:00:00Z"), c.Previous(T("2026-11-22T05:59:00Z"), TimeSpan.FromDays(1)));
        Assert.Equal(T("2026-11-22T06:00:00Z"), c.Previous(T("2026-11-22T06:00:00Z"), TimeSpan.FromDays(1)));
        Assert.Null(c.Previous(T("2026-11-22T05:59:00Z"), TimeSpan.FromHours(5)));
    }
}
