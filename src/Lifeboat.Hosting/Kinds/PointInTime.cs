using System.Globalization;
using Lifeboat.Core.Config;
using Lifeboat.Providers.Postgres;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Hosting.Kinds;

/// <summary>
/// What a resource can be rewound to (issue 16, ADR 0011): from <see cref="Earliest"/> to <see cref="Latest"/>, to
/// within <see cref="Precision"/>; <see cref="Bytes"/> and <see cref="Objects"/> are what its history stores.
/// <see cref="Problem"/>: why the window is empty or shorter than it should be (a gap, nothing kept yet).
/// </summary>
public sealed record RecoverableWindow(DateTimeOffset? Earliest, DateTimeOffset? Latest, string Precision, long Bytes, long Objects, string? Problem = null)
{
    public bool Contains(DateTimeOffset t) => Earliest is { } e && Latest is { } l && t >= e && t <= l;

    public string Describe() => Earliest is { } e && Latest is { } l
        ? $"{PointInTime.Format(e)} .. {PointInTime.Format(l)}"
        : "empty" + (Problem is null ? "" : $" ({Problem})");
}

/// <summary>Where <c>restore --all</c> puts each resource: buckets and tables into a new bucket or table named after the
/// source plus <see cref="Suffix"/>, in the source store; postgres into <c><see cref="PgRoot"/>/NAME</c>.</summary>
public sealed record AllRestorePlace(string Suffix, string? PgRoot);

/// <summary>A resource that can be rewound to a point in time: its window, and a restore to one instant into its
/// <c>restore --all</c> place. Every kind answers <see cref="IProtectedResource.PointInTime"/> (null: no history).</summary>
public interface IPointInTime
{
    Task<RecoverableWindow> WindowAsync(CancellationToken ct);

    /// <summary>Where <see cref="RestoreAsync"/> writes (for the plan printed before anything is restored), or a user
    /// error naming what is missing or already there.</summary>
    Task<string> PlaceAsync(AllRestorePlace place, CancellationToken ct);

    /// <summary>Restores the resource as it was at <paramref name="t"/> into <paramref name="place"/>; its outcome as
    /// lines on <paramref name="output"/>; false when anything failed.</summary>
    Task<bool> RestoreAsync(DateTimeOffset t, AllRestorePlace place, TextWriter output, CancellationToken ct);
}

/// <summary>A postgres resource's history: its base backups and WAL (the window from the first usable backup's
/// consistent point to the end of the archived WAL), restored into a new data directory.</summary>
public sealed class PostgresPointInTime(Runtime rt, PostgresResource res) : IPointInTime
{
    public async Task<RecoverableWindow> WindowAsync(CancellationToken ct)
    {
        var archive = Runtime.PgArchiveOf(rt.Config, res, out var store);
        await using (store)
        {
            ArchiveIndex index;
            try { index = await ArchiveIndex.LoadAsync(archive, ct).ConfigureAwait(false); }
            catch (Abstractions.StoreException e) when (e.MissingBucket)
            {
                return new RecoverableWindow(null, null, "one transaction (WAL)", 0, 0, "nothing archived yet");
            }
            RecoveryWindow? first = null, last = null;
            string? problem = null;
            foreach (var b in index.Backups)
            {
                var w = await index.WindowAsync(b, ct).ConfigureAwait(false);
                if (!w.Usable) { problem ??= w.Problem; continue; }
                first ??= w;
                last = w;
                problem ??= w.Problem;
            }
            var bytes = index.Backups.Sum(b => b.StoredBytes) + index.WalObjects.Sum(w => w.Size);
            return new RecoverableWindow(first?.From, last?.To, "one transaction (WAL)", bytes, index.Backups.Count + index.WalObjects.Count,
                first is null ? problem ?? "no base backup yet" : problem);
        }
    }

    public Task<string> PlaceAsync(AllRestorePlace place, CancellationToken ct)
    {
        var dir = Dir(place);
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new UserErrorException($"{res.Name}: {dir} exists and is not empty: a point-in-time restore needs a new data directory");
        return Task.FromResult(dir);
    }

    private string Dir(AllRestorePlace place) =>
        Path.GetFullPath(Path.Combine(place.PgRoot ?? throw new UserErrorException(
            $"{res.Name} is a postgres resource: give --pg-root DIR (it is restored into DIR/{res.Name})"), res.Name));

    public async Task<bool> RestoreAsync(DateTimeOffset t, AllRestorePlace place, TextWriter output, CancellationToken ct)
    {
        var archive = Runtime.PgArchiveOf(rt.Config, res, out var store);
        await using (store)
        {
            var r = await new PgRestore(res, archive, rt.Logs.CreateLogger("lifeboat." + res.Name))
                .RunAsync(new RestoreOptions(Dir(place), t, Start: false, Port: null), ct).ConfigureAwait(false);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{res.Name}: base backup {r.BackupId} and {r.WalSegments} WAL segments restored into {r.DataDir}, recovering to {PointInTime.Format(t)} when started (pg_ctl -D {r.DataDir} start)"));
            return true;
        }
    }
}
