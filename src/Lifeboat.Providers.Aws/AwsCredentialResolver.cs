using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon;
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
    /// <summary>
    /// The SDK finds its STS client by reflection, which the AOT release (ADR 0008) cannot do: Lifeboat's own role_arn
    /// (and a `profile:` that assumes a role from a source_profile) therefore never goes through the SDK's
    /// AssumeRoleAWSCredentials: <see cref="StsAssumeRoleCredentials"/> builds its STS client itself, signed with the
    /// source credentials. What remains the SDK's is the default chain's web identity (EKS service accounts) and SAML
    /// federation: both call STS unsigned, so the client registered here carries anonymous credentials. (The registry's
    /// context cannot tell them from an AssumeRole: AWSSDK.Core 4.0.102 reports web identity as AssumeRoleAWSCredentials.)
    /// A role profile the default chain picks up by itself would be asked unsigned too: STS refuses it loudly
    /// (MissingAuthenticationToken), never signing with another identity; naming that profile in `profile:` makes it ours.
    /// </summary>
    static AwsCredentialResolver() =>
        Amazon.RuntimeDependencies.GlobalRuntimeDependencyRegistry.Instance.RegisterSecurityTokenServiceClient(context =>
            new Amazon.SecurityToken.AmazonSecurityTokenServiceClient(new AnonymousAWSCredentials(),
                new Amazon.SecurityToken.AmazonSecurityTokenServiceConfig { RegionEndpoint = context.SecurityTokenServiceClientContextData.Region ?? RegionEndpoint.USEast1 }));

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
            creds = FromProfile(where, profile, region, depth: 0);
        }
        if (roleArn is not null)
        {
            creds ??= Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials();
            creds = new StsAssumeRoleCredentials(creds, roleArn, externalId, stsEndpoint, region ?? "us-east-1", where);
        }
        return creds;
    }

    /// <summary>A named profile's credentials. A profile that assumes a role from a source_profile (the usual
    /// cross-account set-up) is resolved here, the role assumed by <see cref="StsAssumeRoleCredentials"/>; any other
    /// kind of profile (keys, SSO, credential_process, MFA) is the SDK's.</summary>
    private static AWSCredentials FromProfile(string where, string profile, string? region, int depth)
    {
        var chain = new CredentialProfileStoreChain();
        if (!chain.TryGetProfile(profile, out var p))
            throw new UserErrorException($"{where}.profile: no AWS profile named '{profile}' in the shared credentials or config file");
        var o = p.Options;
        if (o.RoleArn is { Length: > 0 } role && o.SourceProfile is { Length: > 0 } source && string.IsNullOrEmpty(o.MfaSerial))
        {
            if (depth >= 5)
                throw new UserErrorException($"{where}.profile: profile '{profile}' chains more than 5 source_profile roles (a loop?)");
            var sourceCreds = source == profile && o.AccessKey is { Length: > 0 }
                ? new BasicAWSCredentials(o.AccessKey, o.SecretKey) // a profile that is its own source: its keys
                : FromProfile(where, source, region, depth + 1);
            return new StsAssumeRoleCredentials(sourceCreds, role, o.ExternalID, stsEndpoint: null,
                p.Region?.SystemName ?? region ?? "us-east-1", $"{where}.profile: profile '{profile}'", roleKey: "");
        }
        if (!chain.TryGetAWSCredentials(profile, out var creds))
            throw new UserErrorException($"{where}.profile: AWS profile '{profile}' has no usable credentials");
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
/// Temporary credentials of a role, assumed through STS with a client built here and signed with the source
/// credentials (the SDK's own <see cref="AssumeRoleAWSCredentials"/> finds its client by reflection, which the AOT
/// release cannot do, and always asks AWS's STS). The STS is <paramref name="stsEndpoint"/> (an S3-compatible server's,
/// or a private endpoint), else the one the SDK's documented variables name (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL),
/// else AWS's STS in the store's region. Renewed by the SDK's refreshing base class before they expire. A refusal is
/// one line naming the role, the STS and the error it sent.
/// </summary>
internal sealed class StsAssumeRoleCredentials : RefreshingAWSCredentials
{
    private readonly AWSCredentials _source;
    private readonly string _roleArn, _region, _where, _roleKey;
    private readonly string? _externalId, _explicitEndpoint;

    public StsAssumeRoleCredentials(AWSCredentials source, string roleArn, string? externalId, string? stsEndpoint, string region, string where,
        string roleKey = ".role_arn")
    {
        (_source, _roleArn, _externalId, _explicitEndpoint, _region, _where, _roleKey) = (source, roleArn, externalId, stsEndpoint, region, where, roleKey);
        PreemptExpiryTime = TimeSpan.FromMinutes(15); // as the SDK's: renew well before any request could carry expired keys
    }

    /// <summary>The STS endpoint to ask, or null for AWS's regional STS.</summary>
    private string? Endpoint =>
        _explicitEndpoint
        ?? (Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_STS") is { Length: > 0 } sts ? sts
            : Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL") is { Length: > 0 } any ? any : null);

    private string Sts => Endpoint is { } e ? $"STS at {Lifeboat.Abstractions.Redact.Url(e) ?? e}" : $"AWS STS ({_region})";

    protected override CredentialsRefreshState GenerateNewCredentials() => GenerateNewCredentialsAsync().GetAwaiter().GetResult();

    protected override async Task<CredentialsRefreshState> GenerateNewCredentialsAsync()
    {
        var config = new Amazon.SecurityToken.AmazonSecurityTokenServiceConfig();
        if (Endpoint is { } endpoint) { config.ServiceURL = endpoint; config.AuthenticationRegion = _region; }
        else config.RegionEndpoint = RegionEndpoint.GetBySystemName(_region);
        using var sts = new Amazon.SecurityToken.AmazonSecurityTokenServiceClient(_source, config);
        try
        {
            var r = await sts.AssumeRoleAsync(new Amazon.SecurityToken.Model.AssumeRoleRequest
            {
                RoleArn = _roleArn, RoleSessionName = "lifeboat", ExternalId = _externalId, DurationSeconds = 3600,
            }).ConfigureAwait(false);
            var c = r.Credentials ?? throw new UserErrorException($"{_where}{_roleKey}: {Sts} answered AssumeRole for {_roleArn} without credentials");
            var expires = c.Expiration is { } e ? e.ToUniversalTime() : TimeProvider.System.GetUtcNow().UtcDateTime.AddMinutes(15); // the SDK's refresh compares with the system clock
            return new CredentialsRefreshState(new ImmutableCredentials(c.AccessKeyId, c.SecretAccessKey, c.SessionToken), expires);
        }
        catch (AmazonServiceException e) when (e.StatusCode != 0)
        {
            // The "is this the STS endpoint?" hint only where the endpoint came from the config (sts_endpoint, or an
            // S3-compatible store's endpoint), not from the SDK's variables.
            var hint = _explicitEndpoint is null ? "" : ": is this the STS endpoint (sts_endpoint, else the store's endpoint)?";
            throw new UserErrorException($"{_where}{_roleKey}: {Sts} refused AssumeRole for {_roleArn}: {Refusal(e, hint)}", e);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            var cause = e.InnerException is { } i && !e.Message.Contains(i.Message, StringComparison.Ordinal) ? ": " + i.Message : "";
            throw new UserErrorException($"{_where}{_roleKey}: cannot ask {Sts} for AssumeRole of {_roleArn}: {OneLine(e.Message + cause)}", e);
        }
    }

    private static string OneLine(string text) => string.Join(' ', text.Split((char[])['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>An STS refusal in one line: the error code and message STS sent, and the HTTP status. The SDK's own
    /// message quotes the whole answer when it carries no message, or is not an AWS error at all (an HTML page from a
    /// proxy or a server that is not an STS): that body is never shown; its content type says what came instead.</summary>
    internal static string Refusal(AmazonServiceException e, string hint)
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
