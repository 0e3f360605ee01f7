using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Amazon.Runtime;
using Lifeboat.Abstractions;
using RetryPolicy = Lifeboat.Abstractions.RetryPolicy;
using Lifeboat.Core.Config;
using Lifeboat.Providers.Aws;

namespace Lifeboat.Providers.DynamoDb;

public sealed record StreamsClientOptions
{
    /// <summary>The Streams endpoint: https://streams.dynamodb.REGION.amazonaws.com on AWS; DynamoDB Local serves
    /// Streams on its table endpoint.</summary>
    public required Uri Endpoint { get; init; }
    public required string Region { get; init; }
    /// <summary>Resolves credentials for each request (the SDK's AWSCredentials refresh themselves, e.g. assumed
    /// roles).</summary>
    public required Func<AWSCredentials> Credentials { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
    /// <summary>Attempts per call for throttling, 5xx and network errors (first try included).</summary>
    public int MaxAttempts { get; init; } = 10;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(50);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>For tests; default: a SocketsHttpHandler owned by the client.</summary>
    public HttpMessageHandler? Handler { get; init; }
}

/// <summary>
/// The smallest correct DynamoDB Streams client (AWSSDK v4 has none in the reachable NuGet copy): ListStreams,
/// DescribeStream, GetShardIterator and GetRecords over the JSON 1.0 protocol (POST /, X-Amz-Target:
/// DynamoDBStreams_20120810.OP, Content-Type application/x-amz-json-1.0), signed with <see cref="SigV4Signer"/>
/// (service "dynamodb"). Throttling (ProvisionedThroughputExceededException, ThrottlingException,
/// LimitExceededException, HTTP 429), 5xx and network errors are retried with capped exponential backoff and jitter;
/// TrimmedDataAccessException, ExpiredIteratorException and ResourceNotFoundException are thrown as typed exceptions.
/// Attribute values keep numbers as strings (<see cref="DdbJson"/>).
/// </summary>
public sealed class StreamsClient : IDisposable
{
    public const string Service = "dynamodb";
    private const string TargetPrefix = "DynamoDBStreams_20120810.";
    private static readonly MediaTypeHeaderValue JsonContentType = new("application/x-amz-json-1.0");

    private static readonly HashSet<string> ThrottlingCodes = new(StringComparer.Ordinal)
    {
        "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "LimitExceededException",
        "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
    };

    private readonly StreamsClientOptions _o;
    private readonly HttpClient _http;
    private readonly RetryPolicy _retry;
    private long _retries;

    public StreamsClient(StreamsClientOptions options)
    {
        _o = options;
        _retry = new RetryPolicy(options.MaxAttempts - 1, options.BaseDelay, options.MaxDelay);
        _http = new HttpClient(options.Handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
            disposeHandler: options.Handler is null)
        {
            Timeout = Timeout.InfiniteTimeSpan, // per attempt, through RequestTimeout
        };
        Describe = $"DynamoDB Streams ({Lifeboat.Abstractions.Redact.Url(options.Endpoint.OriginalString)})";
    }

    /// <summary>A client for a <c>type: dynamodb</c> store: its endpoint (or AWS's Streams endpoint for its region) and
    /// credentials resolved exactly as for S3 stores (key env vars, profile, role_arn, else the default chain).</summary>
    public static StreamsClient ForStore(StoreConfig cfg, TimeProvider time, HttpMessageHandler? handler = null)
    {
        var region = cfg.Region ?? "us-east-1";
        var endpoint = new Uri(cfg.Endpoint ?? $"https://streams.dynamodb.{region}.amazonaws.com");
        var creds = Providers.S3.S3Store.ResolveCredentials(cfg);
        return new StreamsClient(new StreamsClientOptions
        {
            Endpoint = endpoint,
            Region = region,
            Credentials = creds is not null ? () => creds : DefaultCredentials(cfg),
            Time = time,
            Handler = handler,
        });
    }

    private static Func<AWSCredentials> DefaultCredentials(StoreConfig cfg)
    {
        AWSCredentials? cached = null;
        return () =>
        {
            if (cached is not null) return cached;
            try { return cached = Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials(); }
            catch (AmazonClientException e)
            {
                throw new UserErrorException($"{cfg.Where}: no AWS credentials found (set profile, access_key_env/secret_key_env, or the default AWS chain): {e.Message}", e);
            }
        };
    }

    public string Describe { get; }

    /// <summary>The Date header of the last successful answer: the service's clock (second precision, rounded down),
    /// the clock the records' ApproximateCreationDateTime comes from. Null until an answer carried one.</summary>
    public DateTimeOffset? LastServerDate { get; private set; }

    /// <summary>How many attempts were retried (throttling, 5xx, network) since the client was made.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    public async Task<ListStreamsResult> ListStreamsAsync(string? tableName, string? exclusiveStartStreamArn = null, int? limit = null, CancellationToken ct = default)
    {
        using var doc = await CallAsync("ListStreams", w =>
        {
            if (tableName is not null) w.WriteString("TableName", tableName);
            if (exclusiveStartStreamArn is not null) w.WriteString("ExclusiveStartStreamArn", exclusiveStartStreamArn);
            if (limit is { } l) w.WriteNumber("Limit", l);
        }, ct).ConfigureAwait(false);
        var root = doc.RootElement;
        var streams = new List<StreamSummary>();
        if (root.TryGetProperty("Streams", out var arr))
            foreach (var s in arr.EnumerateArray())
                streams.Add(new StreamSummary(s.GetProperty("StreamArn").GetString()!, Str(s, "TableName"), Str(s, "StreamLabel")));
        return new ListStreamsResult(streams, Str(root, "LastEvaluatedStreamArn"));
    }

    /// <summary>Every stream of <paramref name="tableName"/> (following LastEvaluatedStreamArn).</summary>
    public async Task<IReadOnlyList<StreamSummary>> ListAllStreamsAsync(string? tableName, CancellationToken ct = default)
    {
        var all = new List<StreamSummary>();
        string? start = null;
        do
        {
            var page = await ListStreamsAsync(tableName, start, null, ct).ConfigureAwait(false);
            all.AddRange(page.Streams);
            start = page.LastEvaluatedStreamArn;
        } while (start is not null);
        return all;
    }

    public async Task<StreamDescription> DescribeStreamAsync(string streamArn, string? exclusiveStartShardId = null, int? limit = null, CancellationToken ct = default)
    {
        using var doc = await CallAsync("DescribeStream", w =>
        {
            w.WriteString("StreamArn", streamArn);
            if (exclusiveStartShardId is not null) w.WriteString("ExclusiveStartShardId", exclusiveStartShardId);
            if (limit is { } l) w.WriteNumber("Limit", l);
        }, ct).ConfigureAwait(false);
        var d = doc.RootElement.GetProperty("StreamDescription");
        var keys = new List<KeyElement>();
        if (d.TryGetProperty("KeySchema", out var ks))
            foreach (var k in ks.EnumerateArray())
                keys.Add(new KeyElement(k.GetProperty("AttributeName").GetString()!, k.GetProperty("KeyType").GetString()!));
        var shards = new List<Shard>();
        if (d.TryGetProperty("Shards", out var sh))
            foreach (var s in sh.EnumerateArray())
            {
                SequenceNumberRange range = new(null, null);
                if (s.TryGetProperty("SequenceNumberRange", out var r))
                    range = new SequenceNumberRange(Str(r, "StartingSequenceNumber"), Str(r, "EndingSequenceNumber"));
                shards.Add(new Shard(s.GetProperty("ShardId").GetString()!, Str(s, "ParentShardId"), range));
            }
        return new StreamDescription(
            Str(d, "StreamArn") ?? streamArn, Str(d, "StreamLabel"), Str(d, "StreamStatus"), Str(d, "StreamViewType"),
            Str(d, "TableName"), EpochSeconds(d, "CreationRequestDateTime"), keys, shards, Str(d, "LastEvaluatedShardId"));
    }

    /// <summary>The stream's description with every shard (following LastEvaluatedShardId).</summary>
    public async Task<StreamDescription> DescribeStreamAllShardsAsync(string streamArn, CancellationToken ct = default)
    {
        var first = await DescribeStreamAsync(streamArn, null, null, ct).ConfigureAwait(false);
        var shards = new List<Shard>(first.Shards);
        var last = first.LastEvaluatedShardId;
        while (last is not null)
        {
            var page = await DescribeStreamAsync(streamArn, last, null, ct).ConfigureAwait(false);
            shards.AddRange(page.Shards);
            last = page.LastEvaluatedShardId;
        }
        return first with { Shards = shards, LastEvaluatedShardId = null };
    }

    public async Task<string> GetShardIteratorAsync(string streamArn, string shardId, ShardIteratorType type, string? sequenceNumber = null, CancellationToken ct = default)
    {
        if (type is ShardIteratorType.AtSequenceNumber or ShardIteratorType.AfterSequenceNumber && sequenceNumber is null)
            throw new ArgumentException($"{type} needs a sequence number", nameof(sequenceNumber));
        using var doc = await CallAsync("GetShardIterator", w =>
        {
            w.WriteString("StreamArn", streamArn);
            w.WriteString("ShardId", shardId);
            w.WriteString("ShardIteratorType", type switch
            {
                ShardIteratorType.TrimHorizon => "TRIM_HORIZON",
                ShardIteratorType.Latest => "LATEST",
                ShardIteratorType.AtSequenceNumber => "AT_SEQUENCE_NUMBER",
                _ => "AFTER_SEQUENCE_NUMBER",
            });
            if (sequenceNumber is not null) w.WriteString("SequenceNumber", sequenceNumber);
        }, ct).ConfigureAwait(false);
        return Str(doc.RootElement, "ShardIterator")
               ?? throw new DynamoDbStreamsException("", 200, $"{Describe}: GetShardIterator answered no ShardIterator", transient: false);
    }

    public async Task<GetRecordsResult> GetRecordsAsync(string shardIterator, int? limit = null, CancellationToken ct = default)
    {
        using var doc = await CallAsync("GetRecords", w =>
        {
            w.WriteString("ShardIterator", shardIterator);
            if (limit is { } l) w.WriteNumber("Limit", l);
        }, ct).ConfigureAwait(false);
        var root = doc.RootElement;
        var records = new List<StreamRecord>();
        if (root.TryGetProperty("Records", out var arr))
            foreach (var r in arr.EnumerateArray()) records.Add(ParseRecord(r));
        return new GetRecordsResult(records, Str(root, "NextShardIterator"));
    }

    internal static StreamRecord ParseRecord(JsonElement r)
    {
        var name = Str(r, "eventName") switch
        {
            "INSERT" => StreamEventName.Insert,
            "MODIFY" => StreamEventName.Modify,
            "REMOVE" => StreamEventName.Remove,
            var other => throw new FormatException($"unknown stream eventName '{other}'"),
        };
        var d = r.GetProperty("dynamodb");
        StreamUserIdentity? who = null;
        if (r.TryGetProperty("userIdentity", out var u) && u.ValueKind == JsonValueKind.Object)
            who = new StreamUserIdentity(Str(u, "principalId") ?? Str(u, "PrincipalId"), Str(u, "type") ?? Str(u, "Type"));
        return new StreamRecord(
            EventId: Str(r, "eventID") ?? "",
            EventName: name,
            SequenceNumber: d.GetProperty("SequenceNumber").GetString()!,
            ApproximateCreationDateTime: EpochSeconds(d, "ApproximateCreationDateTime"),
            Keys: d.TryGetProperty("Keys", out var k) ? DdbJson.ReadItem(k) : new Dictionary<string, DdbValue>(),
            NewImage: d.TryGetProperty("NewImage", out var n) ? DdbJson.ReadItem(n) : null,
            OldImage: d.TryGetProperty("OldImage", out var o) ? DdbJson.ReadItem(o) : null,
            SizeBytes: d.TryGetProperty("SizeBytes", out var sz) && sz.ValueKind == JsonValueKind.Number ? sz.GetInt64() : 0,
            StreamViewType: Str(d, "StreamViewType"),
            AwsRegion: Str(r, "awsRegion"),
            UserIdentity: who);
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    // Timestamps are epoch seconds as JSON numbers (e.g. 1.7639328E9).
    private static DateTimeOffset? EpochSeconds(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number) return null;
        var seconds = double.Parse(v.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);
        return DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000));
    }

    private async Task<JsonDocument> CallAsync(string op, Action<Utf8JsonWriter> body, CancellationToken ct)
    {
        byte[] payload;
        using (var ms = new MemoryStream())
        {
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                body(w);
                w.WriteEndObject();
            }
            payload = ms.ToArray();
        }

        try
        {
            return await _retry.RunAsync(t => SendOnceAsync(op, payload, t), e => e is DynamoDbStreamsException { IsTransient: true },
                _o.Time, (_, _) => Interlocked.Increment(ref _retries), ct).ConfigureAwait(false);
        }
        catch (DynamoDbStreamsException e) when (e.IsTransient && RetryPolicy.AttemptsBehind(e) is var n and > 0)
        {
            throw new DynamoDbStreamsException(e.ErrorCode, e.StatusCode, $"{e.Message} (gave up after {n} attempts)", transient: true, e);
        }
    }

    private async Task<JsonDocument> SendOnceAsync(string op, byte[] payload, CancellationToken ct)
    {
        AWSCredentials creds;
        ImmutableCredentials keys;
        try
        {
            creds = _o.Credentials();
            keys = await creds.GetCredentialsAsync().ConfigureAwait(false);
        }
        catch (AmazonClientException e)
        {
            throw new UserErrorException($"{Describe}: cannot get AWS credentials: {e.Message}", e);
        }

        var url = new Uri(_o.Endpoint, "/");
        using var req = new HttpRequestMessage(HttpMethod.Post, url);
        req.Content = new ByteArrayContent(payload);
        req.Content.Headers.ContentType = JsonContentType;
        var target = TargetPrefix + op;
        var now = _o.Time.GetUtcNow();
        var amzDate = SigV4Signer.AmzDate(now);
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", url.Authority),
            new("Content-Type", JsonContentType.ToString()),
            new("X-Amz-Date", amzDate),
            new("X-Amz-Target", target),
        };
        if (keys.UseToken) headers.Add(new("X-Amz-Security-Token", keys.Token));
        var sig = SigV4Signer.Sign(new SigV4Request("POST", url, headers, payload), keys.AccessKey, keys.SecretKey, _o.Region, Service, now);
        req.Headers.Host = url.Authority;
        req.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        req.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        if (keys.UseToken) req.Headers.TryAddWithoutValidation("X-Amz-Security-Token", keys.Token);
        req.Headers.TryAddWithoutValidation("Authorization", sig.Authorization);

        using var timeout = new CancellationTokenSource(_o.RequestTimeout, _o.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        HttpResponseMessage resp;
        byte[] body;
        try
        {
            resp = await _http.SendAsync(req, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            body = await resp.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (OperationCanceledException e)
        {
            throw new DynamoDbStreamsException("", 0, $"{Describe}: {op}: no answer within {_o.RequestTimeout.TotalSeconds:0}s", transient: true, e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException)
        {
            throw new DynamoDbStreamsException("", 0, $"{Describe}: {op}: cannot reach {Lifeboat.Abstractions.Redact.Url(_o.Endpoint.OriginalString)}: {e.Message}", transient: true, e);
        }

        using (resp)
        {
            if (resp.IsSuccessStatusCode)
            {
                if (resp.Headers.Date is { } date) LastServerDate = date;
                try { return JsonDocument.Parse(body, DdbJson.DocumentOptions); }
                catch (JsonException e)
                {
                    throw new DynamoDbStreamsException("", (int)resp.StatusCode, $"{Describe}: {op}: unreadable answer: {e.Message}", transient: true, e);
                }
            }
            throw MapError(op, resp, body);
        }
    }

    private DynamoDbStreamsException MapError(string op, HttpResponseMessage resp, byte[] body)
    {
        var status = (int)resp.StatusCode;
        string code = "", message = "";
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                code = Str(root, "__type") ?? "";
                message = Str(root, "message") ?? Str(root, "Message") ?? "";
            }
        }
        catch (JsonException)
        {
            message = System.Text.Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 300)));
        }
        if (code.Length == 0 && resp.Headers.TryGetValues("x-amzn-ErrorType", out var types)) code = types.First();
        code = code[(code.LastIndexOf('#') + 1)..];
        var colon = code.IndexOf(':');
        if (colon >= 0) code = code[..colon];

        var text = $"{Describe}: {op}: {status} {code} {message}".TrimEnd();
        return code switch
        {
            "TrimmedDataAccessException" => new TrimmedDataAccessException(text, status),
            "ExpiredIteratorException" => new ExpiredIteratorException(text, status),
            "ResourceNotFoundException" => new StreamResourceNotFoundException(text, status),
            _ when ThrottlingCodes.Contains(code) || status == (int)HttpStatusCode.TooManyRequests =>
                new DynamoDbStreamsException(code, status, text, transient: true),
            _ when status >= 500 || code is "InternalServerError" or "ServiceUnavailable" or "InternalFailure" =>
                new DynamoDbStreamsException(code, status, text, transient: true),
            _ => new DynamoDbStreamsException(code, status, text, transient: false),
        };
    }

    public void Dispose() => _http.Dispose();
}
