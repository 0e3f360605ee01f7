using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;

namespace Lifeboat.Recovery;

/// <summary>One observation: passed (<see cref="Ok"/>), failed, or no evidence either way (<see cref="Unknown"/>: an
/// alarm whose figure is not measured yet). An unknown result is not a pass (a probe step or a gate waits for one) and not
/// a failure (a check holds its state: see <see cref="CheckMonitor"/>).</summary>
public sealed record ProbeResult(bool Ok, string Detail)
{
    public bool Unknown { get; private init; }

    /// <summary>No evidence: neither a pass nor a failure.</summary>
    public static ProbeResult NoEvidence(string detail) => new(false, detail) { Unknown = true };

    /// <summary>"pass", "fail" or "unknown" (status, API, logs).</summary>
    public string Outcome => Unknown ? "unknown" : Ok ? "pass" : "fail";
}

/// <summary>One observation of a target: passes, fails or has no evidence (never throws for a target that is down).</summary>
public interface IProbe
{
    string Describe { get; }
    Task<ProbeResult> RunAsync(CancellationToken ct);
}

/// <summary>Reads Lifeboat's own measurements of a resource for alarms: measured RPO and p99 lag in seconds, backlog
/// and failed counts. Null when not measured (yet): the alarm then has no evidence either way.</summary>
public delegate double? MetricReader(string resource, string metric);

/// <summary>Builds probes from their config; the traffic stores and metric reader come from the composition root.</summary>
public sealed class ProbeFactory(LifeboatConfig config, HttpClient http, Func<string, IDnsRecordStore> trafficStore, MetricReader metrics)
{
    private static readonly HttpClient InsecureHttp = new(new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
    }) { Timeout = Timeout.InfiniteTimeSpan };

    public IProbe Create(ProbeSpec spec) =>
        spec.Http is { } h ? new HttpProbe(h, h.Insecure ? InsecureHttp : http)
        : spec.Tcp is { } t ? new TcpProbe(t)
        : spec.Dns is { } d ? new DnsProbe(d, d.Store is null ? null : trafficStore(d.Store))
        : spec.Alarm is { } a ? new AlarmProbe(a, RpoOf(a.Resource), metrics)
        : throw new InvalidOperationException("probe without a kind");

    private TimeSpan RpoOf(string resource) =>
        config.All.FirstOrDefault(r => r.Name == resource)?.TargetRpo ?? TimeSpan.FromMinutes(15);
}

public sealed class HttpProbe(HttpProbeSpec spec, HttpClient http) : IProbe
{
    // Shown in details, the API and logs without the secrets a URL may carry.
    private readonly string _url = Redact.Url(spec.Url.OriginalString)!;

    public string Describe => $"{spec.Method} {_url}";

    public async Task<ProbeResult> RunAsync(CancellationToken ct)
    {
        try
        {
            using var req = new HttpRequestMessage(new HttpMethod(spec.Method), spec.Url);
            using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if ((int)resp.StatusCode != spec.ExpectStatus)
                return new ProbeResult(false, $"{_url}: status {(int)resp.StatusCode}, expected {spec.ExpectStatus}");
            if (spec.BodyContains is { } want)
            {
                var body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                if (!body.Contains(want, StringComparison.Ordinal))
                    return new ProbeResult(false, $"{_url}: body does not contain '{want}'");
            }
            return new ProbeResult(true, $"{_url}: {(int)resp.StatusCode}");
        }
        catch (HttpRequestException e) { return new ProbeResult(false, $"{_url}: {Redact.Text(e.Message)}"); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return new ProbeResult(false, $"{_url}: no answer"); }
    }
}

public sealed class TcpProbe(TcpProbeSpec spec) : IProbe
{
    public string Describe => $"tcp {spec.Host}:{spec.Port}";

    public async Task<ProbeResult> RunAsync(CancellationToken ct)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(spec.Host, spec.Port, ct).ConfigureAwait(false);
            return new ProbeResult(true, $"{spec.Host}:{spec.Port}: connected");
        }
        catch (SocketException e) { return new ProbeResult(false, $"{spec.Host}:{spec.Port}: {e.SocketErrorCode}"); }
    }
}

/// <summary>Asks the authoritative side of a traffic store (or the system resolver) for a record set.</summary>
public sealed class DnsProbe(DnsProbeSpec spec, IDnsRecordStore? store) : IProbe
{
    public string Describe => $"dns {spec.Name} {spec.Type}";

    public async Task<ProbeResult> RunAsync(CancellationToken ct)
    {
        IReadOnlyList<string> values;
        try
        {
            if (store is not null)
                values = (await store.GetAsync(spec.Name, spec.Type, ct).ConfigureAwait(false))?.Values ?? [];
            else
            {
                var family = spec.Type == "AAAA" ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
                values = (await Dns.GetHostAddressesAsync(spec.Name, family, ct).ConfigureAwait(false)).Select(a => a.ToString()).ToList();
            }
        }
        catch (Exception e) when (e is SocketException or IOException or InvalidOperationException or HttpRequestException)
        {
            return new ProbeResult(false, $"{spec.Name} {spec.Type}: {e.Message}");
        }
        if (values.Count == 0) return new ProbeResult(false, $"{spec.Name} {spec.Type}: no answer");
        if (spec.Expect.Count > 0 && !values.Any(v => spec.Expect.Contains(v, StringComparer.OrdinalIgnoreCase)))
            return new ProbeResult(false, $"{spec.Name} {spec.Type}: answers {string.Join(",", values)}, expected {string.Join(",", spec.Expect)}");
        return new ProbeResult(true, $"{spec.Name} {spec.Type}: {string.Join(",", values)}");
    }
}

/// <summary>Fails while a resource's measurement is above its limit (default: the resource's rpo); passes while it is
/// at or below it; a figure not measured yet is no evidence either way (<see cref="ProbeResult.NoEvidence"/>).</summary>
public sealed class AlarmProbe(AlarmSpec spec, TimeSpan rpo, MetricReader metrics) : IProbe
{
    public string Describe => $"alarm {spec.Resource} {spec.Metric}";

    public Task<ProbeResult> RunAsync(CancellationToken ct)
    {
        var v = metrics(spec.Resource, spec.Metric);
        if (v is null) return Task.FromResult(ProbeResult.NoEvidence($"{spec.Resource} {spec.Metric}: not measured yet"));
        var limit = spec.AboveCount ?? (spec.Above ?? rpo).TotalSeconds;
        var unit = spec.Metric is "rpo" or "lag" ? "s" : "";
        return Task.FromResult(v.Value > limit
            ? new ProbeResult(false, $"{spec.Resource} {spec.Metric} {v.Value:0.###}{unit} above {limit:0.###}{unit}")
            : new ProbeResult(true, $"{spec.Resource} {spec.Metric} {v.Value:0.###}{unit} (limit {limit:0.###}{unit})"));
    }
}

public static class ProbeRunner
{
    /// <summary>Runs a probe with a timeout on the injected clock; a timeout is a failure, not an exception.</summary>
    public static async Task<ProbeResult> RunAsync(IProbe probe, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        using var timeoutCts = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutCts.Token);
        var started = time.GetTimestamp();
        try
        {
            var run = probe.RunAsync(linked.Token);
            // A probe that ignores its token still times out on the clock.
            var done = await Task.WhenAny(run, Task.Delay(Timeout.InfiniteTimeSpan, linked.Token)).ConfigureAwait(false);
            if (done == run) return await run.ConfigureAwait(false);
            _ = run.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            ct.ThrowIfCancellationRequested();
            return new ProbeResult(false, $"{probe.Describe}: timed out after {Durations.Format(timeout)}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new ProbeResult(false, $"{probe.Describe}: timed out after {Durations.Format(time.GetElapsedTime(started))}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Debug.WriteLine(e);
            return new ProbeResult(false, $"{probe.Describe}: {e.Message}");
        }
    }
}
