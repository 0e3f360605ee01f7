namespace Lifeboat.Cost.Model;

/// <summary>The costs of every option at one number of writes a month.</summary>
public sealed record SweepPoint(double Writes, IReadOnlyList<OptionCost> Options)
{
    public OptionCost this[string id] => Options.First(o => o.Id == id);
}

/// <summary>Where a native option and a Lifeboat option cost the same.</summary>
/// <param name="LifeboatCheaperAbove">True when Lifeboat is the cheaper one above <paramref name="Writes"/>.</param>
public sealed record Crossing(double Writes, double Cost, bool LifeboatCheaperAbove);

/// <summary>The comparison of one native option with one Lifeboat option across the swept range.</summary>
public sealed record PairResult(string NativeId, string NativeName, string LifeboatId, string LifeboatName, IReadOnlyList<Crossing> Crossings, string Verdict);

public sealed record SweepResult(IReadOnlyList<SweepPoint> Rows, IReadOnlyList<SweepPoint> Curve, IReadOnlyList<PairResult> Pairs);

/// <summary>
/// Sweeps writes a month over [from, to] on a logarithmic grid, and finds every break-even point of every
/// (native, Lifeboat) pair: a sign change of their difference between two grid points is narrowed by bisection
/// (on the logarithm of writes) to a relative width of 1e-9.
/// </summary>
public static class Sweep
{
    public const int CurvePointsPerDecade = 48;

    public static SweepResult Run(Func<double, IReadOnlyList<OptionCost>> costs, double from, double to, int rowsPerDecade)
    {
        var rows = Grid(from, to, rowsPerDecade).Select(w => new SweepPoint(w, costs(w))).ToList();
        var curve = Grid(from, to, CurvePointsPerDecade).Select(w => new SweepPoint(w, costs(w))).ToList();
        var first = curve[0].Options;
        var pairs = new List<PairResult>();
        foreach (var n in first.Where(o => o.Side == Side.Native))
            foreach (var l in first.Where(o => o.Side == Side.Lifeboat))
                pairs.Add(Compare(costs, curve, n, l));
        return new SweepResult(rows, curve, pairs);
    }

    /// <summary>from, from·10^(1/k), ... up to <paramref name="to"/>, which is always the last point.</summary>
    public static IReadOnlyList<double> Grid(double from, double to, int perDecade)
    {
        var list = new List<double>();
        for (var i = 0; ; i++)
        {
            var w = from * Math.Pow(10, (double)i / perDecade);
            if (w >= 1) w = Math.Round(w, w < 1e6 ? 3 : 0);
            if (w > to * (1 + 1e-12)) break;
            list.Add(w);
        }
        if (list[^1] < to * (1 - 1e-12)) list.Add(to);
        return list;
    }

    private static PairResult Compare(Func<double, IReadOnlyList<OptionCost>> costs, List<SweepPoint> curve, OptionCost native, OptionCost lifeboat)
    {
        double Diff(double w) { var o = costs(w); return o.First(x => x.Id == native.Id).Total - o.First(x => x.Id == lifeboat.Id).Total; }
        var crossings = new List<Crossing>();
        double? lastW = null, lastD = null;
        foreach (var p in curve)
        {
            var d = p[native.Id].Total - p[lifeboat.Id].Total;
            if (d == 0) continue;
            if (lastD is { } ld && Math.Sign(ld) != Math.Sign(d))
            {
                // Bisect on log(writes) between lastW (sign of ld) and p.Writes (sign of d).
                double lo = Math.Log(lastW!.Value), hi = Math.Log(p.Writes);
                while (hi - lo > 1e-9)
                {
                    var mid = (lo + hi) / 2;
                    if (Math.Sign(Diff(Math.Exp(mid))) == Math.Sign(ld)) lo = mid; else hi = mid;
                }
                var w = Math.Exp((lo + hi) / 2);
                var o = costs(w);
                var cost = (o.First(x => x.Id == native.Id).Total + o.First(x => x.Id == lifeboat.Id).Total) / 2;
                // Below the crossing the difference had the sign of ld: native − Lifeboat < 0 means native was cheaper.
                crossings.Add(new Crossing(w, cost, LifeboatCheaperAbove: ld < 0));
            }
            lastW = p.Writes;
            lastD = d;
        }
        string verdict;
        if (crossings.Count == 0)
        {
            verdict = lastD switch
            {
                null => "equal across the range",
                > 0 => "Lifeboat cheaper across the range",
                _ => "native cheaper across the range",
            };
        }
        else
        {
            verdict = string.Join("; ", crossings.Select(c => c.LifeboatCheaperAbove
                ? $"Lifeboat cheaper above {Format.Count(c.Writes)} writes/month"
                : $"Lifeboat cheaper below {Format.Count(c.Writes)} writes/month"));
        }
        return new PairResult(native.Id, native.Name, lifeboat.Id, lifeboat.Name, crossings, verdict);
    }
}
