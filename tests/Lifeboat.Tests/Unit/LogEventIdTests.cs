using System.Reflection;
using System.Text.RegularExpressions;
using Lifeboat.Hosting;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Tests.Infrastructure;
using Lifeboat.Tests.Replication;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>Every log message has a stable event id ([LoggerMessage], one class per project) inside the range
/// docs/design.md ("Logs and event ids") gives its project, and the console line shows it.</summary>
public sealed class LogEventIdTests
{
    /// <summary>The ranges of docs/design.md's table, by project (assembly) name.</summary>
    private static Dictionary<string, List<(int From, int To)>> DocumentedRanges()
    {
        var doc = File.ReadAllText(Path.Combine(Repo.Root, "docs", "design.md"));
        var section = doc[doc.IndexOf("## Logs and event ids", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 3, StringComparison.Ordinal)];
        var ranges = new Dictionary<string, List<(int, int)>>();
        foreach (Match m in Regex.Matches(section, @"^\| (\d+)-(\d+) \| [^|]+ \| ([^|]+) \|$", RegexOptions.Multiline))
            foreach (var project in m.Groups[3].Value.Split(',', StringSplitOptions.TrimEntries))
                (ranges.TryGetValue(project, out var l) ? l : ranges[project] = []).Add((int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value)));
        return ranges;
    }

    /// <summary>Every Lifeboat assembly beside the tests (the CLI's is <c>lifeboat</c>), by project name.</summary>
    private static IEnumerable<(string Project, Assembly Assembly)> LifeboatAssemblies() =>
        Directory.GetFiles(AppContext.BaseDirectory, "*.dll")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(n => n == "lifeboat" || (n!.StartsWith("Lifeboat.", StringComparison.Ordinal) && !n.StartsWith("Lifeboat.Tests", StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)
            .Select(n => (n == "lifeboat" ? "Lifeboat.Cli" : n!, Assembly.Load(new AssemblyName(n!))));

    private static IEnumerable<(MethodInfo Method, LoggerMessageAttribute Attribute)> Messages(Assembly a) =>
        from t in a.GetTypes()
        from m in t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
        let attr = m.GetCustomAttribute<LoggerMessageAttribute>()
        where attr is not null
        select (m, attr);

    [Fact]
    public void EventIds_AreUniqueAndInsideTheirProjectsDocumentedRange()
    {
        var ranges = DocumentedRanges();
        Assert.Equal(9, ranges.Values.Sum(r => r.Count)); // the table's 8 rows; 1400-1499 is both Core's and S3's
        var assemblies = LifeboatAssemblies().ToList();
        Assert.Contains(assemblies, a => a.Project == "Lifeboat.Cli");
        var seen = new Dictionary<int, string>();
        var perProject = new Dictionary<string, int>();
        foreach (var (project, assembly) in assemblies)
            foreach (var (method, attr) in Messages(assembly))
            {
                var name = $"{project}: {method.DeclaringType!.Name}.{method.Name}";
                Assert.True(attr.EventId > 0, $"{name} has no event id");
                Assert.True(seen.TryAdd(attr.EventId, name), $"{name} reuses event id {attr.EventId} of {seen.GetValueOrDefault(attr.EventId)}");
                Assert.True(ranges.TryGetValue(project, out var allowed), $"{name}: docs/design.md gives {project} no event id range");
                Assert.True(allowed!.Any(r => attr.EventId >= r.From && attr.EventId <= r.To),
                    $"{name}: event id {attr.EventId} is outside {project}'s ranges ({string.Join(", ", allowed!.Select(r => $"{r.From}-{r.To}"))})");
                Assert.False(string.IsNullOrEmpty(attr.Message), $"{name} has no message");
                perProject[project] = perProject.GetValueOrDefault(project) + 1;
            }
        // Every project that logs declares its messages (a plain LogInformation call would log event id 0).
        foreach (var project in new[] { "Lifeboat.Core", "Lifeboat.Providers.DynamoDb", "Lifeboat.Providers.Postgres", "Lifeboat.Providers.Aws", "Lifeboat.Recovery", "Lifeboat.Hosting", "Lifeboat.Cli" })
            Assert.True(perProject.GetValueOrDefault(project) > 0, $"{project} declares no [LoggerMessage] method");
    }

    [Fact]
    public async Task AReplicationPass_LogsItsLineWithTheStableEventId()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 8, 30, 1, 234, TimeSpan.Zero));
        var output = new StringWriter();
        using var factory = new LoggerFactory([new LineLoggerProvider(time, output)], new LoggerFilterOptions { MinLevel = LogLevel.Information });
        await using var h = await Harness.FilesAsync(DeletePolicy.Propagate);
        var rep = new ObjectReplicator(h.Resource, h.Source, h.Target, h.State, h.Time, h.Metrics, factory.CreateLogger("lifeboat.res"), Harness.FastRetry);
        await h.PutSourceAsync("x");
        await rep.ReconcileAsync(null, CancellationToken.None);
        await h.Source.DeleteAsync(h.SourceBucket, "x", CancellationToken.None);
        var r = await rep.ReconcileAsync(null, CancellationToken.None);
        Assert.Equal(1, r.Deleted);

        var at = time.GetLocalNow().ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);
        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains($"{at} info: lifeboat.res[1005] res: deleted x from the target (source deleted it; policy propagate)", lines);
        Assert.DoesNotContain(lines, l => l.Contains("lifeboat.res[0]", StringComparison.Ordinal));
    }
}
