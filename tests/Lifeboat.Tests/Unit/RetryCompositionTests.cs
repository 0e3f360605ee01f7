using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Providers.S3;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>
/// The S3 client's request loop composed with a caller's retry (issue 15: "nested so that one S3 operation can send
/// 18 requests"), counted at a real HTTP server that answers every request 503. On its own the client tries a request
/// 3 times (a start-up check fails fast), through the lean client and through AWSSDK.S3 (AWS endpoints); under a caller's policy of 5 retries it tries 6 times with that budget, and
/// the caller does not start it over: 6 requests, not 3 x 6.
/// </summary>
public sealed class RetryCompositionTests
{
    [Theory]
    [InlineData("lean")]
    [InlineData("sdk")]
    public async Task AnS3RequestUnderARetryingCaller_IsTriedWithTheCallersBudget_Once(string client)
    {
        using var server = new RecordingHttpServer(name: "s3") { Healthy = false };
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_RETRY_AK", "AKIDEXAMPLE");
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_RETRY_SK", "secret");
        var cfg = new StoreConfig("flaky", StoreType.S3, new ConfigLocation("test", 1, "flaky"), Endpoint: server.Url.TrimEnd('/'),
            Region: "us-east-1", AccessKeyEnv: "LIFEBOAT_TEST_RETRY_AK", SecretKeyEnv: "LIFEBOAT_TEST_RETRY_SK");
        await using IObjectStore store = client == "lean"
            ? new S3Store(cfg)
            : new SdkS3Store(cfg, EndpointProfile.For(cfg.Endpoint), S3Store.ResolveCredentials(cfg), "store 'flaky'", cfg.Endpoint!, cfg.Endpoint!);

        var alone = await Assert.ThrowsAsync<StoreException>(() => store.StatAsync("photos", "a.jpg", CancellationToken.None));
        Assert.Equal(StoreErrorKind.Transient, alone.Kind);
        Assert.Equal(3, server.Requests);

        var caller = new RetryPolicy(5, TimeSpan.Zero, TimeSpan.Zero);
        var callerRetries = 0;
        await Assert.ThrowsAsync<StoreException>(() => caller.ExecuteAsync(t => store.StatAsync("photos", "a.jpg", t),
            TimeProvider.System, (_, _) => callerRetries++, CancellationToken.None));
        Assert.Equal(3 + 6, server.Requests);
        Assert.Equal(0, callerRetries);
    }
}
