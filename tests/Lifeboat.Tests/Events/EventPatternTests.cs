using Lifeboat.Core.Config;
using Lifeboat.Core.Events;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Events;

/// <summary>
/// The EventBridge pattern language, checked with the examples of AWS's documentation ("Creating Amazon EventBridge
/// event patterns", "Content filtering in Amazon EventBridge event patterns", "Matching events on null values and
/// empty strings", "Arrays in event patterns") and an AWS Health event in the documented schema.
/// </summary>
public sealed class EventPatternTests
{
    private static bool M(string pattern, string evt) => EventPattern.Parse(pattern).Matches(evt);

    // The EC2 event of "Creating Amazon EventBridge event patterns".
    private const string Ec2Event = """
        {
          "version": "0",
          "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
          "detail-type": "EC2 Instance State-change Notification",
          "source": "aws.ec2",
          "account": "111122223333",
          "time": "2017-12-22T18:43:48Z",
          "region": "us-west-1",
          "resources": [
            "arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"
          ],
          "detail": {
            "instance-id": "i-1234567890abcdef0",
            "state": "terminated"
          }
        }
        """;

    [Fact]
    public void DocumentedEc2Example()
    {
        Assert.True(M("""{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}""", Ec2Event));
        Assert.False(M("""{"source": ["aws.ec2"], "detail": {"state": ["running"]}}""", Ec2Event));
        Assert.True(M("""{"detail": {"state": ["running", "terminated"]}}""", Ec2Event)); // values are alternatives
        Assert.False(M("""{"source": ["aws.ec2"], "detail": {"missing": ["x"]}}""", Ec2Event)); // every field must match
        Assert.False(M("""{"source": ["AWS.EC2"]}""", Ec2Event)); // case-sensitive
        Assert.False(M("""{"detail": {"state": {"name": ["terminated"]}}}""", Ec2Event)); // structure must match
    }

    [Fact]
    public void DocumentedArraysExample()
    {
        // "Arrays in event patterns": an array field matches when any element matches any listed value.
        const string pattern = """
            {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                           "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
                           "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}
            """;
        Assert.True(M(pattern, """{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}"""));
        Assert.True(M(pattern, """{"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}"""));
        Assert.False(M(pattern, """{"resources": ["arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f"]}"""));
        Assert.False(M(pattern, """{"resources": []}"""));
        // Arrays of objects: one element must match the whole nested pattern.
        const string nested = """{"detail": {"items": {"kind": ["disk"], "state": ["failed"]}}}""";
        Assert.True(M(nested, """{"detail": {"items": [{"kind": "cpu", "state": "ok"}, {"kind": "disk", "state": "failed"}]}}"""));
        Assert.False(M(nested, """{"detail": {"items": [{"kind": "cpu", "state": "failed"}, {"kind": "disk", "state": "ok"}]}}"""));
    }

    [Fact]
    public void DocumentedNullAndEmptyStringExample()
    {
        const string evt = """
            {"version": "0", "id": "3e3c153a-8339-4e30-8c35-687ebef853fe", "detail-type": "EC2 Instance Launch Successful",
             "source": "aws.autoscaling", "account": "123456789012", "time": "2015-11-11T21:31:47Z", "region": "us-east-1",
             "resources": [], "detail": {"eventVersion": "", "responseElements": null}}
            """;
        Assert.True(M("""{"detail": {"eventVersion": [""]}}""", evt));
        Assert.True(M("""{"detail": {"responseElements": [null]}}""", evt));
        Assert.False(M("""{"detail": {"responseElements": [""]}}""", evt)); // null and "" are not interchangeable
        Assert.False(M("""{"detail": {"eventVersion": [null]}}""", evt));
    }

    [Fact]
    public void ExactValues_AreTyped()
    {
        const string evt = """{"detail": {"n": 300, "b": true, "s": "true", "f": 301.8}}""";
        Assert.True(M("""{"detail": {"n": [300]}}""", evt));
        Assert.True(M("""{"detail": {"n": [3.0e2]}}""", evt)); // numbers compare by value
        Assert.False(M("""{"detail": {"n": ["300"]}}""", evt));
        Assert.True(M("""{"detail": {"b": [true]}}""", evt));
        Assert.False(M("""{"detail": {"b": ["true"]}}""", evt));
        Assert.False(M("""{"detail": {"s": [true]}}""", evt));
        Assert.True(M("""{"detail": {"f": [301.8]}}""", evt));
    }

    [Fact]
    public void Prefix_Suffix_AndIgnoreCase()
    {
        // Documented: "time" starting with "2017-10-02"; service starting with "EventB" in any case; FileName ending in .png.
        Assert.True(M("""{"time": [{"prefix": "2017-10-02"}]}""", """{"time": "2017-10-02T18:43:48Z"}"""));
        Assert.False(M("""{"time": [{"prefix": "2017-10-02"}]}""", """{"time": "2017-10-03T18:43:48Z"}"""));
        foreach (var s in new[] { "EventBridge", "EVENTBRIDGE", "eventbus" })
            Assert.True(M("""{"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}""", "{\"detail\": {\"service\": \"" + s + "\"}}"));
        Assert.True(M("""{"FileName": [{"suffix": ".png"}]}""", """{"FileName": "image.png"}"""));
        Assert.False(M("""{"FileName": [{"suffix": ".png"}]}""", """{"FileName": "image.PNG"}"""));
        Assert.True(M("""{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}""", """{"detail": {"FileName": "image.PNG"}}"""));
        Assert.False(M("""{"n": [{"prefix": "1"}]}""", """{"n": 12}""")); // strings only
        Assert.True(M("""{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}""", Ec2Event));
    }

    [Fact]
    public void AnythingBut_AllForms()
    {
        // Documented examples: a string, a number, lists of each, prefix, suffix, equals-ignore-case, wildcard.
        Assert.True(M("""{"detail": {"state": [{"anything-but": "initializing"}]}}""", """{"detail": {"state": "stopped"}}"""));
        Assert.False(M("""{"detail": {"state": [{"anything-but": "initializing"}]}}""", """{"detail": {"state": "initializing"}}"""));
        Assert.True(M("""{"detail": {"x-limit": [{"anything-but": 123}]}}""", """{"detail": {"x-limit": 456}}"""));
        Assert.False(M("""{"detail": {"x-limit": [{"anything-but": 123}]}}""", """{"detail": {"x-limit": 123}}"""));
        Assert.True(M("""{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}""", """{"detail": {"state": "terminated"}}"""));
        Assert.False(M("""{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}""", """{"detail": {"state": "stopped"}}"""));
        Assert.True(M("""{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}""", """{"detail": {"x-limit": 456}}"""));
        Assert.False(M("""{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}""", """{"detail": {"x-limit": 200}}"""));
        Assert.True(M("""{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}""", """{"detail": {"state": "stopped"}}"""));
        Assert.False(M("""{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}""", """{"detail": {"state": "initializing"}}"""));
        Assert.True(M("""{"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}}""", """{"detail": {"FileName": "a.png"}}"""));
        Assert.False(M("""{"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}}""", """{"detail": {"FileName": "a.txt"}}"""));
        Assert.False(M("""{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "overloaded"]}}]}}""", """{"detail": {"state": "STOPPED"}}"""));
        Assert.True(M("""{"detail": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}""", """{"detail": {"state": "running"}}"""));
        Assert.False(M("""{"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}""", """{"detail": {"FilePath": "/usr/lib/x.so"}}"""));
        Assert.True(M("""{"detail": {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*.tmp"]}}]}}""", """{"detail": {"FilePath": "/usr/bin/x"}}"""));
        // Needs the field: a missing field is not "anything but".
        Assert.False(M("""{"detail": {"state": [{"anything-but": "initializing"}]}}""", """{"detail": {}}"""));
    }

    [Fact]
    public void Numeric_DocumentedExample_AndBounds()
    {
        const string evt = """{"detail": {"c-count": 5, "d-count": 7, "x-limit": 301.8}}""";
        Assert.True(M("""
            {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                        "d-count": [{"numeric": ["<", 10]}],
                        "x-limit": [{"numeric": ["=", 3.018e2]}]}}
            """, evt));
        Assert.False(M("""{"detail": {"c-count": [{"numeric": [">", 5]}]}}""", evt));
        Assert.True(M("""{"detail": {"c-count": [{"numeric": [">=", 5]}]}}""", evt));
        Assert.False(M("""{"detail": {"d-count": [{"numeric": ["<", 7]}]}}""", evt));
        Assert.True(M("""{"detail": {"d-count": [{"numeric": ["<=", 7]}]}}""", evt));
        Assert.False(M("""{"detail": {"c-count": [{"numeric": [">", 0]}]}}""", """{"detail": {"c-count": "5"}}""")); // numbers only
    }

    [Fact]
    public void Exists_Wildcard_Cidr()
    {
        Assert.True(M("""{"detail": {"state": [{"exists": true}]}}""", Ec2Event));
        Assert.False(M("""{"detail": {"state": [{"exists": false}]}}""", Ec2Event));
        Assert.True(M("""{"detail": {"nothing": [{"exists": false}]}}""", Ec2Event));
        Assert.False(M("""{"detail": {"nothing": [{"exists": true}]}}""", Ec2Event));
        Assert.True(M("""{"other": {"deep": [{"exists": false}]}}""", Ec2Event)); // the parent is missing too
        Assert.False(M("""{"detail": [{"exists": true}]}""", Ec2Event)); // exists applies to leaves, not objects

        Assert.True(M("""{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}""", """{"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"}"""));
        Assert.False(M("""{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}""", """{"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"}"""));
        Assert.True(M("""{"f": [{"wildcard": "a\\*b*"}]}""", """{"f": "a*bcd"}"""));
        Assert.False(M("""{"f": [{"wildcard": "a\\*b*"}]}""", """{"f": "axbcd"}"""));
        Assert.True(M("""{"f": [{"wildcard": "*ab*ab"}]}""", """{"f": "xxabyyab"}"""));
        Assert.False(M("""{"f": [{"wildcard": "*ab*ab"}]}""", """{"f": "ab"}"""));

        Assert.True(M("""{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}""", """{"detail": {"sourceIPAddress": "10.0.0.255"}}"""));
        Assert.False(M("""{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}""", """{"detail": {"sourceIPAddress": "10.0.1.1"}}"""));
        Assert.True(M("""{"ip": [{"cidr": "2001:db8::/32"}]}""", """{"ip": "2001:db8:1::5"}"""));
    }

    [Fact]
    public void Or_DocumentedExamples()
    {
        const string p = """
            {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                                {"d-count": [{"numeric": ["<", 10]}]},
                                {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}
            """;
        Assert.True(M(p, """{"detail": {"c-count": 50, "d-count": 7, "x-limit": 0}}"""));
        Assert.True(M(p, """{"detail": {"x-limit": 301.8}}"""));
        Assert.False(M(p, """{"detail": {"c-count": 50, "d-count": 70, "x-limit": 1}}"""));
        const string top = """{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}""";
        Assert.True(M(top, """{"source": "aws.cloudwatch", "namespace": "AWS/ES"}"""));
        Assert.True(M(top, """{"source": "aws.cloudwatch", "metricName": "ReadLatency"}"""));
        Assert.False(M(top, """{"source": "aws.cloudwatch", "metricName": "WriteLatency"}"""));
        Assert.False(M(top, """{"source": "aws.ec2", "namespace": "AWS/EC2"}"""));
    }

    [Fact]
    public void AwsHealthEvent_S3IncreasedErrorRates_InUsEast1()
    {
        var pattern = EventPattern.Load(Path.Combine(Repo.Root, "docs/examples/events/health-s3-us-east-1.pattern.json"));
        var evt = File.ReadAllText(Path.Combine(Repo.Root, "docs/examples/events/health-s3-us-east-1.json"));
        Assert.True(pattern.Matches(evt));
        Assert.False(pattern.Matches(evt.Replace("\"eventRegion\": \"us-east-1\"", "\"eventRegion\": \"us-west-2\"", StringComparison.Ordinal)));
        Assert.False(pattern.Matches(evt.Replace("\"statusCode\": \"open\"", "\"statusCode\": \"closed\"", StringComparison.Ordinal)));
        Assert.False(pattern.Matches(evt.Replace("\"service\": \"S3\"", "\"service\": \"EC2\"", StringComparison.Ordinal)));
        Assert.False(pattern.Matches(evt.Replace("Increased Error Rates", "Increased Latency", StringComparison.Ordinal).Replace("increased error rates", "increased latency", StringComparison.Ordinal)));
        // The documented minimal rule for every AWS Health event.
        Assert.True(M("""{"source": ["aws.health"], "detail-type": ["AWS Health Event"]}""", evt));
    }

    [Theory]
    [InlineData("""{"source": "aws.ec2"}""", 1, 12, "$.source", "values go in an array")]
    [InlineData("{\n  \"detail\": {\n    \"state\": [{\"prefixx\": \"a\"}]\n  }\n}", 3, 15, "$.detail.state[0].prefixx", "unknown operator 'prefixx'")]
    [InlineData("{\n  \"a\": [{\"numeric\": [\">\", \"5\"]}]\n}", 2, 27, "$.a[0].numeric[1]", "expected a number after \">\"")]
    [InlineData("""{"a": [{"numeric": [">", 5, "<", 1]}]}""", 1, 20, "$.a[0].numeric", "the range is empty")]
    [InlineData("""{"a": [{"numeric": [">", 1, ">", 2]}]}""", 1, 29, "$.a[0].numeric[2]", "at most one lower bound")]
    [InlineData("""{"a": [{"exists": "yes"}]}""", 1, 19, "$.a[0].exists", "exists takes true or false")]
    [InlineData("""{"a": [{"wildcard": "a**b"}]}""", 1, 21, "$.a[0].wildcard", "consecutive wildcard")]
    [InlineData("""{"a": [{"cidr": "10.0.0.0/33"}]}""", 1, 17, "$.a[0].cidr", "not a CIDR block")]
    [InlineData("""{"a": []}""", 1, 7, "$.a", "empty array")]
    [InlineData("""{"a": [["x"]]}""", 1, 8, "$.a[0]", "arrays inside")]
    [InlineData("""{"a": [{"prefix": "x", "suffix": "y"}]}""", 1, 8, "$.a[0]", "exactly one operator")]
    [InlineData("""{"$or": [{"a": [1]}]}""", 1, 9, "$.$or", "at least two")]
    [InlineData("""{"a": [{"anything-but": {"numeric": [">", 1]}}]}""", 1, 25, "$.a[0].anything-but.numeric", "anything-but takes")]
    [InlineData("""{"a": [{"anything-but": [true]}]}""", 1, 26, "$.a[0].anything-but[0]", "strings or numbers")]
    [InlineData("""{"a": [1], "a": [2]}""", 1, 12, "$.a", "duplicate key")]
    [InlineData("""{}""", 1, 1, "$", "empty object")]
    [InlineData("""["a"]""", 1, 1, "$", "JSON object")]
    [InlineData("{\n  \"a\": [1,]\n}", 2, 11, "(json)", "malformed JSON")]
    [InlineData("{\"a\": [1]} x", 1, 12, "(json)", "malformed JSON")]
    public void InvalidPatterns_AreLocated(string pattern, int line, int col, string path, string message)
    {
        var e = Assert.Throws<ConfigException>(() => EventPattern.Parse(pattern, "p.json"));
        Assert.True(e.Message.StartsWith($"p.json:{line}:{col}: {path}: ", StringComparison.Ordinal), e.Message);
        Assert.StartsWith($"p.json:{line}:{col}: {path}: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void EmbeddedPattern_ErrorsAreShiftedToTheEnclosingFile()
    {
        // E.g. a YAML block scalar starting on line 10, indented 6 spaces.
        var e = Assert.Throws<ConfigException>(() => EventPattern.Parse("{\n  \"a\": \"x\"\n}", "lifeboat.yaml", lineOffset: 9, columnOffset: 6));
        Assert.StartsWith("lifeboat.yaml:11:14: $.a: ", e.Message);
    }
}
