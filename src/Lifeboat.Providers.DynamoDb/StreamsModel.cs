using System.Numerics;

namespace Lifeboat.Providers.DynamoDb;

public sealed record StreamSummary(string StreamArn, string? TableName, string? StreamLabel);

public sealed record ListStreamsResult(IReadOnlyList<StreamSummary> Streams, string? LastEvaluatedStreamArn);

/// <summary>A shard's range. <see cref="EndingSequenceNumber"/> is set once the shard is closed (it will get no more
/// records; its children, whose ParentShardId names it, continue the key space).</summary>
public sealed record SequenceNumberRange(string? StartingSequenceNumber, string? EndingSequenceNumber);

public sealed record Shard(string ShardId, string? ParentShardId, SequenceNumberRange SequenceNumberRange)
{
    public bool IsClosed => SequenceNumberRange.EndingSequenceNumber is not null;
}

public sealed record KeyElement(string AttributeName, string KeyType);

public sealed record StreamDescription(
    string StreamArn,
    string? StreamLabel,
    string? StreamStatus,
    string? StreamViewType,
    string? TableName,
    DateTimeOffset? CreationRequestDateTime,
    IReadOnlyList<KeyElement> KeySchema,
    IReadOnlyList<Shard> Shards,
    string? LastEvaluatedShardId);

public enum ShardIteratorType { TrimHorizon, Latest, AtSequenceNumber, AfterSequenceNumber }

public enum StreamEventName { Insert, Modify, Remove }

/// <summary>Who made a change when it was not a user: TTL deletes come as Type "Service", PrincipalId
/// "dynamodb.amazonaws.com".</summary>
public sealed record StreamUserIdentity(string? PrincipalId, string? Type);

/// <summary>One change from a stream. Keys, NewImage and OldImage are exactly as sent (numbers as strings).
/// ApproximateCreationDateTime has (at best) second precision; DynamoDB Local truncates it to the minute.</summary>
public sealed record StreamRecord(
    string EventId,
    StreamEventName EventName,
    string SequenceNumber,
    DateTimeOffset? ApproximateCreationDateTime,
    IReadOnlyDictionary<string, DdbValue> Keys,
    IReadOnlyDictionary<string, DdbValue>? NewImage,
    IReadOnlyDictionary<string, DdbValue>? OldImage,
    long SizeBytes,
    string? StreamViewType,
    string? AwsRegion,
    StreamUserIdentity? UserIdentity);

public sealed record GetRecordsResult(IReadOnlyList<StreamRecord> Records, string? NextShardIterator);

/// <summary>Stream sequence numbers are decimal strings (up to 40 digits in practice) that grow within a shard.</summary>
public static class SequenceNumbers
{
    public static int Compare(string a, string b) => BigInteger.Parse(a, System.Globalization.CultureInfo.InvariantCulture)
        .CompareTo(BigInteger.Parse(b, System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>An error answered by the Streams API (or the last of a series of retried transient ones).</summary>
public class DynamoDbStreamsException(string errorCode, int statusCode, string message, bool transient, Exception? inner = null)
    : Exception(message, inner), Lifeboat.Abstractions.IClassifiedError
{
    public Lifeboat.Abstractions.ErrorClass Class => IsTransient ? Lifeboat.Abstractions.ErrorClass.Transient : Lifeboat.Abstractions.ErrorClass.Permanent;
    /// <summary>The AWS error code without its namespace (e.g. "ResourceNotFoundException"), or "" for network errors.</summary>
    public string ErrorCode { get; } = errorCode;
    /// <summary>The HTTP status, or 0 when no answer came.</summary>
    public int StatusCode { get; } = statusCode;
    /// <summary>True when retrying later may succeed (throttling, 5xx, network), false for errors in the request.</summary>
    public bool IsTransient { get; } = transient;
}

/// <summary>The records asked for are older than the stream's retention (24 h) and were trimmed: changes were lost
/// to this reader. Only a full re-sync of the table can repair the replica.</summary>
public sealed class TrimmedDataAccessException(string message, int statusCode = 400)
    : DynamoDbStreamsException("TrimmedDataAccessException", statusCode, message, transient: false);

/// <summary>The shard iterator is older than 15 minutes; re-acquire one (AFTER_SEQUENCE_NUMBER of the last record
/// read). <see cref="ShardReader"/> does this itself.</summary>
public sealed class ExpiredIteratorException(string message, int statusCode = 400)
    : DynamoDbStreamsException("ExpiredIteratorException", statusCode, message, transient: false);

/// <summary>The stream or shard does not exist (stream disabled or deleted, shard past retention).</summary>
public sealed class StreamResourceNotFoundException(string message, int statusCode = 400)
    : DynamoDbStreamsException("ResourceNotFoundException", statusCode, message, transient: false);
