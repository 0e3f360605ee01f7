using System.Text;
using Lifeboat.Providers.Aws;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// <see cref="SigV4Signer"/> against AWS's published Signature Version 4 test suite ("aws-sig-v4-test-suite", from the
/// AWS General Reference page "Signature Version 4 test suite"; the same files ship in awslabs/aws-c-auth under
/// tests/aws-signing-test-suite/v4). Each case gives the request (.req) and the expected canonical request (.creq),
/// string to sign (.sts) and Authorization header (.authz). Common to every case: access key AKIDEXAMPLE, secret
/// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service "service", time 2015-08-30T12:36:00Z.
/// The expected values below are copied from those published files, not produced by this code.
/// </summary>
public sealed class SigV4SignerTests
{
    private const string AccessKey = "AKIDEXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    private static readonly DateTimeOffset Time = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);
    private const string EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private static SigV4Signature Sign(string method, string url, string body = "", params (string, string)[] extra)
    {
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (k, v) in extra) headers.Add(new(k, v));
        headers.Add(new("Host", "example.amazonaws.com"));
        headers.Add(new("X-Amz-Date", "20150830T123600Z"));
        return SigV4Signer.Sign(new SigV4Request(method, new Uri(url), headers, Encoding.UTF8.GetBytes(body)),
            AccessKey, SecretKey, "us-east-1", "service", Time);
    }

    private static void AssertCase(SigV4Signature s, string creq, string sts, string authz)
    {
        Assert.Equal(creq, s.CanonicalRequest);
        Assert.Equal(sts, s.StringToSign);
        Assert.Equal(authz, s.Authorization);
    }

    [Fact]
    public void GetVanilla()
    {
        // get-vanilla.req: GET / HTTP/1.1, Host:example.amazonaws.com, X-Amz-Date:20150830T123600Z
        AssertCase(Sign("GET", "https://example.amazonaws.com/"),
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyHash,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    }

    [Fact]
    public void PostVanilla()
    {
        // post-vanilla.req: POST / HTTP/1.1, Host, X-Amz-Date, no body
        AssertCase(Sign("POST", "https://example.amazonaws.com/"),
            "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyHash,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    }

    [Fact]
    public void GetVanillaQueryOrderKeyCase()
    {
        // get-vanilla-query-order-key-case.req: GET /?Param2=value2&Param1=value1 (parameters sorted by name)
        AssertCase(Sign("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1"),
            "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyHash,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    }

    [Fact]
    public void GetVanillaQueryOrderKey()
    {
        // get-vanilla-query-order-key.req: GET /?Param1=value2&Param1=Value1 (same name: sorted by value, case-sensitive)
        AssertCase(Sign("GET", "https://example.amazonaws.com/?Param1=value2&Param1=Value1"),
            "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyHash,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
    }

    [Fact]
    public void PostXWwwFormUrlencoded()
    {
        // post-x-www-form-urlencoded.req: POST /, Content-Type:application/x-www-form-urlencoded, body Param1=value1
        AssertCase(Sign("POST", "https://example.amazonaws.com/", "Param1=value1", ("Content-Type", "application/x-www-form-urlencoded")),
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    }

    [Fact]
    public void SigningKey_MatchesTheDerivationExampleInAwsDocs()
    {
        // AWS General Reference, "Examples of how to derive a signing key for Signature Version 4":
        // secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830, us-east-1, iam.
        Assert.Equal("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9",
            SigV4Signer.Hex(SigV4Signer.SigningKey(SecretKey, "20150830", "us-east-1", "iam")));
    }

    [Fact]
    public void HeaderValues_AreTrimmedAndDuplicatesJoined()
    {
        // The rules behind get-header-value-trim and get-header-key-duplicate: values trimmed, inner runs of spaces
        // collapsed, repeated names joined with ',' in order.
        var s = Sign("GET", "https://example.amazonaws.com/", "", ("My-Header1", "  value1  "), ("My-Header2", "\"a   b   c\""), ("My-Header1", "value2"));
        Assert.Contains("my-header1:value1,value2\nmy-header2:\"a b c\"\n", s.CanonicalRequest);
        Assert.Equal("host;my-header1;my-header2;x-amz-date", s.SignedHeaders);
    }
}
