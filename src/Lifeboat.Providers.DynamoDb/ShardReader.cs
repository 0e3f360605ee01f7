namespace Lifeboat.Providers.DynamoDb;

/// <summary>
/// Reads one shard in order, keeping the sequence number of the last record returned. Iterators expire after
/// 15 minutes: on <see cref="ExpiredIteratorException"/> it re-acquires one AFTER_SEQUENCE_NUMBER of that last record
/// (or at its starting position if it has returned nothing yet) and retries once, so no record is skipped or repeated.
/// <see cref="TrimmedDataAccessException"/> is not handled here: records were lost and only a re-sync repairs that.
/// </summary>
public sealed class ShardReader
{
    private readonly StreamsClient _client;
    private readonly ShardIteratorType _startType;
    private readonly string? _startSequence;
    private string? _iterator;

    /// <param name="after">Resume after this sequence number (a checkpoint); null starts at <paramref name="start"/>.</param>
    public ShardReader(StreamsClient client, string streamArn, string shardId, ShardIteratorType start = ShardIteratorType.TrimHorizon, string? after = null)
    {
        _client = client;
        StreamArn = streamArn;
        ShardId = shardId;
        if (after is not null)
        {
            _startType = ShardIteratorType.AfterSequenceNumber;
            _startSequence = after;
            LastSequenceNumber = after;
        }
        else
        {
            if (start is ShardIteratorType.AtSequenceNumber or ShardIteratorType.AfterSequenceNumber)
                throw new ArgumentException("give the sequence number as 'after'", nameof(start));
            _startType = start;
        }
    }

    public string StreamArn { get; }
    public string ShardId { get; }
    /// <summary>The last record returned (or the checkpoint it started after).</summary>
    public string? LastSequenceNumber { get; private set; }
    /// <summary>The shard is closed and every record of it was returned: its children may be read now.</summary>
    public bool IsFinished { get; private set; }
    /// <summary>How many times an expired iterator was replaced.</summary>
    public int IteratorRenewals { get; private set; }

    /// <summary>The next batch (possibly empty while the shard is open and idle).</summary>
    public async Task<IReadOnlyList<StreamRecord>> ReadAsync(int? limit = null, CancellationToken ct = default)
    {
        if (IsFinished) return [];
        _iterator ??= await AcquireAsync(ct).ConfigureAwait(false);
        GetRecordsResult res;
        try
        {
            res = await _client.GetRecordsAsync(_iterator, limit, ct).ConfigureAwait(false);
        }
        catch (ExpiredIteratorException)
        {
            IteratorRenewals++;
            _iterator = await AcquireAsync(ct).ConfigureAwait(false);
            res = await _client.GetRecordsAsync(_iterator, limit, ct).ConfigureAwait(false);
        }
        _iterator = res.NextShardIterator;
        if (res.Records.Count > 0) LastSequenceNumber = res.Records[^1].SequenceNumber;
        if (_iterator is null) IsFinished = true;
        return res.Records;
    }

    private Task<string> AcquireAsync(CancellationToken ct) => LastSequenceNumber is { } last
        ? _client.GetShardIteratorAsync(StreamArn, ShardId, ShardIteratorType.AfterSequenceNumber, last, ct)
        : _client.GetShardIteratorAsync(StreamArn, ShardId, _startType, _startSequence, ct);
}
