using System.Text.RegularExpressions;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// The real DynamoDB Local (AWS's emulator, Streams included) the table tests run against. Uses LIFEBOAT_DDB_ENDPOINT
/// when set (tests/run.sh starts the server and exports it); otherwise starts it with tests/servers/dynamodb.sh.
/// Never skipped: without a server the DynamoDB tests fail.
/// DynamoDB Local runs with -sharedDb, accepts any credentials and does not verify signatures; tests still sign
/// every request, with the fixed keys below.
/// </summary>
public sealed class DynamoDbLocal
{
    private static readonly Lazy<DynamoDbLocal> Shared = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    public static DynamoDbLocal Instance => Shared.Value;

    public string Endpoint { get; private init; } = "";
    public string Region => "us-east-1";
    public string AccessKey => "lifeboat";
    public string SecretKey => "lifeboat-secret";

    private static DynamoDbLocal Start()
    {
        if (Environment.GetEnvironmentVariable("LIFEBOAT_DDB_ENDPOINT") is { Length: > 0 } ep)
            return new DynamoDbLocal { Endpoint = ep.TrimEnd('/') };

        // Output goes to a file: the daemon the script starts outlives it.
        var log = Path.Combine(Path.GetTempPath(), $"lifeboat-dynamodb-start-{Environment.ProcessId}.log");
        var (code, _) = Proc.Run("bash", ["-c", $"bash \"$0\" start >\"$1\" 2>&1 </dev/null", Path.Combine(Repo.Root, "tests/servers/dynamodb.sh"), log], TimeSpan.FromMinutes(3));
        var output = File.ReadAllText(log);
        if (code != 0) throw new InvalidOperationException("tests/servers/dynamodb.sh start failed:\n" + output);
        var m = Regex.Match(output, @"export LIFEBOAT_DDB_ENDPOINT=(\S+)");
        if (!m.Success) throw new InvalidOperationException("tests/servers/dynamodb.sh start printed no LIFEBOAT_DDB_ENDPOINT:\n" + output);
        return new DynamoDbLocal { Endpoint = m.Groups[1].Value.Trim('\'', '"').TrimEnd('/') };
    }

    /// <summary>A <c>type: dynamodb</c> store config for this server (credentials through environment variables set for
    /// the process, as users may configure them).</summary>
    public Core.Config.StoreConfig StoreConfig(string name = "ddb")
    {
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_DDB_AK", AccessKey);
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_DDB_SK", SecretKey);
        return new Core.Config.StoreConfig(name, Core.Config.StoreType.DynamoDb, new Core.Config.ConfigLocation("test", 1, name),
            Endpoint: Endpoint, Region: Region, AccessKeyEnv: "LIFEBOAT_TEST_DDB_AK", SecretKeyEnv: "LIFEBOAT_TEST_DDB_SK");
    }

    /// <summary>An AWSSDK.DynamoDBv2 client for the table API (creating tables, writing items).</summary>
    public Amazon.DynamoDBv2.AmazonDynamoDBClient DynamoClient() =>
        new(new Amazon.Runtime.BasicAWSCredentials(AccessKey, SecretKey),
            new Amazon.DynamoDBv2.AmazonDynamoDBConfig { ServiceURL = Endpoint, AuthenticationRegion = Region, MaxErrorRetry = 2 });

    /// <summary>Lifeboat's own Streams client for this server.</summary>
    public Providers.DynamoDb.StreamsClient StreamsClient(TimeProvider? time = null) => new(new Providers.DynamoDb.StreamsClientOptions
    {
        Endpoint = new Uri(Endpoint),
        Region = Region,
        Credentials = () => new Amazon.Runtime.BasicAWSCredentials(AccessKey, SecretKey),
        Time = time ?? TimeProvider.System,
    });

    public static string NewTableName(string hint) => $"{hint}-{Guid.NewGuid().ToString("N")[..10]}";
}
