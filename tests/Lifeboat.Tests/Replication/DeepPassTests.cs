using System.Globalization;
using Lifeboat.Abstractions;
using Lifeboat.Core.Replication;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Replication;

/// <summary>
/// The deep pass (issue 15, item 8) between two real local folders: metadata and tag drift that keeps the ETag is
/// invisible to a normal pass and repaired by a deep pass; continuous mode runs one every deep_reconcile_every, on the
/// injected clock, and keeps the schedule across restarts. Against Ceph RGW and in every store combination through the
/// CLI: EndToEnd/DeepPassCliTests.
/// </summary>
public sealed class DeepPassTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly PartLayout Single = new(long.MaxValue, 8 << 20);
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Writes the key again at the source with the same bytes (so the same ETag and size) and other tags.</summary>
    private static async Task RetagAtSourceAsync(Harness h, string key, string tag)
    {
        var data = Harness.Content(key);
        var md = Harness.Meta(key);
        var etag = await h.Source.PutAsync(h.SourceBucket, key, new MemoryStream(data), data.Length,
            md with { Tags = new Dictionary<string, string>(md.Tags) { ["drift"] = tag } }, Single, None);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data)), etag);
    }

    private static async Task<string?> TargetTagAsync(Harness h, string key) =>
        (await h.Target.HeadAsync(h.TargetBucket, key, None))!.Metadata.Tags.GetValueOrDefault("drift");

    [Fact]
    public async Task TagDrift_IsInvisibleToANormalPass_WhichSendsNoHead_AndADeepPassRepairsIt()
    {
        await using var h = await Harness.FilesAsync();
        foreach (var k in new[] { "a", "b/c", "d e" }) await h.PutSourceAsync(k);
        Assert.Equal(3, (await h.Replicator().ReconcileAsync(null, None)).Copied);
        await RetagAtSourceAsync(h, "b/c", "1");

        // The normal pass: listings only (no HEAD, no tags), so the drift is not seen.
        var source = new FaultyStore(h.Source, StoreErrorKind.Transient, 0);
        var target = new FaultyStore(h.Target, StoreErrorKind.Transient, 0);
        var pass = await h.Replicator(source: source, target: target).ReconcileAsync(null, None);
        Assert.Equal((3, 0), (pass.InSync, pass.Copied));
        Assert.Equal((0, 0), (source.Heads, target.Heads));
        var v = await h.Verifier().RunAsync(None);
        var d = Assert.Single(v.Differences);
        Assert.Equal(("b/c", DifferenceKind.Metadata), (d.Key, d.Kind));
        Assert.Contains("tag 'drift' missing on target", d.Detail);

        var rep = h.Replicator();
        var copies = h.Metrics.Read("lifeboat_copies_total", ("resource", "res"));
        var deep = await rep.DeepReconcileAsync(None);
        Assert.Equal(new DeepPassResult(3, 1, 0, true), deep);
        Assert.Equal("1", await TargetTagAsync(h, "b/c"));
        Assert.True((await h.Verifier().RunAsync(None)).Ok);
        Assert.Equal(1, h.Metrics.Read("lifeboat_metadata_repairs_total", ("resource", "res")));
        Assert.Equal(copies, h.Metrics.Read("lifeboat_copies_total", ("resource", "res"))); // in place: no copy
        Assert.Equal(0, h.State.Backlog("res"));
        Assert.Equal(0, (await rep.DeepReconcileAsync(None)).Repaired); // nothing left to repair
        Assert.Equal(2, h.Metrics.Read("lifeboat_deep_passes_total", ("resource", "res")));
    }

    [Fact]
    public async Task ATargetThatCannotUpdateMetadata_GetsTheObjectCopiedAgain_AndAFailedRepairIsRecordedAndRetried()
    {
        await using var h = await Harness.FilesAsync();
        await h.PutSourceAsync("x");
        await h.Replicator().ReconcileAsync(null, None);
        await RetagAtSourceAsync(h, "x", "2");
        // A store without IMetadataUpdate (the wrapper), whose first PUT fails for good.
        var target = new FaultyStore(h.Target, StoreErrorKind.Permanent, 1);
        var rep = h.Replicator(target: target);
        Assert.Equal(new DeepPassResult(1, 0, 1, true), await rep.DeepReconcileAsync(None));
        Assert.Equal("x", Assert.Single(h.State.Failed("res")).Key);
        Assert.Null(await TargetTagAsync(h, "x"));
        // The next run retries it as any failed change: compared with its metadata, copied again.
        Assert.Equal(new ObjectReplicator.RetryResult(1, 1, 0), await rep.RetryOpenChangesAsync(None));
        Assert.Equal(1, target.Puts); // the one that went through (a failed one is not counted)
        Assert.Equal("2", await TargetTagAsync(h, "x"));
        Assert.True((await h.Verifier().RunAsync(None)).Ok);
    }

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    private static DateTimeOffset? LastDeepPass(Harness h) =>
        long.TryParse(h.State.GetCheckpoint("res", "last-deep-pass"), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>Waits (real time, the clock standing still) until the continuous loop finished the pass the clock's last
    /// move started and sleeps again (the pass loop and the delete sweeper, each for reconcile_every), with its deep pass
    /// asleep until <paramref name="deepDue"/>.</summary>
    private static Task SettledAsync(Harness h, SleepAwareTimeProvider clock, DateTimeOffset deepDue) =>
        Eventually.TrueAsync(() => h.State.GetCheckpoint("res", "last-full-pass") == Ms(clock.GetUtcNow()).ToString(CultureInfo.InvariantCulture) &&
                                   clock.Sleeps.Contains(deepDue) && clock.Sleeps.Count(s => s == clock.GetUtcNow() + h.Resource.ReconcileEvery) >= 2,
            TimeSpan.FromSeconds(30), () => $"a pass at {clock.GetUtcNow():O} and the deep pass asleep until {deepDue:O} (sleeps: {string.Join(", ", clock.Sleeps)})");

    [Fact]
    public async Task Continuous_RunsTheDeepPassWhenDue_NotBefore_AndKeepsTheScheduleAcrossARestart()
    {
        var clock = new SleepAwareTimeProvider(T0);
        await using var h = await Harness.FilesAsync(time: clock);
        Assert.Equal(TimeSpan.FromHours(24), h.Resource.DeepReconcileEvery); // the default
        await h.PutSourceAsync("a");
        await h.PutSourceAsync("b");

        using (var stop = new CancellationTokenSource())
        {
            var run = h.Replicator().RunAsync(null, stop.Token, None);
            // First start: the schedule begins now, so the first deep pass is due a day later.
            await SettledAsync(h, clock, T0.AddHours(24));
            Assert.Equal(T0, LastDeepPass(h));
            await RetagAtSourceAsync(h, "a", "1");

            clock.Advance(TimeSpan.FromHours(24) - TimeSpan.FromMinutes(1));
            await SettledAsync(h, clock, T0.AddHours(24));
            Assert.Null(await TargetTagAsync(h, "a")); // a normal pass ran and cannot see it; the deep pass is not due
            Assert.Equal(T0, LastDeepPass(h));

            clock.Advance(TimeSpan.FromMinutes(1)); // due
            await Eventually.TrueAsync(() => LastDeepPass(h) == T0.AddHours(24), TimeSpan.FromSeconds(30), "the deep pass at 24h");
            Assert.Equal("1", await TargetTagAsync(h, "a"));
            Assert.Equal(1, h.Metrics.Read("lifeboat_metadata_repairs_total", ("resource", "res")));
            await stop.CancelAsync();
            await run;
        }

        // Down for 20 hours; then a new process: the next deep pass stays due a day after the last one (48h), not a
        // day after the restart.
        clock.Advance(TimeSpan.FromHours(20));
        await RetagAtSourceAsync(h, "b", "2");
        using (var stop = new CancellationTokenSource())
        {
            var run = h.Replicator().RunAsync(null, stop.Token, None);
            await SettledAsync(h, clock, T0.AddHours(48));
            clock.Advance(TimeSpan.FromHours(4) - TimeSpan.FromMinutes(1));
            await SettledAsync(h, clock, T0.AddHours(48));
            Assert.Null(await TargetTagAsync(h, "b"));
            clock.Advance(TimeSpan.FromMinutes(1));
            await Eventually.TrueAsync(() => LastDeepPass(h) == T0.AddHours(48), TimeSpan.FromSeconds(30), "the deep pass at 48h");
            Assert.Equal("2", await TargetTagAsync(h, "b"));
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task Continuous_WithDeepReconcileOff_RunsNoDeepPass()
    {
        var clock = new SleepAwareTimeProvider(T0);
        await using var h = await Harness.FilesAsync(time: clock);
        h.Configure(r => r with { DeepReconcileEvery = null });
        await h.PutSourceAsync("a");
        using var stop = new CancellationTokenSource();
        var run = h.Replicator().RunAsync(null, stop.Token, None);
        await Eventually.TrueAsync(() => h.State.GetCheckpoint("res", "last-full-pass") is not null && clock.Sleeps.Count >= 2, TimeSpan.FromSeconds(30), "the first pass");
        await RetagAtSourceAsync(h, "a", "1");
        clock.Advance(TimeSpan.FromDays(3));
        await Eventually.TrueAsync(() => h.State.GetCheckpoint("res", "last-full-pass") == Ms(clock.GetUtcNow()).ToString(CultureInfo.InvariantCulture),
            TimeSpan.FromSeconds(30), "a pass after three days");
        Assert.DoesNotContain(clock.Sleeps, s => s > clock.GetUtcNow().AddMinutes(1)); // only the pass and sweeper sleeps
        Assert.Null(LastDeepPass(h));
        Assert.Null(await TargetTagAsync(h, "a"));
        await stop.CancelAsync();
        await run;
    }
}
