using Lifeboat.Core.Replication;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Replication;

/// <summary>
/// When a change of a bucket counts as seen (the journal's seen_at, from which lag and RPO are measured): the time
/// Lifeboat received the hint or found the difference, or earlier only when the source's own Last-Modified, read under
/// the key's lock, says so, is not in the future and is not before the last completed pass started. Real folders; the
/// files' modification times are set to stand for the source's Last-Modified on the manual clock.
/// </summary>
public sealed class SeenTimeTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;

    private static async Task PutAsync(Harness h, string key, DateTimeOffset modified)
    {
        await h.PutSourceAsync(key);
        File.SetLastWriteTimeUtc(Path.Combine(h.Dir.Path, "primary", h.SourceBucket, key), modified.UtcDateTime);
    }

    private static long[] LagsSeconds(Harness h, FakeTimeProvider clock) =>
        h.State.Stats("res", clock.GetUtcNow().ToUnixTimeMilliseconds()).LagsLastHourMs.Select(ms => ms / 1000).ToArray();

    [Fact]
    public async Task ChangeFoundByAPass_CountsFromItsLastModified_OnlyWithinTheTimeSinceTheLastPassStarted()
    {
        var clock = new FakeTimeProvider(T0);
        await using var h = await Harness.FilesAsync(time: clock);
        var rep = h.Replicator();
        Assert.True((await rep.ReconcileAsync(null, None)).Completed); // the last completed pass started at T0

        await PutAsync(h, "missed-event", T0.AddSeconds(10));   // changed after that pass started: behind since then
        await PutAsync(h, "old-file", T0.AddDays(-30));          // a file time from long ago (cp -p, rsync -t)
        await PutAsync(h, "future-file", T0.AddDays(1));         // a clock or file time in the future
        clock.Advance(TimeSpan.FromSeconds(60));
        var r = await rep.ReconcileAsync(null, None);
        Assert.Equal(3, r.Copied);
        Assert.Equal([0, 0, 50], LagsSeconds(h, clock));
    }

    [Fact]
    public async Task Backfill_BeforeAnyCompletedPass_CountsFromWhenFound()
    {
        var clock = new FakeTimeProvider(T0);
        await using var h = await Harness.FilesAsync(time: clock);
        await PutAsync(h, "a", T0.AddDays(-400));
        await PutAsync(h, "b", T0.AddSeconds(-5));
        var r = await h.Replicator().ReconcileAsync(null, None);
        Assert.Equal(2, r.Copied);
        Assert.Equal([0, 0], LagsSeconds(h, clock));
        Assert.Equal(0, Core.Status.BucketStatus.Compute(h.State, h.Resource, clock.GetUtcNow()).LagP99Seconds);
    }

    [Fact]
    public async Task EventForAChangeMadeBeforeItArrived_CountsFromLastModified_AReplayOfItDoesNot()
    {
        var clock = new FakeTimeProvider(T0);
        await using var h = await Harness.FilesAsync(time: clock);
        var rep = h.Replicator();
        Assert.True((await rep.ReconcileAsync(null, None)).Completed);

        await PutAsync(h, "a", T0.AddSeconds(5));
        clock.Advance(TimeSpan.FromSeconds(20));
        Assert.True(rep.Enqueue(new ChangeHint("a")));
        Assert.Equal(0, Core.Status.BucketStatus.Compute(h.State, h.Resource, clock.GetUtcNow()).RpoSeconds); // pending: from its arrival
        await rep.RetryOpenChangesAsync(None);
        Assert.Equal([15], LagsSeconds(h, clock));

        // The same event again (replayed, or sent twice): the version is the one already replicated, so no change is behind.
        clock.Advance(TimeSpan.FromSeconds(100));
        Assert.True(rep.Enqueue(new ChangeHint("a")));
        await rep.SyncKeyAsync("a", clock.GetUtcNow(), null, None);
        Assert.Equal([0, 15], LagsSeconds(h, clock));
    }
}
