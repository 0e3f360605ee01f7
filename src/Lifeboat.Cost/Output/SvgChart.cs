using System.Globalization;
using System.Net;
using System.Text;
using Lifeboat.Cost.Model;

namespace Lifeboat.Cost.Output;

/// <summary>
/// A self-contained SVG line chart of a sweep: writes a month on a logarithmic x axis, monthly cost on a
/// logarithmic y axis, one line per option (native solid, Lifeboat dashed), every break-even point marked and
/// listed under the legend.
/// </summary>
public static class SvgChart
{
    private const int W = 1100, H = 640, L = 90, R = 380, T = 60, B = 70;
    private static readonly string[] NativeColors = ["#1f4e9c", "#4f86d9", "#7b3fa0", "#2a9d8f"];
    private static readonly string[] LifeboatColors = ["#e76f00", "#c0392b", "#d4a017", "#2e8b57"];

    public static string Render(string title, string currency, SweepResult r)
    {
        var xs = r.Curve.Select(p => p.Writes).ToList();
        double x0 = Math.Log10(xs[0]), x1 = Math.Log10(xs[^1]);
        var totals = r.Curve.SelectMany(p => p.Options.Select(o => o.Total)).Where(v => v > 0).ToList();
        var y0 = Math.Floor(Math.Log10(totals.Count == 0 ? 0.01 : totals.Min()));
        var y1 = Math.Ceiling(Math.Log10(totals.Count == 0 ? 1 : totals.Max()));
        if (y1 <= y0) y1 = y0 + 1;
        double X(double w) => L + (Math.Log10(w) - x0) / (x1 - x0) * (W - L - R);
        double Y(double c) => T + (y1 - Math.Log10(Math.Max(c, Math.Pow(10, y0)))) / (y1 - y0) * (H - T - B);
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">""");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<rect width="{W}" height="{H}" fill="#ffffff"/>""");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{L}" y="28" font-size="15" font-weight="bold">{Esc(title)}</text>""");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{L}" y="46" fill="#555">Monthly DR-related cost ({Esc(currency)}, log scale) against writes a month (log scale)</text>""");

        // Grid and axes: one line per decade.
        for (var d = (int)Math.Ceiling(x0); d <= (int)Math.Floor(x1); d++)
        {
            var x = X(Math.Pow(10, d));
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<line x1="{F(x)}" y1="{T}" x2="{F(x)}" y2="{H - B}" stroke="#e3e3e3"/>""");
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{F(x)}" y="{H - B + 18}" text-anchor="middle">{Format.Count(Math.Pow(10, d))}</text>""");
        }
        for (var d = (int)y0; d <= (int)y1; d++)
        {
            var y = Y(Math.Pow(10, d));
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<line x1="{L}" y1="{F(y)}" x2="{W - R}" y2="{F(y)}" stroke="#e3e3e3"/>""");
            var label = d < 0 ? Math.Pow(10, d).ToString("0.##########", CultureInfo.InvariantCulture) : Format.Count(Math.Pow(10, d));
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{L - 8}" y="{F(y + 4)}" text-anchor="end">{label}</text>""");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#888"/>""");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{(L + W - R) / 2}" y="{H - 22}" text-anchor="middle">writes a month</text>""");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="22" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 22 {(T + H - B) / 2})">{Esc(currency)} a month</text>""");

        // One line per option.
        var options = r.Curve[0].Options;
        var colors = new Dictionary<string, string>(StringComparer.Ordinal);
        int ni = 0, li = 0;
        foreach (var o in options)
            colors[o.Id] = o.Side == Side.Native ? NativeColors[ni++ % NativeColors.Length] : LifeboatColors[li++ % LifeboatColors.Length];
        foreach (var o in options)
        {
            var pts = string.Join(" ", r.Curve.Select(p => $"{F(X(p.Writes))},{F(Y(p[o.Id].Total))}"));
            var dash = o.Side == Side.Lifeboat ? " stroke-dasharray=\"8 4\"" : "";
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<polyline fill="none" stroke="{colors[o.Id]}" stroke-width="2.2"{dash} points="{pts}"><title>{Esc(o.Name)}</title></polyline>""");
        }

        // Break-even markers, numbered.
        var n = 0;
        var legend = new List<string>();
        foreach (var p in r.Pairs)
        {
            foreach (var c in p.Crossings)
            {
                n++;
                var (x, y) = (X(c.Writes), Y(c.Cost));
                sb.AppendLine(CultureInfo.InvariantCulture, $"""<circle cx="{F(x)}" cy="{F(y)}" r="5" fill="#ffffff" stroke="#000" stroke-width="1.5"><title>{Esc($"{p.NativeName} = {p.LifeboatName} at {Format.Exact(c.Writes)} writes/month")}</title></circle>""");
                sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{F(x + 6)}" y="{F(y - 7)}" font-size="11" font-weight="bold">{n}</text>""");
                legend.Add($"{n}. {p.NativeName} = {p.LifeboatName}: {Format.Count(c.Writes)} writes/month, {Format.Money(c.Cost)} {currency}");
            }
        }

        // Legend: options, then break-even points.
        var ly = T + 6.0;
        var lx = W - R + 20;
        foreach (var o in options)
        {
            var dash = o.Side == Side.Lifeboat ? " stroke-dasharray=\"8 4\"" : "";
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<line x1="{lx}" y1="{F(ly)}" x2="{lx + 30}" y2="{F(ly)}" stroke="{colors[o.Id]}" stroke-width="2.5"{dash}/>""");
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{lx + 38}" y="{F(ly + 4)}">{Esc(o.Name)}</text>""");
            ly += 20;
        }
        ly += 12;
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{lx}" y="{F(ly)}" font-weight="bold">{(legend.Count == 0 ? "No break-even point in range" : "Break-even points")}</text>""");
        ly += 18;
        foreach (var line in legend)
        {
            foreach (var part in Wrap(line, 56))
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{lx}" y="{F(ly)}" font-size="11">{Esc(part)}</text>""");
                ly += 15;
            }
            ly += 3;
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new StringBuilder();
        foreach (var word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear().Append("   ");
            }
            if (line.Length > 0 && line.ToString() != "   ") line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0) yield return line.ToString();
    }

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
