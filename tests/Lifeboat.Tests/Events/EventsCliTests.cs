using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Events;

/// <summary>`lifeboat events test-pattern` as a user runs it: a separate process, files, exit codes.</summary>
public sealed class EventsCliTests
{
    private static string Example(string name) => Path.Combine(Repo.Root, "docs/examples/events", name);

    [Fact]
    public void Match_IsExit0_NoMatch_IsExit1()
    {
        using var dir = new TempDir();
        var (code, output) = LifeboatCli.Run(dir.Path, null, "events", "test-pattern",
            "--pattern", Example("health-s3-us-east-1.pattern.json"), "--event", Example("health-s3-us-east-1.json"));
        Assert.True(code == 0, output);
        Assert.Contains("match", output);

        var other = dir.File("west.json", File.ReadAllText(Example("health-s3-us-east-1.json")).Replace("\"eventRegion\": \"us-east-1\"", "\"eventRegion\": \"us-west-2\"", StringComparison.Ordinal));
        (code, output) = LifeboatCli.Run(dir.Path, null, "events", "test-pattern", "--pattern", Example("health-s3-us-east-1.pattern.json"), "--event", other);
        Assert.True(code == 1, output);
        Assert.Contains("no match", output);
    }

    [Fact]
    public void InvalidPattern_IsExit2_WithFileLineColumnAndPath()
    {
        using var dir = new TempDir();
        var pattern = dir.File("bad.json", "{\n  \"source\": [\"aws.health\"],\n  \"detail\": {\n    \"statusCode\": [{\"anything_but\": \"closed\"}]\n  }\n}\n");
        var (code, output) = LifeboatCli.Run(dir.Path, null, "events", "test-pattern", "--pattern", pattern, "--event", Example("health-s3-us-east-1.json"));
        Assert.Equal(2, code);
        Assert.Contains($"{pattern}:4:20: $.detail.statusCode[0].anything_but: unknown operator 'anything_but'", output);
        Assert.DoesNotContain("   at ", output);

        var broken = dir.File("broken.json", "{\n  \"source\": [\"aws.health\"\n}\n");
        (code, output) = LifeboatCli.Run(dir.Path, null, "events", "test-pattern", "--pattern", broken, "--event", Example("health-s3-us-east-1.json"));
        Assert.Equal(2, code);
        Assert.Contains($"{broken}:3:1: (json): malformed JSON", output);

        var badEvent = dir.File("event.json", "{\"source\": }");
        (code, output) = LifeboatCli.Run(dir.Path, null, "events", "test-pattern", "--pattern", Example("health-s3-us-east-1.pattern.json"), "--event", badEvent);
        Assert.Equal(2, code);
        Assert.Contains($"{badEvent}:1:12: (json): malformed JSON event", output);

        (code, output) = LifeboatCli.Run(dir.Path, null, "events", "test-pattern", "--pattern", Path.Combine(dir.Path, "missing.json"), "--event", badEvent);
        Assert.Equal(2, code);
        Assert.Contains("missing.json", output);
        Assert.DoesNotContain("   at ", output);
    }
}
