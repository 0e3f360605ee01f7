using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Lifeboat.Tests.DynamoDb;

/// <summary>
/// Lifeboat's <see cref="StreamsClient"/> against the real DynamoDB Local (tests/servers/dynamodb.sh): tables are
/// created and written with AWSSDK.DynamoDBv2, and every change is read back from the table's stream
/// (ListStreams → DescribeStream → GetShardIterator(TRIM_HORIZON) → GetRecords until caught up) with exact values.
/// </summary>
public sealed class StreamsClientTests(ITestOutputHelper output)
{
    private static readonly DynamoDbLocal Ddb = DynamoDbLocal.Instance;

    // Numbers chosen in DynamoDB's canonical form (it normalises e.g. "1.50" to "1.5"), so the exact text must come back.
    private const string Digits38 = "12345678901234567890123456789012345678";
    private const string Negative38 = "-9.9999999999999999999999999999999999999";
    private const string Tiny = "0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001";
    private const string Huge = "99999999999999999999999999999999999999000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    internal static async Task<string> CreateTableAsync(AmazonDynamoDBClient ddb, string name, StreamViewType view, bool numberSortKey = true)
    {
        var req = new CreateTableRequest
        {
            TableName = name,
            BillingMode = BillingMode.PAY_PER_REQUEST,
            KeySchema = [new KeySchemaElement("pk", KeyType.HASH)],
            AttributeDefinitions = [new AttributeDefinition("pk", ScalarAttributeType.S)],
            StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = view },
        };
        if (numberSortKey)
        {
            req.KeySchema.Add(new KeySchemaElement("sk", KeyType.RANGE));
            req.AttributeDefinitions.Add(new AttributeDefinition("sk", ScalarAttributeType.N));
        }
        var resp = await ddb.CreateTableAsync(req);
        return resp.TableDescription.LatestStreamArn;
    }

    /// <summary>Reads the whole stream of <paramref name="table"/> through the client under test, parents before
    /// children, until <paramref name="expected"/> records arrived (records appear a few ms after the write).</summary>
    internal static async Task<List<StreamRecord>> ReadStreamAsync(StreamsClient client, string table, int expected, TimeSpan timeout)
    {
        var streams = await client.ListAllStreamsAsync(table);
        var stream = Assert.Single(streams);
        Assert.Equal(table, stream.TableName);
        var desc = await client.DescribeStreamAllShardsAsync(stream.StreamArn);
        Assert.Equal("NEW_AND_OLD_IMAGES", desc.StreamViewType);
        Assert.Equal(table, desc.TableName);
        Assert.Contains(desc.KeySchema, k => k is { AttributeName: "pk", KeyType: "HASH" });
        Assert.NotEmpty(desc.Shards);

        var records = new List<StreamRecord>();
        var readers = desc.Shards.Select(s => new ShardReader(client, stream.StreamArn, s.ShardId, ShardIteratorType.TrimHorizon)).ToList();
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        while (records.Count < expected)
        {
            var got = 0;
            foreach (var r in readers.Where(r => !r.IsFinished))
            {
                var batch = await r.ReadAsync(1000);
                records.AddRange(batch);
                got += batch.Count;
            }
            if (got == 0)
            {
                if (TimeProvider.System.GetUtcNow() > deadline)
                    throw new Xunit.Sdk.XunitException($"only {records.Count} of {expected} stream records after {timeout.TotalSeconds}s");
                await Task.Delay(20);
            }
        }
        return records;
    }

    private static Dictionary<string, DdbValue> EveryType(string pk, string sk)
    {
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        return new Dictionary<string, DdbValue>
        {
            ["pk"] = DdbValue.S(pk),
            ["sk"] = DdbValue.N(sk),
            ["s"] = DdbValue.S("héllo wörld ✓ 🚣 \"quoted\" \\ \n\t"),
            ["s_empty"] = DdbValue.S(""),
            ["n38"] = DdbValue.N(Digits38),
            ["n_neg"] = DdbValue.N(Negative38),
            ["n_tiny"] = DdbValue.N(Tiny),
            ["n_huge"] = DdbValue.N(Huge),
            ["n_frac"] = DdbValue.N("3.14159265358979323846264338327950288"),
            ["b"] = DdbValue.B(bytes),
            ["ss"] = DdbValue.SS(["b", "a", "ç", "long string member"]),
            ["ns"] = DdbValue.NS([Digits38, "-1", "0.5", "1" + new string('0', 100)]),
            ["bs"] = DdbValue.BS([new byte[] { 0 }, new byte[] { 1, 2, 3 }, bytes]),
            ["m"] = DdbValue.M(new Dictionary<string, DdbValue>
            {
                ["inner_s"] = DdbValue.S("x"),
                ["inner_n"] = DdbValue.N(Digits38),
                ["inner_l"] = DdbValue.L([DdbValue.Null, DdbValue.True, DdbValue.N("-0.1")]),
                ["empty_m"] = DdbValue.M(new Dictionary<string, DdbValue>()),
            }),
            ["l"] = DdbValue.L([DdbValue.S("a"), DdbValue.N("1"), DdbValue.B(new byte[] { 9 }), DdbValue.SS(["z"]), DdbValue.L([]), DdbValue.False]),
            ["null"] = DdbValue.Null,
            ["t"] = DdbValue.True,
            ["f"] = DdbValue.False,
            ["deep"] = Nested(32),
        };
    }

    /// <summary>A value nested <paramref name="levels"/> deep (maps and lists alternating), DynamoDB's limit being 32.</summary>
    internal static DdbValue Nested(int levels)
    {
        var v = DdbValue.N(Digits38);
        for (var i = 1; i < levels; i++)
            v = i % 2 == 0 ? DdbValue.L([v, DdbValue.S($"level{i}")]) : DdbValue.M(new Dictionary<string, DdbValue> { [$"k{i}"] = v });
        return v;
    }

    private static Task PutAsync(AmazonDynamoDBClient ddb, string table, Dictionary<string, DdbValue> item) =>
        ddb.PutItemAsync(new PutItemRequest { TableName = table, Item = DdbSdk.ToSdk(item) });

    private static void AssertItemEqual(IReadOnlyDictionary<string, DdbValue> expected, IReadOnlyDictionary<string, DdbValue>? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, v) in expected)
            Assert.True(v.Equals(actual[k]), $"attribute {k}: expected {v}, got {actual[k]}");
        // Numbers: the exact decimal text, not just an equal value.
        foreach (var (k, v) in expected.Where(kv => kv.Value.Type == DdbType.N))
            Assert.Equal(v.Text, actual[k].Text);
    }

    [Fact]
    public async Task EveryAttributeType_RoundTripsExactly_InsertModifyRemoveInOrder()
    {
        using var ddb = Ddb.DynamoClient();
        using var client = Ddb.StreamsClient();
        var table = DynamoDbLocal.NewTableName("types");
        await CreateTableAsync(ddb, table, StreamViewType.NEW_AND_OLD_IMAGES);

        var v1 = EveryType("a", Digits38);
        var v2 = new Dictionary<string, DdbValue>(v1) { ["s"] = DdbValue.S("changed"), ["n38"] = DdbValue.N("-" + Digits38), ["added"] = DdbValue.L([DdbValue.M(new Dictionary<string, DdbValue>())]) };
        v2.Remove("ss");
        var other1 = EveryType("b", "-1.5");
        var other2 = new Dictionary<string, DdbValue>(other1) { ["t"] = DdbValue.False };

        await PutAsync(ddb, table, v1);                                  // a: INSERT
        await PutAsync(ddb, table, other1);                              // b: INSERT
        await PutAsync(ddb, table, v2);                                  // a: MODIFY
        await PutAsync(ddb, table, other2);                              // b: MODIFY
        await ddb.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = DdbSdk.ToSdk(new Dictionary<string, DdbValue> { ["pk"] = DdbValue.S("a"), ["sk"] = DdbValue.N(Digits38) }) }); // a: REMOVE

        // The item as DynamoDB stores it, through the SDK converter, equals what was written.
        var stored = await ddb.GetItemAsync(new GetItemRequest { TableName = table, Key = DdbSdk.ToSdk(new Dictionary<string, DdbValue> { ["pk"] = DdbValue.S("b"), ["sk"] = DdbValue.N("-1.5") }), ConsistentRead = true });
        AssertItemEqual(other2, DdbSdk.FromSdk(stored.Item));

        var records = await ReadStreamAsync(client, table, 5, TimeSpan.FromSeconds(20));
        Assert.Equal(5, records.Count);
        output.WriteLine($"sequence numbers: {string.Join(", ", records.Select(r => r.SequenceNumber))}");
        for (var i = 1; i < records.Count; i++)
            Assert.True(SequenceNumbers.Compare(records[i - 1].SequenceNumber, records[i].SequenceNumber) < 0, "sequence numbers grow within a shard");

        var a = records.Where(r => r.Keys["pk"].Text == "a").ToList();
        var b = records.Where(r => r.Keys["pk"].Text == "b").ToList();
        Assert.Equal([StreamEventName.Insert, StreamEventName.Modify, StreamEventName.Remove], a.Select(r => r.EventName));
        Assert.Equal([StreamEventName.Insert, StreamEventName.Modify], b.Select(r => r.EventName));

        Assert.Equal(Digits38, a[0].Keys["sk"].Text);
        Assert.Equal(2, a[0].Keys.Count);
        AssertItemEqual(v1, a[0].NewImage);
        Assert.Null(a[0].OldImage);
        AssertItemEqual(v1, a[1].OldImage);
        AssertItemEqual(v2, a[1].NewImage);
        AssertItemEqual(v2, a[2].OldImage);
        Assert.Null(a[2].NewImage);
        AssertItemEqual(other1, b[0].NewImage);
        AssertItemEqual(other2, b[1].NewImage);

        foreach (var r in records)
        {
            Assert.True(r.SizeBytes > 0);
            Assert.Equal("NEW_AND_OLD_IMAGES", r.StreamViewType);
            Assert.False(string.IsNullOrEmpty(r.EventId));
            Assert.NotNull(r.ApproximateCreationDateTime);
            // DynamoDB Local truncates it to the minute.
            Assert.InRange(r.ApproximateCreationDateTime!.Value, TimeProvider.System.GetUtcNow().AddMinutes(-5), TimeProvider.System.GetUtcNow().AddMinutes(1));
        }

        // Sets keep their members (compared as sets; the service may reorder them).
        Assert.Equal(new[] { "a", "b", "ç", "long string member" }.Order(StringComparer.Ordinal), a[0].NewImage!["ss"].Strings!.Order(StringComparer.Ordinal));
        Assert.Contains(Digits38, a[0].NewImage!["ns"].Strings!);
        // The nested value is all there, down to the leaf 32 levels below the attribute.
        var leaf = a[0].NewImage!["deep"];
        var depth = 1;
        while (leaf.Type is DdbType.M or DdbType.L)
        {
            leaf = leaf.Type == DdbType.M ? leaf.Map!.Values.Single() : leaf.List![0];
            depth++;
        }
        Assert.Equal(32, depth);
        Assert.Equal(Digits38, leaf.Text);
    }

    [Fact]
    public async Task ItemNear400KB_RoundTripsThroughTheStream()
    {
        using var ddb = Ddb.DynamoClient();
        using var client = Ddb.StreamsClient();
        var table = DynamoDbLocal.NewTableName("big");
        await CreateTableAsync(ddb, table, StreamViewType.NEW_AND_OLD_IMAGES);

        var rnd = new Random(42);
        var blob = new byte[300_000];
        rnd.NextBytes(blob);
        var text = new string(Enumerable.Range(0, 99_000).Select(_ => (char)rnd.Next('a', 'z' + 1)).ToArray());
        var item = new Dictionary<string, DdbValue>
        {
            ["pk"] = DdbValue.S("big"),
            ["sk"] = DdbValue.N("1"),
            ["blob"] = DdbValue.B(blob),
            ["text"] = DdbValue.S(text),
        };
        await PutAsync(ddb, table, item);
        var changed = new Dictionary<string, DdbValue>(item) { ["text"] = DdbValue.S(text.ToUpperInvariant()) };
        await PutAsync(ddb, table, changed);

        var records = await ReadStreamAsync(client, table, 2, TimeSpan.FromSeconds(20));
        Assert.Equal([StreamEventName.Insert, StreamEventName.Modify], records.Select(r => r.EventName));
        AssertItemEqual(item, records[0].NewImage);
        AssertItemEqual(item, records[1].OldImage);
        AssertItemEqual(changed, records[1].NewImage);
        Assert.True(records[0].SizeBytes > 390_000, $"SizeBytes {records[0].SizeBytes}");
    }

    [Fact]
    public async Task ShardReader_ResumesAfterACheckpoint_WithoutRepeatingOrSkipping()
    {
        using var ddb = Ddb.DynamoClient();
        using var client = Ddb.StreamsClient();
        var table = DynamoDbLocal.NewTableName("resume");
        await CreateTableAsync(ddb, table, StreamViewType.NEW_AND_OLD_IMAGES);
        for (var i = 0; i < 10; i++)
            await PutAsync(ddb, table, new Dictionary<string, DdbValue> { ["pk"] = DdbValue.S("k"), ["sk"] = DdbValue.N("1"), ["v"] = DdbValue.N(i.ToString(System.Globalization.CultureInfo.InvariantCulture)) });

        var all = await ReadStreamAsync(client, table, 10, TimeSpan.FromSeconds(20));
        var stream = (await client.ListAllStreamsAsync(table)).Single();
        var shard = (await client.DescribeStreamAllShardsAsync(stream.StreamArn)).Shards.Single();

        var reader = new ShardReader(client, stream.StreamArn, shard.ShardId, after: all[3].SequenceNumber);
        var rest = new List<StreamRecord>();
        var deadline = TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(20);
        while (rest.Count < 6)
        {
            var batch = await reader.ReadAsync(2);
            Assert.True(batch.Count <= 2);
            rest.AddRange(batch);
            // Polling the real DynamoDB Local stream: there is nothing to wait on but the next read.
            if (batch.Count == 0 && TimeProvider.System.GetUtcNow() > deadline)
                throw new Xunit.Sdk.XunitException($"only {rest.Count} of 6 records after the 4th in 20 s");
            if (batch.Count == 0) await Task.Delay(20);
        }
        Assert.Equal(all.Skip(4).Select(r => r.SequenceNumber), rest.Select(r => r.SequenceNumber));
        Assert.Equal(Enumerable.Range(4, 6).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), rest.Select(r => r.NewImage!["v"].Text));
        Assert.Equal(all[^1].SequenceNumber, reader.LastSequenceNumber);
        Assert.False(reader.IsFinished); // DynamoDB Local's shard stays open
    }

    [Fact]
    public async Task ShardReaderAtLatest_ReadsOnlyLaterRecords_AlsoOnAShardThatHadNone()
    {
        // The initial sync starts its tail at LATEST positions taken before its scan. DynamoDB Local answers
        // TrimmedDataAccessException to a LATEST iterator taken on a shard with no record yet once other tables were
        // written before this one (its sequence numbers are global): the reader then restarts at TRIM_HORIZON, where every
        // record of that shard came after the position anyway.
        using var ddb = Ddb.DynamoClient();
        using var client = Ddb.StreamsClient();
        async Task<(string Table, ShardReader Reader)> AtLatestAsync(int before)
        {
            var table = DynamoDbLocal.NewTableName("latest");
            var arn = await CreateTableAsync(ddb, table, StreamViewType.NEW_AND_OLD_IMAGES, numberSortKey: false);
            for (var i = 0; i < before; i++) await ddb.PutItemAsync(table, new() { ["pk"] = new AttributeValue { S = "old" + i } });
            var shard = Assert.Single((await client.DescribeStreamAllShardsAsync(arn)).Shards);
            var reader = new ShardReader(client, arn, shard.ShardId, ShardIteratorType.Latest);
            Assert.Empty(await reader.ReadAsync(1000)); // the iterator is taken now
            return (table, reader);
        }
        var (full, fullReader) = await AtLatestAsync(3);
        var (empty, emptyReader) = await AtLatestAsync(0);
        var other = DynamoDbLocal.NewTableName("other");
        await CreateTableAsync(ddb, other, StreamViewType.NEW_IMAGE, numberSortKey: false);
        await ddb.PutItemAsync(other, new() { ["pk"] = new AttributeValue { S = "elsewhere" } });
        foreach (var t in new[] { full, empty })
            for (var i = 0; i < 2; i++) await ddb.PutItemAsync(t, new() { ["pk"] = new AttributeValue { S = "new" + i } });

        foreach (var reader in new[] { fullReader, emptyReader })
        {
            var got = new List<StreamRecord>();
            await Eventually.TrueAsync(async () => { got.AddRange(await reader.ReadAsync(1000)); return got.Count >= 2; },
                TimeSpan.FromSeconds(10), "the 2 records after the LATEST position");
            Assert.Equal(["new0", "new1"], got.Select(r => r.Keys["pk"].Text));
        }
        Assert.False(fullReader.RestartedAtTrimHorizon);
    }

    [Fact]
    public async Task ForStore_UsesTheStoreConfigsEndpointAndCredentials()
    {
        using var ddb = Ddb.DynamoClient();
        var table = DynamoDbLocal.NewTableName("store");
        var arn = await CreateTableAsync(ddb, table, StreamViewType.NEW_AND_OLD_IMAGES);
        using var client = StreamsClient.ForStore(Ddb.StoreConfig(), TimeProvider.System);
        var stream = Assert.Single(await client.ListAllStreamsAsync(table));
        Assert.Equal(arn, stream.StreamArn);

        var missing = Ddb.StoreConfig() with { AccessKeyEnv = "LIFEBOAT_TEST_UNSET_AK", SecretKeyEnv = "LIFEBOAT_TEST_UNSET_SK" };
        var e = Assert.Throws<Core.Config.UserErrorException>(() => StreamsClient.ForStore(missing, TimeProvider.System));
        Assert.Contains("LIFEBOAT_TEST_UNSET_AK", e.Message);
    }

    [Fact]
    public async Task UnknownStream_IsATypedResourceNotFound()
    {
        using var client = Ddb.StreamsClient();
        var e = await Assert.ThrowsAsync<StreamResourceNotFoundException>(() =>
            client.DescribeStreamAsync("arn:aws:dynamodb:ddblocal:000000000000:table/nope/stream/2020-01-01T00:00:00.000"));
        Assert.Equal("ResourceNotFoundException", e.ErrorCode);
        Assert.False(e.IsTransient);
    }
}
