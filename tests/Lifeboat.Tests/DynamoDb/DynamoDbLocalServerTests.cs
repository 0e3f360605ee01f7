using System.Text;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.DynamoDb;

/// <summary>The test server itself: tests/servers/dynamodb.sh started DynamoDB Local and it answers both APIs.</summary>
public sealed class DynamoDbLocalServerTests
{
    [Theory]
    [InlineData("DynamoDB_20120810.ListTables", "TableNames")]
    [InlineData("DynamoDBStreams_20120810.ListStreams", "Streams")]
    public async Task Server_AnswersTablesAndStreamsApi(string target, string expected)
    {
        var ddb = DynamoDbLocal.Instance;
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Post, ddb.Endpoint + "/")
        {
            Content = new StringContent("{}", Encoding.UTF8),
        };
        req.Content.Headers.ContentType = new("application/x-amz-json-1.0");
        req.Headers.Add("X-Amz-Target", target);
        // DynamoDB Local wants an Authorization header but does not verify it (the signed path is tested with the StreamsClient).
        req.Headers.TryAddWithoutValidation("Authorization",
            "AWS4-HMAC-SHA256 Credential=lifeboat/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0");
        using var resp = await http.SendAsync(req);
        var body = await resp.Content.ReadAsStringAsync();
        Assert.True(resp.IsSuccessStatusCode, body);
        Assert.Contains(expected, body);
    }
}
