using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Lifeboat.Providers.DynamoDb;
using Xunit;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>Tables on the real DynamoDB Local for end-to-end tests: create, write, read back, and a config file with
/// two dynamodb stores on it (as two regions would be).</summary>
public sealed class DdbTables : IDisposable
{
    public static readonly string[] KeyNames = ["pk", "sk"];
    public DynamoDbLocal Server { get; } = DynamoDbLocal.Instance;
    public AmazonDynamoDBClient Client { get; }

    public DdbTables()
    {
        Client = Server.DynamoClient();
        Server.StoreConfig(); // sets LIFEBOAT_TEST_DDB_AK/SK for in-process replicators
    }

    public void Dispose() => Client.Dispose();

    /// <summary>Environment for the CLI process: the key variables the config names.</summary>
    public Dictionary<string, string?> Env => new()
    {
        ["LIFEBOAT_TEST_DDB_AK"] = Server.AccessKey,
        ["LIFEBOAT_TEST_DDB_SK"] = Server.SecretKey,
        ["AWS_CONFIG_FILE"] = "/nonexistent",
        ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent",
    };

    public string Stores => StoresWith(null);

    /// <summary>The two stores; the recovery one at <paramref name="recoveryEndpoint"/> when given (a proxy in front of
    /// the same server).</summary>
    public string StoresWith(string? recoveryEndpoint) => $"""
          primary:  {"{"} type: dynamodb, endpoint: {Server.Endpoint}, region: us-east-1, access_key_env: LIFEBOAT_TEST_DDB_AK, secret_key_env: LIFEBOAT_TEST_DDB_SK {"}"}
          recovery: {"{"} type: dynamodb, endpoint: {recoveryEndpoint ?? Server.Endpoint}, region: us-west-2, access_key_env: LIFEBOAT_TEST_DDB_AK, secret_key_env: LIFEBOAT_TEST_DDB_SK {"}"}
        """;

    /// <summary>A config with one table resource <c>orders</c> from primary/<paramref name="source"/> to
    /// recovery/<paramref name="target"/>; <paramref name="extra"/> is appended to the resource. The recovery store is
    /// reached through <paramref name="recoveryEndpoint"/> when given.</summary>
    public string Config(TempDir dir, string source, string target, string extra = "", string moreStores = "", string moreResources = "", bool createTarget = true,
        string? recoveryEndpoint = null) => dir.File("lifeboat.yaml", $"""
        state: state/lifeboat.db
        stores:
        {StoresWith(recoveryEndpoint)}
        {moreStores}
        resources:
          - name: orders
            type: table
            source: {"{"} store: primary, table: {source} {"}"}
            target: {"{"} store: recovery, table: {target} {"}"}
            create_target: {(createTarget ? "true" : "false")}
            rpo: 5m
        {extra}
        {moreResources}
        """);

    public async Task CreateAsync(string name, StreamViewType? stream, bool numberSortKey = true)
    {
        var req = new CreateTableRequest
        {
            TableName = name,
            BillingMode = BillingMode.PAY_PER_REQUEST,
            KeySchema = [new("pk", KeyType.HASH), new("sk", KeyType.RANGE)],
            AttributeDefinitions = [new("pk", ScalarAttributeType.S), new("sk", numberSortKey ? ScalarAttributeType.N : ScalarAttributeType.S)],
        };
        if (stream is not null) req.StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = stream };
        await Client.CreateTableAsync(req);
    }

    public static Dictionary<string, DdbValue> Key(string pk, int sk) => new()
    {
        ["pk"] = DdbValue.S(pk),
        ["sk"] = DdbValue.N(sk.ToString(CultureInfo.InvariantCulture)),
    };

    public static Dictionary<string, DdbValue> Item(string pk, int sk, string v, int pad = 0) => new(Key(pk, sk))
    {
        ["v"] = DdbValue.S(v),
        ["n"] = DdbValue.N("12345678901234567890123456789012345678"),
        ["tags"] = DdbValue.SS(["a", "b", "c"]),
        ["nums"] = DdbValue.NS(["1", "2.5", "-3"]),
        ["m"] = DdbValue.M(new Dictionary<string, DdbValue> { ["l"] = DdbValue.L([DdbValue.Null, DdbValue.True]) }),
        ["pad"] = DdbValue.S(new string('x', pad)),
    };

    public Task PutAsync(string table, IReadOnlyDictionary<string, DdbValue> item) =>
        Client.PutItemAsync(new PutItemRequest { TableName = table, Item = DdbSdk.ToSdk(item) });

    public Task DeleteAsync(string table, string pk, int sk) =>
        Client.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = DdbSdk.ToSdk(Key(pk, sk)) });

    /// <summary>Writes many items quickly (BatchWriteItem, 8 calls at once).</summary>
    public async Task LoadAsync(string table, IEnumerable<Dictionary<string, DdbValue>> items)
    {
        var writes = items.Select(i => new WriteRequest { PutRequest = new PutRequest { Item = DdbSdk.ToSdk(i) } }).ToList();
        await TableSchema.BatchWriteAsync(Client, table, writes, 8, TimeProvider.System, CancellationToken.None);
    }

    public async Task<Dictionary<string, Dictionary<string, DdbValue>>> ScanAsync(string table)
    {
        var all = new Dictionary<string, Dictionary<string, DdbValue>>(StringComparer.Ordinal);
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var page = await Client.ScanAsync(new ScanRequest { TableName = table, ExclusiveStartKey = start, ConsistentRead = true });
            foreach (var i in page.Items ?? [])
            {
                var item = DdbSdk.FromSdk(i);
                all[TableReplicator.KeyString(item, KeyNames)] = item;
            }
            start = page.LastEvaluatedKey is { Count: > 0 } l ? l : null;
        } while (start is not null);
        return all;
    }

    public async Task<long> CountAsync(string table)
    {
        try { return (await Client.DescribeTableAsync(table)).Table.ItemCount ?? 0; }
        catch (ResourceNotFoundException) { return 0; }
    }

    public static string KeyString(string pk, int sk) => TableReplicator.KeyString(Key(pk, sk), KeyNames);

    public static void AssertSameItems(Dictionary<string, Dictionary<string, DdbValue>> expected, Dictionary<string, Dictionary<string, DdbValue>> actual, params string[] excluded)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, item) in expected)
        {
            var want = item.Where(kv => !excluded.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.True(DdbValue.M(want).Equals(DdbValue.M(actual[k])), $"{k}: expected {DdbJson.SerializeItem(want)}\n got {DdbJson.SerializeItem(actual[k])}");
        }
    }
}
