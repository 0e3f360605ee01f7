namespace Lifeboat.Abstractions;

/// <summary>
/// A store with a place for Lifeboat's own small files beside a bucket's objects but outside its key space (the
/// folder store's reserved <c>.lifeboat/</c> folder). Stores without one keep such files as objects under the
/// resource's prefix, in <c>PREFIX.lifeboat/</c>, which replication, verify and restore never list
/// (<see cref="Replication.TargetClaim"/>).
/// </summary>
public interface IReservedFiles
{
    /// <summary>The file's content, or null when it does not exist.</summary>
    Task<byte[]?> ReadReservedAsync(string bucket, string name, CancellationToken ct);

    /// <summary>Writes the file atomically (readers see the old or the new content).</summary>
    Task WriteReservedAsync(string bucket, string name, ReadOnlyMemory<byte> content, CancellationToken ct);
}
