namespace Lifeboat.Providers.DynamoDb;

/// <summary>
/// Which shards may be read now. A shard that closed split its keys among its children (ParentShardId); reading a
/// child before its parent is fully consumed could apply a key's updates out of order. So a shard is ready when it is
/// not finished and its parent is finished, or unknown (no parent, or a parent already past the stream's 24 h retention
/// and no longer listed).
/// </summary>
public static class ShardLineage
{
    public static IReadOnlyList<Shard> Ready(IReadOnlyList<Shard> shards, Func<string, bool> isFinished)
    {
        var listed = shards.Select(s => s.ShardId).ToHashSet(StringComparer.Ordinal);
        return shards
            .Where(s => !isFinished(s.ShardId))
            .Where(s => s.ParentShardId is null || !listed.Contains(s.ParentShardId) || isFinished(s.ParentShardId))
            .ToList();
    }
}
