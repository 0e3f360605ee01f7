using Lifeboat.Providers.S3;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>The lean S3 path's SigV4 rules against the worked examples in AWS's S3 documentation ("Signature
/// Calculations for the Authorization Header: Transferring Payload in a Single Chunk", bucket examplebucket,
/// 2013-05-24, access key AKIAIOSFODNN7EXAMPLE). The conformance suite checks the same code against Ceph RGW.</summary>
public sealed class S3SignerTests
{
    private const string AccessKey = "AKIAIOSFODNN7EXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private const string AmzDate = "20130524T000000Z";
    private const string Host = "examplebucket.s3.amazonaws.com";
    private const string EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private static string Sign(string method, string path, IEnumerable<(string, string?)> query, string payloadHash, params (string, string)[] extra)
    {
        var headers = new List<(string, string)> { ("host", Host), ("x-amz-date", AmzDate), ("x-amz-content-sha256", payloadHash) };
        headers.AddRange(extra);
        return new S3Signer().Authorization(method, path, S3Http.Query(query.ToList()).Canonical, headers, payloadHash, AmzDate, AccessKey, SecretKey, "us-east-1");
    }

    [Fact]
    public void GetObject_WithRange()
    {
        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            Sign("GET", "/" + S3Http.EncodedKey("test.txt"), [], EmptyHash, ("range", "bytes=0-9")));
    }

    [Fact]
    public void PutObject_KeyIsEncodedOnceAndPayloadHashSigned()
    {
        Assert.Equal("test%24file.text", S3Http.EncodedKey("test$file.text"));
        var payload = System.Security.Cryptography.SHA256.HashData("Welcome to Amazon S3."u8);
        var hash = Convert.ToHexStringLower(payload);
        Assert.Equal("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", hash);
        Assert.EndsWith("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            Sign("PUT", "/test%24file.text", [], hash, ("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")));
    }

    [Fact]
    public void BareSubresource_IsSignedWithAnEmptyValue()
    {
        var (canonical, wire) = S3Http.Query([("lifecycle", null)]);
        Assert.Equal("lifecycle=", canonical);
        Assert.Equal("lifecycle", wire);
        Assert.EndsWith("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            Sign("GET", "/", [("lifecycle", null)], EmptyHash));
    }

    [Fact]
    public void ListObjects_QueryIsSorted()
    {
        Assert.EndsWith("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            Sign("GET", "/", [("prefix", "J"), ("max-keys", "2")], EmptyHash));
    }

    [Fact]
    public void Keys_AreEncodedPerSegment_NotNormalized()
    {
        Assert.Equal("dir/a%20b%2Bc%25.txt", S3Http.EncodedKey("dir/a b+c%.txt"));
        Assert.Equal("a//../%C3%A9~", S3Http.EncodedKey("a//../é~"));
        Assert.Equal(("prefix=p%2F&start-after=p%2F01000", "prefix=p%2F&start-after=p%2F01000"), S3Http.Query([("start-after", "p/01000"), ("prefix", "p/")]));
    }

    [Fact]
    public void RepeatedNames_HeadersKeepTheirOrder_QueryValuesAreSorted()
    {
        // SigV4: a repeated header is one canonical line, values comma-joined in the order sent (values trimmed and
        // inner runs of spaces collapsed); query parameters sort by name, then by value.
        var (canonical, signed) = S3Signer.CanonicalRequest("GET", "/k", "", [("X-Amz-Meta-B", "2"), ("host", "h"), ("x-amz-meta-a", " z  y "), ("X-AMZ-META-A", "x")], "p");
        Assert.Equal("GET\n/k\n\nhost:h\nx-amz-meta-a:z y,x\nx-amz-meta-b:2\n\nhost;x-amz-meta-a;x-amz-meta-b\np", canonical);
        Assert.Equal("host;x-amz-meta-a;x-amz-meta-b", signed);
        Assert.Equal(("a=&a=1&a=2&b=0", "a&a=1&a=2&b=0"), S3Http.Query([("b", "0"), ("a", "2"), ("a", null), ("a", "1")]));
    }
}
