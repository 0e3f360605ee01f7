using Lifeboat.Abstractions;
using Lifeboat.Core.Config;

namespace Lifeboat.Core.Replication;

public enum Side { Both, SourceOnly, TargetOnly }

/// <summary>One key of a merged listing; <see cref="Rel"/> is the key relative to each side's prefix.</summary>
public sealed record PassItem(string Rel, Side Side, ObjectInfo? Source, ObjectInfo? Target);

public static class PairedListing
{
    /// <summary>Lists both sides in key order and merges them, without holding either listing in memory;
    /// starts after <paramref name="resumeAfter"/> (a relative key) when given. Keys under either side's
    /// <c>PREFIX.lifeboat/</c> are Lifeboat's own (<see cref="TargetClaim"/>) and are left out.</summary>
    public static async IAsyncEnumerable<PassItem> MergeAsync(IObjectStore source, Location src, IObjectStore target, Location tgt,
        string? resumeAfter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var cmp = KeyComparer.Instance;
        await using var s = source.ListAsync(src.Bucket, src.Prefix, resumeAfter is null ? null : src.Prefix + resumeAfter, ct).GetAsyncEnumerator(ct);
        await using var t = target.ListAsync(tgt.Bucket, tgt.Prefix, resumeAfter is null ? null : tgt.Prefix + resumeAfter, ct).GetAsyncEnumerator(ct);
        // Both first pages are fetched at once; the source's request is built and sent on a pool thread (a first
        // request does milliseconds of work before its first wait, which the target's would otherwise queue behind).
        var firstS = Task.Run(() => s.MoveNextAsync().AsTask(), CancellationToken.None); // started whatever happens: ct reaches it inside
        var firstT = t.MoveNextAsync();
        bool hasS;
        try { hasS = await firstS.ConfigureAwait(false); }
        catch
        {
            // The target's request finishes before its enumerator is disposed; the source's error is the one reported.
            try { await firstT.ConfigureAwait(false); } catch { /* reported: the source's */ }
            throw;
        }
        var hasT = await firstT.ConfigureAwait(false);
        while (hasS || hasT)
        {
            if (hasS && TargetClaim.IsReserved(s.Current.Key, src.Prefix.Length))
            {
                hasS = await s.MoveNextAsync().ConfigureAwait(false);
                continue;
            }
            if (hasT && TargetClaim.IsReserved(t.Current.Key, tgt.Prefix.Length))
            {
                hasT = await t.MoveNextAsync().ConfigureAwait(false);
                continue;
            }
            var rs = hasS ? s.Current.Key[src.Prefix.Length..] : null;
            var rt = hasT ? t.Current.Key[tgt.Prefix.Length..] : null;
            var c = !hasS ? 1 : !hasT ? -1 : cmp.Compare(rs, rt);
            if (c == 0)
            {
                yield return new PassItem(rs!, Side.Both, s.Current, t.Current);
                hasS = await s.MoveNextAsync().ConfigureAwait(false);
                hasT = await t.MoveNextAsync().ConfigureAwait(false);
            }
            else if (c < 0)
            {
                yield return new PassItem(rs!, Side.SourceOnly, s.Current, null);
                hasS = await s.MoveNextAsync().ConfigureAwait(false);
            }
            else
            {
                yield return new PassItem(rt!, Side.TargetOnly, null, t.Current);
                hasT = await t.MoveNextAsync().ConfigureAwait(false);
            }
        }
    }
}
