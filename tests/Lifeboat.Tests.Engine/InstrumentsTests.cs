using Lifeboat.Core.Metrics;
using Xunit;

namespace Lifeboat.Tests.Engine;

/// <summary>Typed metric instruments (issue 15): a metric is declared once in <see cref="Instruments"/>; the registry
/// renders its help and type from there and refuses a call that does not match its declaration.</summary>
public sealed class InstrumentsTests
{
    [Fact]
    public void TheRegistryRendersTheDeclaration_AndRefusesAMismatchedCall()
    {
        var m = new MetricsRegistry();
        m.Inc(Instruments.Errors, 2, "photos", "transient");
        m.Observe(Instruments.ReplicationLag, 0.3, "photos");
        var text = m.Render();
        Assert.Contains("# HELP lifeboat_errors_total Changes that failed after retries, by kind\n# TYPE lifeboat_errors_total counter\n" +
                        "lifeboat_errors_total{resource=\"photos\",kind=\"transient\"} 2\n", text);
        Assert.Contains("lifeboat_replication_lag_seconds_bucket{resource=\"photos\",le=\"0.5\"} 1\n", text);
        Assert.Equal(2, m.Read("lifeboat_errors_total", ("resource", "photos"), ("kind", "transient")));

        Assert.Throws<InvalidOperationException>(() => m.Inc(Instruments.Errors, 1, "photos"));       // a label missing
        Assert.Throws<InvalidOperationException>(() => m.Observe(Instruments.Copies, 1, "photos"));   // a counter observed
    }

    [Fact]
    public void EveryInstrumentHasAUniqueName_AndAPrometheusValidOne()
    {
        var all = typeof(Instruments).GetFields().Where(f => f.FieldType == typeof(Instrument)).Select(f => (Instrument)f.GetValue(null)!).ToList();
        Assert.True(all.Count >= 20);
        Assert.Equal(all.Count, all.Select(i => i.Name).Distinct().Count());
        Assert.All(all, i => Assert.Matches("^lifeboat_[a-z_]+$", i.Name));
        Assert.All(all.Where(i => i.Type == "counter"), i => Assert.EndsWith("_total", i.Name));
    }
}
