namespace Lifeboat.Providers.DynamoDb;

/// <summary>
/// Reads one shard in order, keeping the sequence number of the last record returned. Iterators expire after
/// 15 minutes: on <see cref="ExpiredIteratorException"/> it re-acquires one AFTER_SEQUENCE_NUMBER of that last record
/// (or at its starting position if it has returned nothing yet) and retries once, so no record is skipped or repeated.
/// <see cref="TrimmedDataAccessException"/> is not handled here (records were lost and only a re-sync repairs that),
/// except for a LATEST start that has returned nothing yet: see <see cref="RestartedAtTrimHorizon"/>.
/// </summary>
public sealed class ShardReader
{
    private readonly StreamsClient _client;
    private readonly ShardIteratorType _startType;
    private readonly string? _startSequence;
    private string? _iterator;
    private bool _restart;
    private bool _resumed;

    /// <param name="after">Resume after this sequence number (a checkpoint); null starts at <paramref name="start"/>.</param>
    /// <param name="at">Start at this sequence number (the record itself is returned first); only without
    /// <paramref name="after"/>.</param>
    /// <param name="iterator">Resume with this iterator, kept from a reader started at LATEST that had returned no
    /// record (<see cref="PositionIterator"/>); only with <paramref name="start"/> LATEST.</param>
    public ShardReader(StreamsClient client, string streamArn, string shardId, ShardIteratorType start = ShardIteratorType.TrimHorizon, string? after = null,
        string? at = null, string? iterator = null)
    {
        _client = client;
        StreamArn = streamArn;
        ShardId = shardId;
        if (iterator is not null)
        {
            if (start != ShardIteratorType.Latest || after is not null || at is not null)
                throw new ArgumentException("an iterator is resumed only for a LATEST start", nameof(iterator));
            _iterator = iterator;
            _resumed = true;
        }
        if (after is not null)
        {
            if (at is not null) throw new ArgumentException("give either 'after' or 'at'", nameof(at));
            _startType = ShardIteratorType.AfterSequenceNumber;
            _startSequence = after;
            LastSequenceNumber = after;
        }
        else if (at is not null)
        {
            _startType = ShardIteratorType.AtSequenceNumber;
            _startSequence = at;
        }
        else
        {
            if (start is ShardIteratorType.AtSequenceNumber or ShardIteratorType.AfterSequenceNumber)
                throw new ArgumentException("give the sequence number as 'after' or 'at'", nameof(start));
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
        catch (DynamoDbStreamsException e) when (_startType == ShardIteratorType.Latest && LastSequenceNumber is null && !RestartedAtTrimHorizon &&
                                                 (e is ExpiredIteratorException or TrimmedDataAccessException ||
                                                  _resumed && !e.IsTransient && e is not StreamResourceNotFoundException))
        {
            // The LATEST position is lost (a kept iterator may also be refused as invalid): see RestartedAtTrimHorizon.
            if (e is ExpiredIteratorException) IteratorRenewals++;
            _restart = true;
            _iterator = await AcquireAsync(ct).ConfigureAwait(false);
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

    /// <summary>
    /// A reader started at LATEST whose position was lost before it returned a record reads the shard from TRIM_HORIZON
    /// instead, so nothing is skipped (older records are read again): its iterator expired (LATEST again would skip what
    /// came since), or a read answered TrimmedDataAccessException. The latter cannot be a real loss: an iterator lives 15
    /// minutes and records 24 hours, so no record after a LATEST position can be trimmed while it is usable. DynamoDB Local
    /// answers it, though, when a LATEST iterator was taken on a shard that had no record yet and records were written to
    /// other tables before the first one to this shard (its sequence numbers are global).
    /// </summary>
    public bool RestartedAtTrimHorizon { get; private set; }

    /// <summary>For a reader started at LATEST that has returned no record yet: its current iterator, which a later
    /// reader may resume with (it is valid for 15 minutes; after that, that reader restarts at TRIM_HORIZON). Null
    /// otherwise.</summary>
    public string? PositionIterator =>
        _startType == ShardIteratorType.Latest && LastSequenceNumber is null && !RestartedAtTrimHorizon && !IsFinished ? _iterator : null;

    private Task<string> AcquireAsync(CancellationToken ct)
    {
        if (LastSequenceNumber is { } last)
            return _client.GetShardIteratorAsync(StreamArn, ShardId, ShardIteratorType.AfterSequenceNumber, last, ct);
        var type = _startType;
        if (_restart)
        {
            type = ShardIteratorType.TrimHorizon;
            RestartedAtTrimHorizon = true;
        }
        return _client.GetShardIteratorAsync(StreamArn, ShardId, type, _startSequence, ct);
    }
}
