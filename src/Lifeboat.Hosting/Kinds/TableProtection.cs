using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Providers.DynamoDb;

namespace Lifeboat.Hosting.Kinds;

/// <summary>A table resource: stream replication (<see cref="TableReplicator"/>) with its canary forward, or from
/// the target back to the source (journal NAME.reverse) as <c>replicate --reverse</c> does.</summary>
public sealed class TableProtection(Runtime rt, TableResource res, ClaimMode claim) : IProtectedResource
{
    private TableReplicator? _fresh;

    /// <summary>Around a replicator already prepared (by replicate), forward or, for <c>replicate --reverse</c>,
    /// reversed (<paramref name="prepared"/> then copies the target back to the source).</summary>
    public TableProtection(Runtime rt, TableResource res, TableReplicator prepared) : this(rt, res, ClaimMode.Claim) => _fresh = prepared;

    public ResourceConfig Config => res;

    /// <summary>Its kept versions (history:); wired to the history engine.</summary>
    public IPointInTime? PointInTime => null;

    /// <summary>Prepared to run reversed (<c>replicate --reverse</c>).</summary>
    public bool Reverse => _fresh is { } f && IsReverse(f);

    /// <summary>How it is listed at start-up when it runs reversed.</summary>
    public string Describe() => _fresh is { } f ? Label(f) : res.Name;

    public async Task PrepareAsync(CancellationToken abort)
    {
        var rep = rt.TableReplicator(res, claim: claim);
        await rep.PrepareAsync(abort).ConfigureAwait(false);
        _fresh = rep;
    }

    public async Task RunAsync(ReplicationMode mode, CancellationToken stop, CancellationToken abort)
    {
        var reverse = mode == ReplicationMode.Reversed;
        var prepared = _fresh is { } f && IsReverse(f) == reverse ? f : null;
        _fresh = null;
        var rep = prepared ?? rt.TableReplicator(res, reverse);
        if (prepared is null) await rep.PrepareAsync(abort).ConfigureAwait(false);
        // The canary runs forward, and for a reverse run a user started (replicate --reverse), not a runbook's reversal.
        if (!reverse || prepared is not null)
            await Task.WhenAll(rep.RunAsync(stop, abort, TimeSpan.FromMilliseconds(250)), rep.RunCanaryAsync(stop)).ConfigureAwait(false);
        else
            await rep.RunAsync(stop, abort, TimeSpan.FromMilliseconds(250)).ConfigureAwait(false);
    }

    private static bool IsReverse(TableReplicator t) => t.Resource.Name.EndsWith(TableReplicator.ReverseSuffix, StringComparison.Ordinal);

    public async Task<bool> RunOnceAsync(OnceOptions options, TextWriter output, CancellationToken stop, CancellationToken abort)
    {
        var rep = _fresh ?? rt.TableReplicator(res, claim: claim);
        if (_fresh is null) await rep.PrepareAsync(abort).ConfigureAwait(false);
        _fresh = null;
        try
        {
            var r = await rep.RunOnceAsync(abort, stop).ConfigureAwait(false);
            var backlog = rt.State.Backlog(rep.Resource.Name);
            static string T(TimeSpan t) => Durations.Format(t);
            var sync = r.Scanned > 0 || r.Written > 0 || r.Swept > 0
                ? $"initial sync: {r.Scanned} items scanned, {r.Written} written{(r.Swept > 0 ? $", {r.Swept} gone from the source" : "")} in {T(r.SyncTime)}; "
                : "";
            output.WriteLine($"{Label(rep)}: {sync}stream: {r.Records} records read ({r.CoveredBySync} already in the initial copy), {r.Keys} items written or deleted in {T(r.TailTime)}" +
                             $"{(r.DeletesApplied > 0 ? $", {r.DeletesApplied} delayed deletes applied" : "")}; backlog {backlog}{(r.Completed ? "" : " (interrupted)")}");
            return r.Completed && backlog == 0;
        }
        catch (Exception e) when (e is not UserErrorException and not OperationCanceledException)
        {
            output.WriteLine($"{Label(rep)}: FAILED: {e.Message}");
            return false;
        }
    }

    /// <summary>How a table replicator is named in output: the resource, and the direction when reversed.</summary>
    public static string Label(TableReplicator rep) => rep.Resource.Name.EndsWith(TableReplicator.ReverseSuffix, StringComparison.Ordinal)
        ? $"{rep.Resource.Name[..^TableReplicator.ReverseSuffix.Length]} (reverse: {rep.Resource.Source.Store}/{rep.Resource.Source.Table} -> {rep.Resource.Target.Store}/{rep.Resource.Target.Table})"
        : rep.Resource.Name;
}
