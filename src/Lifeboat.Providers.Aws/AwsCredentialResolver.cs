using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Lifeboat.Core.Config;

namespace Lifeboat.Providers.Aws;

/// <summary>
/// How every AWS store and resource resolves credentials (moved here from the S3 store so S3, DynamoDB, RDS and
/// Route 53 share it): access_key_env/secret_key_env, else a named profile from the shared credentials/config files,
/// then role_arn (STS AssumeRole, external_id) on top of either or of the SDK's default chain; with none of them, the
/// SDK's default chain (environment, profile "default", container/instance role). AssumeRole goes to AWS's STS, or to
/// the store's sts_endpoint (by default an S3-compatible server's own endpoint: tested against Ceph RGW's STS).
/// </summary>
public static class AwsCredentialResolver
{
    /// <summary>The credentials a store config names, or null for the SDK's default chain.</summary>
    public static AWSCredentials? Resolve(StoreConfig cfg) =>
        Resolve(cfg.Where.ToString(), cfg.AccessKeyEnv, cfg.SecretKeyEnv, cfg.Profile, cfg.RoleArn, cfg.ExternalId, cfg.StsEndpoint, cfg.Region);

    public static AWSCredentials? Resolve(string where, string? accessKeyEnv, string? secretKeyEnv, string? profile, string? roleArn, string? externalId,
        string? stsEndpoint = null, string? region = null)
    {
        AWSCredentials? creds = null;
        if (accessKeyEnv is not null)
        {
            var ak = Environment.GetEnvironmentVariable(accessKeyEnv);
            var sk = Environment.GetEnvironmentVariable(secretKeyEnv!);
            if (string.IsNullOrEmpty(ak) || string.IsNullOrEmpty(sk))
                throw new UserErrorException($"{where}: environment variables {accessKeyEnv} and {secretKeyEnv} must be set");
            creds = new BasicAWSCredentials(ak, sk);
        }
        else if (profile is not null)
        {
            if (!new CredentialProfileStoreChain().TryGetAWSCredentials(profile, out creds))
                throw new UserErrorException($"{where}.profile: no AWS profile named '{profile}' in the shared credentials or config file");
        }
        if (roleArn is not null)
        {
            creds ??= Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials();
            creds = stsEndpoint is null
                ? new AssumeRoleAWSCredentials(creds, roleArn, "lifeboat", new AssumeRoleAWSCredentialsOptions { ExternalId = externalId })
                : new EndpointAssumeRoleCredentials(creds, roleArn, externalId, stsEndpoint, region ?? "us-east-1", where);
        }
        return creds;
    }

    /// <summary>A credentials source for hand-written clients: the resolved credentials, else the SDK's default chain
    /// (looked up once, on first use), with a clear error naming <paramref name="where"/> when there are none.</summary>
    public static Func<AWSCredentials> Source(AWSCredentials? resolved, string where)
    {
        if (resolved is not null) return () => resolved;
        AWSCredentials? cached = null;
        return () =>
        {
            if (cached is not null) return cached;
            try { return cached = Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials(); }
            catch (AmazonClientException e)
            {
                throw new UserErrorException($"{where}: no AWS credentials found (set profile, access_key_env/secret_key_env, or the default AWS chain): {e.Message}", e);
            }
        };
    }

    /// <summary>The access key, secret and session token to sign with now; a credentials failure is a user error.</summary>
    public static async Task<ImmutableCredentials> KeysAsync(Func<AWSCredentials> source, string describe)
    {
        try
        {
            return await source().GetCredentialsAsync().ConfigureAwait(false);
        }
        catch (AmazonClientException e)
        {
            throw new UserErrorException($"{describe}: cannot get AWS credentials: {e.Message}", e);
        }
    }
}

/// <summary>
/// Temporary credentials of a role assumed through an STS at a given endpoint (an S3-compatible server's, or a private
/// AWS STS endpoint), renewed by the SDK's refreshing base class before they expire. The SDK's own
/// <see cref="AssumeRoleAWSCredentials"/> always asks AWS's STS. A refusal is a user error naming the role and endpoint.
/// </summary>
internal sealed class EndpointAssumeRoleCredentials(AWSCredentials source, string roleArn, string? externalId, string endpoint, string region, string where)
    : RefreshingAWSCredentials
{
    protected override CredentialsRefreshState GenerateNewCredentials() => GenerateNewCredentialsAsync().GetAwaiter().GetResult();

    protected override async Task<CredentialsRefreshState> GenerateNewCredentialsAsync()
    {
        using var sts = new Amazon.SecurityToken.AmazonSecurityTokenServiceClient(source,
            new Amazon.SecurityToken.AmazonSecurityTokenServiceConfig { ServiceURL = endpoint, AuthenticationRegion = region });
        try
        {
            var r = await sts.AssumeRoleAsync(new Amazon.SecurityToken.Model.AssumeRoleRequest
            {
                RoleArn = roleArn, RoleSessionName = "lifeboat", ExternalId = externalId, DurationSeconds = 3600,
            }).ConfigureAwait(false);
            var c = r.Credentials ?? throw new UserErrorException($"{where}.role_arn: STS at {endpoint} answered AssumeRole for {roleArn} without credentials");
            var expires = c.Expiration is { } e ? e.ToUniversalTime() : TimeProvider.System.GetUtcNow().UtcDateTime.AddMinutes(15); // the SDK's refresh compares with the system clock
            return new CredentialsRefreshState(new ImmutableCredentials(c.AccessKeyId, c.SecretAccessKey, c.SessionToken), expires);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            throw new UserErrorException($"{where}.role_arn: STS at {endpoint} refused AssumeRole for {roleArn}: {e.Message}", e);
        }
    }
}
