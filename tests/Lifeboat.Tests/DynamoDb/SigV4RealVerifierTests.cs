using System.Security.Cryptography;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.DynamoDb;

/// <summary>
/// <see cref="SigV4Signer"/> checked by an independent, real SigV4 verifier: DynamoDB Local accepts any signature, but
/// Ceph RADOS Gateway (tests/servers/rgw.sh) verifies every S3 request's SigV4 signature. A signed ListBuckets
/// (GET /, service "s3") must be accepted, and the same request signed with a wrong secret rejected.
/// </summary>
public sealed class SigV4RealVerifierTests
{
    private static async Task<(int Status, string Body)> ListBucketsAsync(string secret)
    {
        var rgw = RgwServer.Instance;
        var url = new Uri(rgw.Endpoint + "/");
        var now = TimeProvider.System.GetUtcNow();
        var emptyHash = SigV4Signer.Hex(SHA256.HashData(ReadOnlySpan<byte>.Empty));
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", url.Authority),
            new("X-Amz-Date", SigV4Signer.AmzDate(now)),
            new("X-Amz-Content-SHA256", emptyHash),
        };
        var sig = SigV4Signer.Sign(new SigV4Request("GET", url, headers, ReadOnlyMemory<byte>.Empty), rgw.AccessKey, secret, "us-east-1", "s3", now);
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Get, url);
        req.Headers.TryAddWithoutValidation("X-Amz-Date", SigV4Signer.AmzDate(now));
        req.Headers.TryAddWithoutValidation("X-Amz-Content-SHA256", emptyHash);
        req.Headers.TryAddWithoutValidation("Authorization", sig.Authorization);
        using var resp = await http.SendAsync(req);
        return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CephRgw_AcceptsOurSignature_AndRejectsAWrongSecret()
    {
        var (status, body) = await ListBucketsAsync(RgwServer.Instance.SecretKey);
        Assert.True(status == 200, $"{status}: {body}");
        Assert.Contains("ListAllMyBucketsResult", body);
        Assert.Contains("<ID>lifeboat</ID>", body); // answered as the signed-in user, not anonymously

        (status, body) = await ListBucketsAsync(RgwServer.Instance.SecretKey + "x");
        Assert.Equal(403, status);
        Assert.Contains("SignatureDoesNotMatch", body);
    }
}
