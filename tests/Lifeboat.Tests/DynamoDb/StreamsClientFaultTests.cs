using System.Net;
using System.Text;
using System.Text.Json;
using Lifeboat.Providers.DynamoDb;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lifeboat.Tests.DynamoDb;

/// <summary>
/// A scripted FAKE DynamoDB Streams endpoint (Kestrel on 127.0.0.1, port 0 read back after the bind, serving canned
/// JSON). It is a fake on purpose and only for these paths: DynamoDB Local never splits shards, never trims records and
/// never expires iterators, and never throttles, so a real server cannot produce TrimmedDataAccessException,
/// ExpiredIteratorException or ProvisionedThroughputExceededException/ThrottlingException. The answers reproduce the
/// documented wire format of those errors (JSON 1.0: 400 with {"__type": "...#Code", "message": "..."}).
/// Everything else about the client is tested against the real DynamoDB Local in <see cref="StreamsClientTests"/>.
/// </summary>
public sealed class FakeStreamsEndpoint : IDisposable
{
    public sealed record Call(string Op, JsonElement Body, IReadOnlyDictionary<string, string> Headers);
    public sealed record Answer(int Status, string Json);

    private readonly WebApplication _app;
    private readonly Func<Call, Answer> _script;
    private readonly List<Call> _calls = [];

    public FakeStreamsEndpoint(Func<Call, Answer> script)
    {
        _script = script;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => { k.Listen(IPAddress.Loopback, 0); k.AddServerHeader = false; });
        _app = builder.Build();
        _app.Run(ServeAsync);
        Task.Run(() => _app.StartAsync()).GetAwaiter().GetResult();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Endpoint = new Uri(address + "/");
    }

    public Uri Endpoint { get; }

    public IReadOnlyList<Call> Calls { get { lock (_calls) return _calls.ToList(); } }

    private async Task ServeAsync(HttpContext http)
    {
        Answer answer;
        try
        {
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            var text = await reader.ReadToEndAsync();
            var target = http.Request.Headers["X-Amz-Target"].ToString();
            var op = target.StartsWith("DynamoDBStreams_20120810.", StringComparison.Ordinal) ? target["DynamoDBStreams_20120810.".Length..] : "?" + target;
            var headers = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            var call = new Call(op, JsonDocument.Parse(text).RootElement.Clone(), headers);
            lock (_calls) _calls.Add(call);
            answer = _script(call);
        }
        catch (Exception e)
        {
            answer = new Answer(599, JsonSerializer.Serialize(new { __type = "FakeScriptError", message = e.ToString() }));
        }
        var bytes = Encoding.UTF8.GetBytes(answer.Json);
        http.Response.StatusCode = answer.Status;
        http.Response.ContentType = "application/x-amz-json-1.0";
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes);
    }

    public static Answer Ok(object body) => new(200, JsonSerializer.Serialize(body));

    public static Answer Error(int status, string code, string message) =>
        new(status, JsonSerializer.Serialize(new Dictionary<string, string> { ["__type"] = "com.amazonaws.dynamodb.v20120810#" + code, ["message"] = message }));

    /// <summary>A stream record as GetRecords returns it (item {"pk": {"S": key}, "n": {"N": seq}}).</summary>
    public static object Record(string seq, string key, string eventName = "INSERT") => new Dictionary<string, object>
    {
        ["eventID"] = "ev-" + seq,
        ["eventName"] = eventName,
        ["eventVersion"] = "1.1",
        ["eventSource"] = "aws:dynamodb",
        ["awsRegion"] = "us-east-1",
        ["dynamodb"] = new Dictionary<string, object>
        {
            ["ApproximateCreationDateTime"] = 1.7639328E9,
            ["Keys"] = new Dictionary<string, object> { ["pk"] = new { S = key } },
            ["NewImage"] = new Dictionary<string, object> { ["pk"] = new { S = key }, ["n"] = new { N = seq } },
            ["SequenceNumber"] = seq,
            ["SizeBytes"] = 26,
            ["StreamViewType"] = "NEW_AND_OLD_IMAGES",
        },
    };

    public void Dispose() => Task.Run(async () => { await _app.StopAsync(); await _app.DisposeAsync(); }).GetAwaiter().GetResult();
}

public sealed class StreamsClientFaultTests
{
    private const string Arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-21T00:00:00.000";

    private static StreamsClient Client(FakeStreamsEndpoint fake, int maxAttempts = 10, string? token = null) => new(new StreamsClientOptions
    {
        Endpoint = fake.Endpoint,
        Region = "us-east-1",
        Credentials = () => token is null
            ? new Amazon.Runtime.BasicAWSCredentials("AKIDFAKE", "secret")
            : new Amazon.Runtime.SessionAWSCredentials("AKIDFAKE", "secret", token),
        BaseDelay = TimeSpan.FromMilliseconds(1),
        MaxDelay = TimeSpan.FromMilliseconds(20),
        MaxAttempts = maxAttempts,
    });

    [Fact]
    public async Task TrimmedDataAccess_IsATypedException_AlsoThroughTheShardReader()
    {
        using var fake = new FakeStreamsEndpoint(c => c.Op switch
        {
            "GetShardIterator" => FakeStreamsEndpoint.Ok(new { ShardIterator = "it-1" }),
            "GetRecords" => FakeStreamsEndpoint.Error(400, "TrimmedDataAccessException", "The operation attempted to read past the oldest stream record in a shard."),
            _ => FakeStreamsEndpoint.Error(400, "ValidationException", "unexpected " + c.Op),
        });
        using var client = Client(fake);

        var e = await Assert.ThrowsAsync<TrimmedDataAccessException>(() => client.GetRecordsAsync("it-1"));
        Assert.Equal("TrimmedDataAccessException", e.ErrorCode);
        Assert.Equal(400, e.StatusCode);
        Assert.False(e.IsTransient);
        Assert.Contains("oldest stream record", e.Message);

        var reader = new ShardReader(client, Arn, "shardId-1", after: "100");
        await Assert.ThrowsAsync<TrimmedDataAccessException>(() => reader.ReadAsync());
        Assert.Equal(0, client.Retries); // never retried: the gap needs a re-sync
        var acquire = fake.Calls.Single(c => c.Op == "GetShardIterator");
        Assert.Equal("AFTER_SEQUENCE_NUMBER", acquire.Body.GetProperty("ShardIteratorType").GetString());
        Assert.Equal("100", acquire.Body.GetProperty("SequenceNumber").GetString());
    }

    [Theory]
    [InlineData("ExpiredIteratorException")]
    [InlineData("TrimmedDataAccessException")]
    public async Task ALatestPositionLostBeforeItsFirstRecord_RestartsAtTrimHorizon_ALaterOneIsNotHidden(string error)
    {
        // A reader started at LATEST (the initial sync's position) whose iterator fails before it returned a record
        // cannot find that position again: it reads from TRIM_HORIZON (nothing skipped). Once it returned a record, a
        // trimmed read is a real gap again (thrown, for a re-sync).
        var reads = 0;
        using var fake = new FakeStreamsEndpoint(c =>
        {
            if (c.Op == "GetShardIterator")
                return FakeStreamsEndpoint.Ok(new { ShardIterator = c.Body.GetProperty("ShardIteratorType").GetString() switch
                {
                    "LATEST" => "it-latest",
                    "TRIM_HORIZON" => "it-trim",
                    var t => "it-" + t + "-" + c.Body.GetProperty("SequenceNumber").GetString(),
                } });
            return (c.Body.GetProperty("ShardIterator").GetString(), Interlocked.Increment(ref reads)) switch
            {
                ("it-latest", 1) => FakeStreamsEndpoint.Ok(new { Records = Array.Empty<object>(), NextShardIterator = "it-latest" }),
                ("it-latest", _) => FakeStreamsEndpoint.Error(400, error, "lost"),
                ("it-trim", _) => FakeStreamsEndpoint.Ok(new { Records = new[] { FakeStreamsEndpoint.Record("100", "a") }, NextShardIterator = "it-next" }),
                _ => FakeStreamsEndpoint.Error(400, "TrimmedDataAccessException", "The operation attempted to read past the oldest stream record in a shard."),
            };
        });
        using var client = Client(fake);
        var reader = new ShardReader(client, Arn, "shardId-1", ShardIteratorType.Latest);

        Assert.Empty(await reader.ReadAsync());
        Assert.Equal(["100"], (await reader.ReadAsync()).Select(r => r.SequenceNumber));
        Assert.True(reader.RestartedAtTrimHorizon);
        await Assert.ThrowsAsync<TrimmedDataAccessException>(() => reader.ReadAsync());
        Assert.Equal(["LATEST", "TRIM_HORIZON"], fake.Calls.Where(c => c.Op == "GetShardIterator").Select(c => c.Body.GetProperty("ShardIteratorType").GetString()));
    }

    [Fact]
    public async Task ExpiredIterator_IsReacquiredAfterTheLastSequenceNumber()
    {
        using var fake = new FakeStreamsEndpoint(c =>
        {
            if (c.Op == "GetShardIterator")
            {
                var type = c.Body.GetProperty("ShardIteratorType").GetString();
                return type switch
                {
                    "TRIM_HORIZON" => FakeStreamsEndpoint.Ok(new { ShardIterator = "it-1" }),
                    "AFTER_SEQUENCE_NUMBER" when c.Body.GetProperty("SequenceNumber").GetString() == "200" => FakeStreamsEndpoint.Ok(new { ShardIterator = "it-3" }),
                    _ => FakeStreamsEndpoint.Error(400, "ValidationException", "unexpected iterator request " + c.Body),
                };
            }
            return c.Body.GetProperty("ShardIterator").GetString() switch
            {
                "it-1" => FakeStreamsEndpoint.Ok(new { Records = new[] { FakeStreamsEndpoint.Record("100", "a"), FakeStreamsEndpoint.Record("200", "b") }, NextShardIterator = "it-2" }),
                "it-2" => FakeStreamsEndpoint.Error(400, "ExpiredIteratorException", "Iterator expired. The iterator was created at time ... while right now it is ..."),
                // the shard is closed after 300: no NextShardIterator
                "it-3" => FakeStreamsEndpoint.Ok(new { Records = new[] { FakeStreamsEndpoint.Record("300", "a", "MODIFY") } }),
                var other => FakeStreamsEndpoint.Error(400, "ValidationException", "unknown iterator " + other),
            };
        });
        using var client = Client(fake);

        // The raw call maps the error to its type.
        await Assert.ThrowsAsync<ExpiredIteratorException>(() => client.GetRecordsAsync("it-2"));

        var reader = new ShardReader(client, Arn, "shardId-1");
        var seen = new List<StreamRecord>();
        while (!reader.IsFinished) seen.AddRange(await reader.ReadAsync());

        Assert.Equal(["100", "200", "300"], seen.Select(r => r.SequenceNumber));
        Assert.Equal([StreamEventName.Insert, StreamEventName.Insert, StreamEventName.Modify], seen.Select(r => r.EventName));
        Assert.Equal("300", seen[2].NewImage!["n"].Text);
        Assert.Equal(1, reader.IteratorRenewals);
        Assert.Equal("300", reader.LastSequenceNumber);
        Assert.Equal(new DateTimeOffset(2025, 11, 23, 21, 20, 0, TimeSpan.Zero), seen[0].ApproximateCreationDateTime);
        var acquires = fake.Calls.Where(c => c.Op == "GetShardIterator").Select(c => c.Body.GetProperty("ShardIteratorType").GetString()).ToList();
        Assert.Equal(["TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER"], acquires);
    }

    [Theory]
    [InlineData(400, "ProvisionedThroughputExceededException")]
    [InlineData(400, "ThrottlingException")]
    [InlineData(400, "LimitExceededException")]
    [InlineData(500, "InternalServerError")]
    [InlineData(503, "ServiceUnavailable")]
    public async Task TransientErrors_AreRetriedWithBackoff(int status, string code)
    {
        var failures = 3;
        using var fake = new FakeStreamsEndpoint(c => Interlocked.Decrement(ref failures) >= 0
            ? FakeStreamsEndpoint.Error(status, code, "Rate of requests exceeds the allowed throughput.")
            : FakeStreamsEndpoint.Ok(new { Records = new[] { FakeStreamsEndpoint.Record("100", "a") }, NextShardIterator = "it-2" }));
        using var client = Client(fake);

        var res = await client.GetRecordsAsync("it-1", 10);

        Assert.Equal("100", Assert.Single(res.Records).SequenceNumber);
        Assert.Equal("it-2", res.NextShardIterator);
        Assert.Equal(3, client.Retries);
        Assert.Equal(4, fake.Calls.Count);
        // Every attempt is the same request, freshly signed.
        Assert.All(fake.Calls, c => Assert.Equal("it-1", c.Body.GetProperty("ShardIterator").GetString()));
        Assert.All(fake.Calls, c => Assert.Equal(10, c.Body.GetProperty("Limit").GetInt32()));
    }

    [Fact]
    public async Task PersistentThrottling_GivesUpAfterMaxAttempts_AsATransientError()
    {
        using var fake = new FakeStreamsEndpoint(_ => FakeStreamsEndpoint.Error(400, "ProvisionedThroughputExceededException", "slow down"));
        using var client = Client(fake, maxAttempts: 4);

        var e = await Assert.ThrowsAsync<DynamoDbStreamsException>(() => client.GetRecordsAsync("it-1"));

        Assert.True(e.IsTransient);
        Assert.Equal("ProvisionedThroughputExceededException", e.ErrorCode);
        Assert.Contains("gave up after 4 attempts", e.Message);
        Assert.Equal(4, fake.Calls.Count);
    }

    [Fact]
    public async Task ClientErrors_AreNotRetried()
    {
        using var fake = new FakeStreamsEndpoint(_ => FakeStreamsEndpoint.Error(400, "ValidationException", "Invalid ShardIterator"));
        using var client = Client(fake);

        var e = await Assert.ThrowsAsync<DynamoDbStreamsException>(() => client.GetRecordsAsync("bogus"));

        Assert.False(e.IsTransient);
        Assert.Equal("ValidationException", e.ErrorCode);
        Assert.Single(fake.Calls);
    }

    [Fact]
    public async Task Requests_AreJson10_WithTargetAndSigV4ForDynamoDb()
    {
        using var fake = new FakeStreamsEndpoint(c => c.Op switch
        {
            "ListStreams" => FakeStreamsEndpoint.Ok(new { Streams = new[] { new { StreamArn = Arn, TableName = "orders", StreamLabel = "2026-11-21T00:00:00.000" } } }),
            "DescribeStream" when !c.Body.TryGetProperty("ExclusiveStartShardId", out _) => FakeStreamsEndpoint.Ok(new
            {
                StreamDescription = new
                {
                    StreamArn = Arn,
                    StreamStatus = "ENABLED",
                    StreamViewType = "NEW_IMAGE",
                    TableName = "orders",
                    KeySchema = new[] { new { AttributeName = "pk", KeyType = "HASH" } },
                    Shards = new object[]
                    {
                        new { ShardId = "shardId-parent", SequenceNumberRange = new { StartingSequenceNumber = "100", EndingSequenceNumber = "199" } },
                    },
                    LastEvaluatedShardId = "shardId-parent",
                },
            }),
            "DescribeStream" => FakeStreamsEndpoint.Ok(new
            {
                StreamDescription = new
                {
                    StreamArn = Arn,
                    Shards = new object[] { new { ShardId = "shardId-child", ParentShardId = "shardId-parent", SequenceNumberRange = new { StartingSequenceNumber = "200" } } },
                },
            }),
            _ => FakeStreamsEndpoint.Error(400, "ValidationException", "unexpected"),
        });
        using var client = Client(fake, token: "session-token");

        var streams = await client.ListAllStreamsAsync("orders");
        var desc = await client.DescribeStreamAllShardsAsync(Assert.Single(streams).StreamArn);

        Assert.Equal(["shardId-parent", "shardId-child"], desc.Shards.Select(s => s.ShardId));
        Assert.True(desc.Shards[0].IsClosed);
        Assert.False(desc.Shards[1].IsClosed);
        Assert.Equal("shardId-parent", desc.Shards[1].ParentShardId);
        Assert.Equal("200", desc.Shards[1].SequenceNumberRange.StartingSequenceNumber);
        Assert.Equal(["ListStreams", "DescribeStream", "DescribeStream"], fake.Calls.Select(c => c.Op));
        Assert.Equal("orders", fake.Calls[0].Body.GetProperty("TableName").GetString());
        Assert.Equal("shardId-parent", fake.Calls[2].Body.GetProperty("ExclusiveStartShardId").GetString());
        foreach (var c in fake.Calls)
        {
            Assert.Equal("application/x-amz-json-1.0", c.Headers["Content-Type"]);
            Assert.Equal("session-token", c.Headers["X-Amz-Security-Token"]);
            Assert.Matches(@"^AWS4-HMAC-SHA256 Credential=AKIDFAKE/\d{8}/us-east-1/dynamodb/aws4_request, " +
                           @"SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$", c.Headers["Authorization"]);
            Assert.Matches(@"^\d{8}T\d{6}Z$", c.Headers["X-Amz-Date"]);
        }
    }
}
