using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Replication;

/// <summary>The replication engine between two real local folders (fast); the same engine runs against RGW in EndToEnd.</summary>
public sealed class ReplicatorTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Backfill_CopiesEveryObjectWithMetadata_AndASecondPassCopiesNothing()
    {
        await using var h = await Harness.FilesAsync();
        var keys = Enumerable.Range(0, 150).Select(i => $"k/{i % 7}/obj-{i:000}").ToList();
        foreach (var k in keys) await h.PutSourceAsync(k);
        var rep = h.Replicator();
        var r1 = await rep.ReconcileAsync(null, None);
        Assert.True(r1.Completed);
        Assert.Equal(150, r1.Copied);
        Assert.Equal(0, r1.Failed);
        foreach (var k in keys) Assert.Equal(Harness.Content(k), await h.ReadAsync(h.Target, h.TargetBucket, k));
        var v = await h.Verifier().RunAsync(None);
        Assert.True(v.Ok, string.Join("\n", v.Differences));
        Assert.Equal(150, v.Equal);

        var r2 = await rep.ReconcileAsync(null, None);
        Assert.Equal(0, r2.Copied);
        Assert.Equal(150, r2.InSync);
    }

    [Fact]
    public async Task PrefetchedPass_StartsFromTheListingSentBeforeIt_TheNextPassListsAgain()
    {
        // replicate --once sends the first listing pages while the bucket checks are answered (PrefetchPass).
        await using var h = await Harness.FilesAsync();
        foreach (var k in new[] { "a", "b", "c" }) await h.PutSourceAsync(k);
        var rep = h.Replicator();
        await rep.PrefetchPass(None); // the first pages are in
        await h.PutSourceAsync("d"); // after the prefetched listing: not in this pass
        var r1 = await rep.ReconcileAsync(null, None);
        Assert.True(r1.Completed);
        Assert.Equal(3, r1.Listed);
        Assert.Equal(3, r1.Copied);
        var r2 = await rep.ReconcileAsync(null, None);
        Assert.Equal(4, r2.Listed);
        Assert.Equal(1, r2.Copied);
        Assert.Equal(["a", "b", "c", "d"], await h.KeysAsync(h.Target, h.TargetBucket));
    }

    [Fact]
    public async Task SourceListingFails_WhileTheTargetsIsInFlight_TheSourcesErrorIsReported()
    {
        await using var h = await Harness.FilesAsync();
        await h.PutSourceAsync("a");
        var gate = new TaskCompletionSource();
        var source = new FaultyStore(h.Source, StoreErrorKind.Permanent, 1, ops: "list");
        var target = new FaultyStore(h.Target, StoreErrorKind.Transient, 0) { ListGate = gate.Task };
        var pass = h.Replicator(source: source, target: target).ReconcileAsync(null, None);
        await Eventually.TrueAsync(() => Volatile.Read(ref source.ListFailures) == 1, TimeSpan.FromSeconds(10), "the source's listing failed");
        gate.SetResult(); // the target's first page answers after the source's failed
        var e = await Assert.ThrowsAsync<StoreException>(() => pass);
        Assert.Contains("injected Permanent failure on list", e.Message);
    }

    [Fact]
    public async Task Prefixes_MapSourceKeysUnderTheTargetPrefix()
    {
        await using var h = await Harness.FilesAsync(srcPrefix: "in/", tgtPrefix: "copy/of/");
        await h.PutSourceAsync("in/a");
        await h.PutSourceAsync("in/sub/b");
        await h.PutSourceAsync("outside");
        await h.Replicator().ReconcileAsync(null, None);
        Assert.Equal(["copy/of/a", "copy/of/sub/b"], await h.KeysAsync(h.Target, h.TargetBucket));
    }

    [Fact]
    public async Task ChangedObject_IsCopiedAgain_UnchangedOnesAreNot()
    {
        await using var h = await Harness.FilesAsync();
        await h.PutSourceAsync("a");
        await h.PutSourceAsync("b");
        var rep = h.Replicator();
        await rep.ReconcileAsync(null, None);
        await h.PutSourceAsync("b", version: 2);
        var r = await rep.ReconcileAsync(null, None);
        Assert.Equal(1, r.Copied);
        Assert.Equal(Harness.Content("b", 2), await h.ReadAsync(h.Target, h.TargetBucket, "b"));
    }

    [Fact]
    public async Task DeletesRetain_KeepsTargetCopy_AndVerifyReportsItHeldNotFailed()
    {
        await using var h = await Harness.FilesAsync(DeletePolicy.Retain);
        await h.PutSourceAsync("x");
        await h.PutSourceAsync("y");
        var rep = h.Replicator();
        await rep.ReconcileAsync(null, None);
        await h.Source.DeleteAsync(h.SourceBucket, "x", None);
        var r = await rep.ReconcileAsync(null, None);
        Assert.Equal(1, r.Held);
        Assert.NotNull(await h.ReadAsync(h.Target, h.TargetBucket, "x"));
        var v = await h.Verifier().RunAsync(None);
        Assert.True(v.Ok);
        Assert.Equal(["x"], v.Held);
        Assert.Single(h.State.HeldDeletes(h.Resource.Name));
    }

    [Fact]
    public async Task DeletesPropagate_RemovesTargetCopy_InAOncePass()
    {
        await using var h = await Harness.FilesAsync(DeletePolicy.Propagate);
        await h.PutSourceAsync("x");
        await h.PutSourceAsync("y");
        var rep = h.Replicator();
        await rep.ReconcileAsync(null, None);
        await h.Source.DeleteAsync(h.SourceBucket, "x", None);
        var r = await rep.ReconcileAsync(null, None);
        Assert.Equal(1, r.Deleted);
        Assert.Equal(["y"], await h.KeysAsync(h.Target, h.TargetBucket));
        Assert.True((await h.Verifier().RunAsync(None)).Ok);
    }

    [Fact]
    public async Task DelayedDelete_IsAppliedOnlyAfterTheDelay_ByTheInjectedClock()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var h = await Harness.FilesAsync(new DeletePolicy(DeleteMode.Delayed, TimeSpan.FromHours(24)), clock);
        await h.PutSourceAsync("x");
        var rep = h.Replicator();
        await rep.ReconcileAsync(null, None);
        await h.Source.DeleteAsync(h.SourceBucket, "x", None);
        await rep.ReconcileAsync(null, None);
        clock.Advance(TimeSpan.FromHours(23));
        Assert.Equal(0, await rep.ApplyDueDeletesAsync(None));
        Assert.NotNull(await h.ReadAsync(h.Target, h.TargetBucket, "x"));
        clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(1, await rep.ApplyDueDeletesAsync(None));
        Assert.Null(await h.ReadAsync(h.Target, h.TargetBucket, "x"));
        Assert.Empty(h.State.HeldDeletes(h.Resource.Name));
    }

    [Fact]
    public async Task DelayedDelete_IsNeverApplied_WhenTheKeyExistsAgainAtTheSource()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var h = await Harness.FilesAsync(new DeletePolicy(DeleteMode.Delayed, TimeSpan.FromHours(1)), clock);
        await h.PutSourceAsync("x");
        var rep = h.Replicator();
        await rep.ReconcileAsync(null, None);
        await h.Source.DeleteAsync(h.SourceBucket, "x", None);
        await rep.ReconcileAsync(null, None);
        await h.PutSourceAsync("x", version: 3); // recreated before the delay ran out
        clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(0, await rep.ApplyDueDeletesAsync(None));
        Assert.NotNull(await h.ReadAsync(h.Target, h.TargetBucket, "x"));
        await rep.ReconcileAsync(null, None);
        Assert.Equal(Harness.Content("x", 3), await h.ReadAsync(h.Target, h.TargetBucket, "x"));
    }

    [Fact]
    public async Task Propagate_DoesNotDelete_WhenTheEventIsStaleAndTheKeyExists()
    {
        await using var h = await Harness.FilesAsync(DeletePolicy.Propagate);
        await h.PutSourceAsync("x", version: 1);
        var rep = h.Replicator();
        await rep.ReconcileAsync(null, None);
        // A late "removed" event for x arrives after x was written again: the current state wins.
        await h.PutSourceAsync("x", version: 2);
        var outcome = await rep.SyncKeyAsync("x", h.Time.GetUtcNow(), null, None);
        Assert.Equal(SyncOutcome.Copied, outcome);
        Assert.Equal(Harness.Content("x", 2), await h.ReadAsync(h.Target, h.TargetBucket, "x"));
    }

    [Fact]
    public async Task TransientErrors_AreRetried_AndTheCopySucceeds()
    {
        await using var h = await Harness.FilesAsync();
        await h.PutSourceAsync("a");
        var faulty = new FaultyStore(h.Target, StoreErrorKind.Transient, failures: 2);
        var r = await h.Replicator(target: faulty).ReconcileAsync(null, None);
        Assert.Equal(1, r.Copied);
        Assert.Equal(0, r.Failed);
        Assert.Equal(2, h.Metrics.Read("lifeboat_retries_total", ("resource", "res")));
    }

    [Fact]
    public async Task PermanentError_IsRecordedReportedAndRetriedByTheNextRun_NeverDropped()
    {
        await using var h = await Harness.FilesAsync();
        await h.PutSourceAsync("good");
        await h.PutSourceAsync("bad");
        var faulty = new FaultyStore(h.Target, StoreErrorKind.Permanent, failures: 1, key => key == "bad");
        var r = await h.Replicator(target: faulty).ReconcileAsync(null, None);
        Assert.Equal(1, r.Copied);
        Assert.Equal(1, r.Failed);
        var failed = Assert.Single(h.State.Failed("res"));
        Assert.Equal("bad", failed.Key);
        Assert.Contains("injected", failed.Error);
        Assert.Equal(1, h.Metrics.Read("lifeboat_errors_total", ("resource", "res"), ("kind", "permanent")));
        // The next run retries what failed.
        Assert.Equal(new ObjectReplicator.RetryResult(1, 1, 0), await h.Replicator().RetryOpenChangesAsync(None));
        Assert.Empty(h.State.Failed("res"));
        Assert.NotNull(await h.ReadAsync(h.Target, h.TargetBucket, "bad"));
    }

    [Fact]
    public async Task InterruptedPass_CheckpointsOnlyDurableWork_AndResumesWithoutRecopying()
    {
        await using var h = await Harness.FilesAsync();
        var keys = Enumerable.Range(0, 400).Select(i => $"o/{i:0000}").ToList();
        foreach (var k in keys) await h.PutSourceAsync(k, size: 64);
        using var stop = new CancellationTokenSource();
        var counting = new FaultyStore(h.Target, StoreErrorKind.Transient, 0);
        var progress = new SyncProgress(p => { if (p.Copied >= 120) stop.Cancel(); });
        var r1 = await h.Replicator(target: counting).ReconcileAsync(progress, stop.Token);
        Assert.False(r1.Completed);
        var checkpoint = h.State.GetCheckpoint("res", "pass-position");
        Assert.NotNull(checkpoint);
        // Everything at or below the checkpoint is on the target.
        foreach (var k in keys.Where(k => KeyComparer.Instance.Compare(k, checkpoint) <= 0))
            Assert.NotNull(await h.Target.HeadAsync(h.TargetBucket, k, None));
        var copiedBefore = counting.Puts;
        var counting2 = new FaultyStore(h.Target, StoreErrorKind.Transient, 0);
        var r2 = await h.Replicator(target: counting2).ReconcileAsync(null, None);
        Assert.True(r2.Completed);
        Assert.Equal(400, copiedBefore + counting2.Puts);
        Assert.Null(h.State.GetCheckpoint("res", "pass-position"));
        Assert.True((await h.Verifier().RunAsync(None)).Ok);
    }

    [Fact]
    public async Task Journal_RecordsSeenAndDurableTimes_AndStatusMeasuresRpoByTheInjectedClock()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using var h = await Harness.FilesAsync(time: clock);
        await h.PutSourceAsync("a");
        var rep = h.Replicator();
        rep.Enqueue(new ChangeHint("a"));
        clock.Advance(TimeSpan.FromSeconds(42));
        var st = Core.Status.BucketStatus.Compute(h.State, h.Resource, clock.GetUtcNow());
        Assert.Equal(1, st.Backlog);
        Assert.Equal(42, st.RpoSeconds);
        await rep.SyncKeyAsync("a", clock.GetUtcNow(), null, None);
        st = Core.Status.BucketStatus.Compute(h.State, h.Resource, clock.GetUtcNow());
        Assert.Equal(0, st.Backlog);
        Assert.Equal(0, st.RpoSeconds);
        Assert.Equal(42, st.LagP50Seconds);
        Assert.Equal("a", st.LastKey);
    }

    [Fact]
    public async Task Verify_FindsMissingChangedAndMetadataDifferences()
    {
        await using var h = await Harness.FilesAsync(DeletePolicy.Propagate);
        foreach (var k in new[] { "same", "content", "meta", "missing", "size" }) await h.PutSourceAsync(k);
        await h.Replicator().ReconcileAsync(null, None);
        await h.Target.DeleteAsync(h.TargetBucket, "missing", None);
        var sameSize = Harness.Content("content");
        sameSize[0] ^= 0xFF;
        await h.Target.PutAsync(h.TargetBucket, "content", new MemoryStream(sameSize), sameSize.Length, Harness.Meta("content"), new PartLayout(long.MaxValue, 1), None);
        await h.Target.PutAsync(h.TargetBucket, "meta", new MemoryStream(Harness.Content("meta")), Harness.Content("meta").Length, Harness.Meta("other"), new PartLayout(long.MaxValue, 1), None);
        await h.Target.PutAsync(h.TargetBucket, "size", new MemoryStream([1, 2]), 2, Harness.Meta("size"), new PartLayout(long.MaxValue, 1), None);
        await h.Target.PutAsync(h.TargetBucket, "extra", new MemoryStream([1]), 1, ObjectMetadata.Empty, new PartLayout(long.MaxValue, 1), None);
        var v = await h.Verifier().RunAsync(None);
        Assert.False(v.Ok);
        var kinds = v.Differences.ToDictionary(d => d.Key, d => d.Kind);
        Assert.Equal(DifferenceKind.Content, kinds["content"]);
        Assert.Equal(DifferenceKind.Metadata, kinds["meta"]);
        Assert.Equal(DifferenceKind.Missing, kinds["missing"]);
        Assert.Equal(DifferenceKind.Size, kinds["size"]);
        Assert.Equal(DifferenceKind.Extra, kinds["extra"]);
        Assert.False(kinds.ContainsKey("same"));
    }

    [Fact]
    public async Task OnlyMissingMode_RestoresMissingObjects_AndKeepsNewerOnes()
    {
        await using var h = await Harness.FilesAsync();
        await h.PutSourceAsync("keep", version: 1);
        await h.PutSourceAsync("lost");
        await h.Replicator().ReconcileAsync(null, None);
        await h.Source.DeleteAsync(h.SourceBucket, "lost", None);
        await h.PutSourceAsync("keep", version: 2);
        // Restore: the replica is the source of the copy, the primary its target.
        var back = new Lifeboat.Core.Replication.ObjectReplicator(
            h.Resource with { Name = "res.restore", Source = h.Resource.Target, Target = h.Resource.Source },
            h.Target, h.Source, h.State, h.Time, h.Metrics, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, Harness.FastRetry, onlyMissing: true);
        var r = await back.ReconcileAsync(null, None);
        Assert.Equal(1, r.Copied);
        Assert.Equal(Harness.Content("lost"), await h.ReadAsync(h.Source, h.SourceBucket, "lost"));
        Assert.Equal(Harness.Content("keep", 2), await h.ReadAsync(h.Source, h.SourceBucket, "keep"));
    }
}

/// <summary>Synchronous IProgress (Progress&lt;T&gt; posts to the thread pool, too late for a test to react).</summary>
public sealed class SyncProgress(Action<PassProgress> on) : IProgress<PassProgress>
{
    public void Report(PassProgress value) => on(value);
}
