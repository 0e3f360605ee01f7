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
                ? new AwsAssumeRoleCredentials(new AssumeRoleAWSCredentials(creds, roleArn, "lifeboat", new AssumeRoleAWSCredentialsOptions { ExternalId = externalId }), roleArn, where)
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
        catch (AmazonServiceException e) when (e.StatusCode != 0)
        {
            throw new UserErrorException($"{where}.role_arn: STS at {Shown(endpoint)} refused AssumeRole for {roleArn}: {Refusal(e)}", e);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            throw new UserErrorException($"{where}.role_arn: cannot ask STS at {Shown(endpoint)} for AssumeRole of {roleArn}: {OneLine(e.Message)}", e);
        }
    }

    private static string Shown(string endpoint) => Lifeboat.Core.Abstractions.Redact.Url(endpoint) ?? endpoint;

    private static string OneLine(string text) => string.Join(' ', text.Split((char[])['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>An STS refusal in one line: the error code and message STS sent, and the HTTP status. The SDK's own
    /// message quotes the whole answer when it carries no message, or is not an AWS error at all (an HTML page from a
    /// proxy or a server that is not an STS): that body is never shown; its content type says what came instead.</summary>
    internal static string Refusal(AmazonServiceException e, string hint = ": is this the STS endpoint (sts_endpoint, else the store's endpoint)?")
    {
        var status = (int)e.StatusCode;
        var sdkFallback = e.Message.StartsWith("The service returned an error", StringComparison.Ordinal) ||
                          e.Message.StartsWith("Error making request", StringComparison.Ordinal);
        var message = sdkFallback || string.IsNullOrWhiteSpace(e.Message) ? null : OneLine(e.Message);
        if (!string.IsNullOrEmpty(e.ErrorCode))
            return $"{e.ErrorCode}{(message is null ? "" : ": " + message)} (HTTP {status})";
        var type = (e.InnerException as Amazon.Runtime.Internal.HttpErrorResponseException)?.Response?.ContentType;
        return $"HTTP {status} {e.StatusCode} without an AWS error{(string.IsNullOrEmpty(type) ? "" : $" (a {type.Split(';')[0].Trim()} answer)")}{hint}";
    }
}

/// <summary>The SDK's <see cref="AssumeRoleAWSCredentials"/> (AWS's STS, as the SDK finds it), with a refusal as one
/// line naming the role and the error code and message STS sent (the SDK says only "Error calling AssumeRole").</summary>
internal sealed class AwsAssumeRoleCredentials(AssumeRoleAWSCredentials inner, string roleArn, string where) : AWSCredentials
{
    public override ImmutableCredentials GetCredentials()
    {
        try { return inner.GetCredentials(); }
        catch (AmazonClientException e) { throw Refused(e); }
    }

    public override async Task<ImmutableCredentials> GetCredentialsAsync()
    {
        try { return await inner.GetCredentialsAsync().ConfigureAwait(false); }
        catch (AmazonClientException e) { throw Refused(e); }
    }

    /// <summary>AWS's STS, or the endpoint the SDK was told to use instead (its documented environment variables).</summary>
    private static string Sts =>
        Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_STS") is { Length: > 0 } sts ? $"STS at {Lifeboat.Core.Abstractions.Redact.Url(sts)}"
        : Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL") is { Length: > 0 } any ? $"STS at {Lifeboat.Core.Abstractions.Redact.Url(any)}"
        : "AWS STS";

    private UserErrorException Refused(AmazonClientException e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is AmazonServiceException { StatusCode: not 0 } s)
                return new UserErrorException($"{where}.role_arn: {Sts} refused AssumeRole for {roleArn}: {EndpointAssumeRoleCredentials.Refusal(s, hint: "")}", e);
        var cause = e.InnerException is { } i ? ": " + i.Message : "";
        return new UserErrorException($"{where}.role_arn: cannot ask {Sts} for AssumeRole of {roleArn}: " +
                                      string.Join(' ', (e.Message + cause).Split((char[])['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)), e);
    }
}
