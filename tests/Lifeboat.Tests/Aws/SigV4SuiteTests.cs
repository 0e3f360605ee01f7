using System.Text;
using Lifeboat.Providers.Aws;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// <see cref="SigV4Signer"/> against AWS's published SigV4 test suite files, committed verbatim under
/// tests/Lifeboat.Tests/Aws/SigV4Vectors (source and commits in SOURCE.md). Each header-signed-request.txt is the
/// request with the Authorization header AWS expects; each query-signed-request.txt the pre-signed request line with
/// the X-Amz-Signature AWS expects. The harness strips the expected values, signs the rest, and compares.
/// </summary>
public sealed class SigV4SuiteTests
{
    private const string AccessKey = "AKIDEXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    private static readonly DateTimeOffset Time = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);

    private static string Dir(string name) => Path.Combine(Repo.Root, "tests", "Lifeboat.Tests", "Aws", "SigV4Vectors", name);

    private sealed record Parsed(string Method, string Path, string Query, List<KeyValuePair<string, string>> Headers, string Body);

    private static Parsed Parse(string text)
    {
        var split = text.IndexOf("\n\n", StringComparison.Ordinal);
        var head = text[..split].Split('\n');
        var body = text[(split + 2)..];
        var line = head[0];
        var method = line[..line.IndexOf(' ')];
        var target = line[(method.Length + 1)..line.LastIndexOf(" HTTP/1.1", StringComparison.Ordinal)];
        var q = target.IndexOf('?');
        var path = q < 0 ? target : target[..q];
        var query = q < 0 ? "" : target[(q + 1)..];
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var h in head.Skip(1))
        {
            var c = h.IndexOf(':');
            headers.Add(new(h[..c], h[(c + 1)..]));
        }
        return new Parsed(method, path, query, headers, body);
    }

    [Theory]
    [InlineData("get-utf8")]
    [InlineData("get-space-normalized")]
    [InlineData("get-slash-dot-slash-normalized")]
    [InlineData("get-relative-relative-normalized")]
    [InlineData("get-slashes-normalized")]
    [InlineData("get-vanilla-query-order-key-case")]
    [InlineData("get-vanilla-with-session-token")]
    [InlineData("post-x-www-form-urlencoded")]
    public void HeaderSigning_MatchesTheSuite(string name)
    {
        var p = Parse(File.ReadAllText(Path.Combine(Dir(name), "header-signed-request.txt")));
        var expected = p.Headers.Single(h => h.Key == "Authorization").Value;
        var headers = p.Headers.Where(h => h.Key != "Authorization").ToList();
        var req = new SigV4Request(p.Method, new Uri("https://example.amazonaws.com/"), headers, Encoding.UTF8.GetBytes(p.Body))
        {
            RawPath = p.Path,
            RawQuery = p.Query,
        };
        var sig = SigV4Signer.Sign(req, AccessKey, SecretKey, "us-east-1", "service", Time);
        Assert.Equal(expected, sig.Authorization);
    }

    [Theory]
    [InlineData("get-utf8")]
    [InlineData("get-vanilla-query-order-key-case")]
    [InlineData("post-x-www-form-urlencoded")]
    public void QuerySigning_MatchesTheSuite(string name)
    {
        var p = Parse(File.ReadAllText(Path.Combine(Dir(name), "query-signed-request.txt")));
        var pairs = p.Query.Split('&');
        var expectedSignature = pairs.Single(x => x.StartsWith("X-Amz-Signature=", StringComparison.Ordinal))["X-Amz-Signature=".Length..];
        var signedHeaders = Uri.UnescapeDataString(pairs.Single(x => x.StartsWith("X-Amz-SignedHeaders=", StringComparison.Ordinal))["X-Amz-SignedHeaders=".Length..]).Split(';');
        var original = string.Join('&', pairs.Where(x => !x.StartsWith("X-Amz-", StringComparison.Ordinal)));
        // The signed headers as the suite lists them (X-Amz-Date travels in the query, not as a signed header); the
        // suite's body-signing cases also sign x-amz-content-sha256 with the payload hash.
        var bodyHash = SigV4Signer.Hex(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(p.Body)));
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var h in signedHeaders)
        {
            if (h == "x-amz-content-sha256") headers.Add(new(h, bodyHash));
            else headers.Add(p.Headers.Single(x => x.Key.Equals(h, StringComparison.OrdinalIgnoreCase)));
        }
        var req = new SigV4Request(p.Method, new Uri("https://example.amazonaws.com/"), headers, Encoding.UTF8.GetBytes(p.Body))
        {
            RawPath = p.Path,
            RawQuery = original,
        };
        var (url, sig) = SigV4Signer.Presign(req, AccessKey, SecretKey, null, "us-east-1", "service", Time, TimeSpan.FromSeconds(3600));
        var canonicalFile = Path.Combine(Dir(name), "query-canonical-request.txt");
        if (File.Exists(canonicalFile)) Assert.Equal(File.ReadAllText(canonicalFile), sig.CanonicalRequest);
        Assert.Equal(expectedSignature, sig.Signature);
        Assert.EndsWith("&X-Amz-Signature=" + expectedSignature, url, StringComparison.Ordinal);
    }

    [Fact]
    public void PresignedUrl_VerifiesWithItsOwnParameters_AndFailsWhenTampered()
    {
        var url = new Uri("https://rds.us-east-1.amazonaws.com/?Action=CopyDBSnapshot&SourceDBSnapshotIdentifier=arn%3Aaws%3Ards%3Aus-east-1%3A123456789012%3Asnapshot%3Ax&Version=2014-10-31");
        var (signed, _) = SigV4Signer.Presign(new SigV4Request("GET", url, [new("Host", url.Authority)], ReadOnlyMemory<byte>.Empty),
            AccessKey, SecretKey, "token/with+chars", "us-east-1", "rds", Time, TimeSpan.FromHours(1));
        Assert.True(SigV4Signer.VerifyPresigned(new Uri(signed), "GET", SecretKey, out var region, out var service, out var why), why);
        Assert.Equal(("us-east-1", "rds"), (region, service));
        Assert.Contains("X-Amz-Security-Token=token%2Fwith%2Bchars", signed, StringComparison.Ordinal);
        var tampered = signed.Replace("Version=2014-10-31", "Version=2014-10-32", StringComparison.Ordinal);
        Assert.False(SigV4Signer.VerifyPresigned(new Uri(tampered), "GET", SecretKey, out _, out _, out _));
    }
}
