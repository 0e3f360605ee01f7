using System.Text;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Rds;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// moto, an independent implementation of AWS's APIs (S3, DynamoDB, RDS, Route 53, STS, SNS, EC2), the tests of the AWS
/// paths run against. Uses LIFEBOAT_MOTO_ENDPOINT when set (tests/run.sh starts the server and exports it); otherwise
/// starts it with tests/servers/moto.sh. Never skipped: without a server these tests fail. moto checks no signatures
/// and no IAM policies (any key pair is accepted), keeps everything in memory, and tells regions apart by the
/// request's SigV4 credential scope.
/// </summary>
public sealed class MotoServer
{
    private static readonly Lazy<MotoServer> Shared = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    public static MotoServer Instance => Shared.Value;

    public string Endpoint { get; private init; } = "";
    public string AccessKey => "lifeboat-moto";
    public string SecretKey => "lifeboat-moto-secret";

    private static MotoServer Start()
    {
        if (Environment.GetEnvironmentVariable("LIFEBOAT_MOTO_ENDPOINT") is { Length: > 0 } ep)
            return new MotoServer { Endpoint = ep.TrimEnd('/') };
        var log = Path.Combine(Path.GetTempPath(), $"lifeboat-moto-start-{Environment.ProcessId}.log");
        var (code, _) = Proc.Run("bash", ["-c", $"bash \"$0\" start >\"$1\" 2>&1 </dev/null", Path.Combine(Repo.Root, "tests/servers/moto.sh"), log], TimeSpan.FromMinutes(2));
        var output = File.ReadAllText(log);
        if (code != 0) throw new InvalidOperationException("tests/servers/moto.sh start failed:\n" + output);
        var m = Regex.Match(output, @"export LIFEBOAT_MOTO_ENDPOINT=(\S+)");
        if (!m.Success) throw new InvalidOperationException("tests/servers/moto.sh start printed no LIFEBOAT_MOTO_ENDPOINT:\n" + output);
        return new MotoServer { Endpoint = m.Groups[1].Value.Trim('\'', '"').TrimEnd('/') };
    }

    /// <summary>Sets the two environment variables a store's <c>access_key_env</c>/<c>secret_key_env</c> name.</summary>
    public (string AccessEnv, string SecretEnv) CredentialEnv()
    {
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_MOTO_AK", AccessKey);
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_MOTO_SK", SecretKey);
        return ("LIFEBOAT_TEST_MOTO_AK", "LIFEBOAT_TEST_MOTO_SK");
    }

    /// <summary>An RDS call Lifeboat never makes (creating an instance, a snapshot of someone else's), in
    /// <paramref name="region"/>.</summary>
    public async Task RdsCallAsync(string region, string action, TimeProvider time, params (string, string)[] p)
    {
        using var http = new AwsHttp(new AwsClientOptions
        {
            Endpoint = new Uri(Endpoint + "/"),
            Region = region,
            Service = RdsClient.Service,
            Credentials = () => new BasicAWSCredentials(AccessKey, SecretKey),
            Time = time,
            BaseDelay = TimeSpan.FromMilliseconds(10),
        });
        var body = Encoding.UTF8.GetBytes(RdsClient.Form(action, p.Select(x => new KeyValuePair<string, string>(x.Item1, x.Item2))));
        await http.SendAsync(HttpMethod.Post, "/", body, "application/x-www-form-urlencoded; charset=utf-8", action, CancellationToken.None);
    }

    /// <summary>A PostgreSQL DB instance named <paramref name="id"/> in <paramref name="region"/>.</summary>
    public Task CreateDbInstanceAsync(string region, string id, TimeProvider time) =>
        RdsCallAsync(region, "CreateDBInstance", time, ("DBInstanceIdentifier", id), ("DBInstanceClass", "db.t3.micro"), ("Engine", "postgres"),
            ("AllocatedStorage", "20"), ("MasterUsername", "dba"), ("MasterUserPassword", "not-a-secret-1"));
}
