using System.Diagnostics;
using Lifeboat.Core.Config;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>
/// Config input that used to crash, hang or be silently misread (issue 14, findings 3, 8 and 9): every case is one
/// located error (<c>file:line:column: key: message</c>), fast.
/// </summary>
public sealed class ConfigHardeningTests
{
    private const string Base = """
        stores:
          a: { type: file, path: a }
          b: { type: file, path: b }
        resources:
          - name: photos
            source: { store: a, bucket: photos }
            target: { store: b, bucket: photos }
            concurrency: 4
        """;

    private static ConfigException Fails(string text, int line, string key, string message, int? column = null)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("c.yaml", text));
        Assert.True(e.Message.StartsWith($"c.yaml:{line}:{(column is { } c ? $"{c}:" : "")}", StringComparison.Ordinal), e.Message);
        Assert.Contains($": {key}: ", e.Message);
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e;
    }

    // ---- A: durations and sizes beyond their range ----

    [Theory]
    [InlineData("rpo: 99999999999999m", "resources[0].rpo", "too long")]
    [InlineData("rpo: 999999999999999999999999999999d", "resources[0].rpo", "too long")]
    [InlineData("rpo: 50d", "resources[0].rpo", "at most 49d")] // a timer's limit (~49.7 days)
    [InlineData("reconcile_every: 9223372036854775807ms", "resources[0].reconcile_every", "too long")]
    [InlineData("deletes: 99999999999999m", "resources[0].deletes", "too long")]
    [InlineData("part_size: 99999999999G", "resources[0].part_size", "expected a size")]
    [InlineData("multipart_threshold: 9007199254740993K", "resources[0].multipart_threshold", "expected a size")]
    [InlineData("rpo: ٣m", "resources[0].rpo", "expected a duration")] // an Arabic-Indic digit is not a digit here
    public void HugeDurationsAndSizes_AreLocatedErrors(string line, string key, string message) =>
        Fails(Base + "\n    " + line + "\n", 9, key, message);

    [Fact]
    public void ADelayedDeleteMayBeLong_ButNotBeyondTheCalendar()
    {
        var cfg = ConfigLoader.Parse("c.yaml", Base + "\n    deletes: 365d\n");
        Assert.Equal(TimeSpan.FromDays(365), cfg.Resources[0].Deletes.Delay);
        Assert.True(Durations.TryParse("36500d", out _));
        Assert.False(Durations.TryParse("36501d", out _));
    }

    [Fact]
    public void SizeOverflow_NeverWrapsIntoRange()
    {
        // 2^54 KiB wraps to 0 in 64 bits, (2^44 + 8) GiB to 8 GiB.
        Assert.False(Sizes.TryParse("18014398509481984K", out _));
        Assert.False(Sizes.TryParse("17592186044424G", out _));
        Assert.True(Sizes.TryParse("8MiB", out var n));
        Assert.Equal(8L << 20, n);
    }

    // ---- A: YAML: alias bombs, undefined aliases, tabs, documents, brackets, depth ----

    private static string Bomb(string at) =>
        $"""
        stores:
          a: {"{"} type: file, path: a {"}"}
        resources: []
        rules:
          - name: bomb
            action: {"{"} notify: http://127.0.0.1:9/x {"}"}
            event_pattern:
              a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
              b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
              c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
              d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
              e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
              f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
              g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
              h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
              {at}: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
        """;

    [Fact]
    public void AliasBomb_FailsFast_AtTheAliasThatCrossesTheLimit()
    {
        var sw = Stopwatch.StartNew();
        var e = Fails(Bomb("i"), 12, "(yaml)", "expand to more than 10000 nodes");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"took {sw.Elapsed}");
        Assert.Contains("*d", e.Message);
    }

    [Fact]
    public void Aliases_WithinTheBudget_StillWork()
    {
        var cfg = ConfigLoader.Parse("c.yaml", """
            stores:
              a: &file { type: file, path: a }
              b: *file
            resources:
              - name: photos
                source: { store: a, bucket: photos }
                target: { store: b, bucket: photos-dr }
            """);
        Assert.Equal(cfg.Stores["a"].Path, cfg.Stores["b"].Path);
    }

    [Theory]
    [InlineData("stores:\n  a: { type: file, path: a }\nresources:\n  - *nothing\n", 4, 5, "alias *nothing refers to no anchor")]
    [InlineData("stores:\n  a: &x { type: file, path: *x }\n", 2, 29, "inside the node it refers to")]
    [InlineData("stores:\n  a: { type: file, path: a }\n---\nresources: []\n", 3, 1, "a second YAML document")]
    [InlineData("stores:\n  a: { type: file, path: a }\n--- \n", 3, 1, "a second YAML document")]
    public void YamlStructure_ErrorsAreLocated(string text, int line, int column, string message) =>
        Fails(text, line, "(yaml)", message, column);

    [Fact]
    public void TooManyAliases_AreRefused()
    {
        var text = "stores:\n  a: { type: file, path: &p a }\nx: [" + string.Join(",", Enumerable.Repeat("*p", 300)) + "]\n";
        Fails(text, 3, "(yaml)", "more than 256 aliases");
    }

    [Fact]
    public void TabIndentation_IsReportedWhereTheTabIs()
    {
        var text = Base.Replace("    concurrency: 4", "\tconcurrency: 4");
        Assert.NotEqual(Base, text);
        Fails(text, 8, "(yaml)", "a tab in the indentation", column: 1);
        Fails("stores:\n  a:\n  \ttype: file\n", 3, "(yaml)", "a tab in the indentation", column: 3);
    }

    [Fact]
    public void UnclosedFlowMapping_IsLocatedAtItsBrace_WithoutTheRuntimesMessage()
    {
        var text = "stores:\n  a: { type: file, path: a }\nresources:\n  - name: x\n    source: { store: a, bucket: b\n    target: { store: a, bucket: c }\n";
        var e = Fails(text, 5, "(yaml)", "this '{' is never closed", column: 13);
        Assert.DoesNotContain("Operation is not valid", e.Message);
        Fails("stores: [a, b\nx: 1\n", 1, "(yaml)", "this '[' is never closed", column: 9);
    }

    [Fact]
    public void DeepNesting_IsRefused_NotAStackOverflow()
    {
        var text = "stores:\n  a: " + new string('[', 100_000) + new string(']', 100_000) + "\n";
        Fails(text, 2, "(yaml)", "nested more than 64 levels");
    }

    // ---- A: ports ----

    [Theory]
    [InlineData("    events: { listen: 127.0.0.1:0, token: t }", 9, "resources[0].events.listen", "port 1-65535")]
    [InlineData("metrics: { listen: 127.0.0.1:0 }", 9, "metrics.listen", "port 1-65535")]
    [InlineData("serve: { listen: 127.0.0.1:0 }", 9, "serve.listen", "port 1-65535")]
    [InlineData("checks:\n  - { name: c, http: { url: http://127.0.0.1:0/health } }", 10, "checks[0].http.url", "port 0 is not a port")]
    [InlineData("checks:\n  - { name: c, tcp: 127.0.0.1:0 }", 10, "checks[0].tcp", "HOST:PORT")]
    public void PortZero_IsRefused(string add, int line, string key, string message) =>
        Fails(Base + "\n" + add + "\n", line, key, message);

    [Fact]
    public void PortZero_InAStoreEndpoint_IsRefused() =>
        Fails("stores:\n  s: { type: s3, endpoint: http://127.0.0.1:0 }\n", 2, "stores.s.endpoint", "port 0 is not a port");

    // ---- A: listeners other hosts can reach ----

    [Theory]
    [InlineData("    events: { listen: 0.0.0.0:8099 }", 9, "resources[0].events.listen")]
    [InlineData("    events: { listen: '[::]:8099' }", 9, "resources[0].events.listen")]
    [InlineData("    events: { listen: 10.1.2.3:8099, insecure: false }", 9, "resources[0].events.listen")]
    [InlineData("serve: { listen: 0.0.0.0:8095 }", 9, "serve.listen")]
    public void NonLoopbackListenerWithoutToken_IsAnError(string add, int line, string key)
    {
        var e = Fails(Base + "\n" + add + "\n", line, key, "reachable from other hosts but no token is set");
        Assert.Contains("insecure: true", e.Message);
    }

    [Fact]
    public void NonLoopbackListener_WithATokenOrInsecureTrue_IsAccepted_AndInsecureIsRecorded()
    {
        var cfg = ConfigLoader.Parse("c.yaml", Base + "\n    events: { listen: 0.0.0.0:8099, insecure: true }\nserve: { listen: 0.0.0.0:8095, insecure: true }\n");
        Assert.True(cfg.Resources[0].Events!.Insecure);
        Assert.True(cfg.Recovery.Serve.Insecure);
        cfg = ConfigLoader.Parse("c.yaml", Base + "\n    events: { listen: 0.0.0.0:8099, token: t }\nserve: { listen: 0.0.0.0:8095, token: u }\n");
        Assert.False(cfg.Resources[0].Events!.Insecure);
        Assert.False(cfg.Recovery.Serve.Insecure);
        cfg = ConfigLoader.Parse("c.yaml", Base + "\n    events: { listen: 127.0.0.1:8099, insecure: true }\n");
        Assert.False(cfg.Resources[0].Events!.Insecure); // loopback: nothing insecure to warn about
    }

    // ---- B: an empty token never disables authentication ----

    [Theory]
    [InlineData("    events: { token: \"\" }", "resources[0].events.token", "is empty")]
    [InlineData("    events: { token: '   ' }", "resources[0].events.token", "is empty")]
    [InlineData("    events: { token: }", "resources[0].events.token", "is empty")]
    [InlineData("    events: { token: ' abc' }", "resources[0].events.token", "white space")]
    [InlineData("serve: { token: \"\" }", "serve.token", "is empty")]
    [InlineData("serve: { token: }", "serve.token", "is empty")]
    [InlineData("serve: { token_env: }", "serve.token_env", "name an environment variable")]
    public void EmptyToken_IsAConfigError(string add, string key, string message) =>
        Fails(Base + "\n" + add + "\n", 9, key, message);

    [Fact]
    public void TokenEnv_NamingAnEmptyVariable_IsAConfigError()
    {
        var name = "LIFEBOAT_TEST_EMPTY_TOKEN_" + Guid.NewGuid().ToString("N")[..8];
        Environment.SetEnvironmentVariable(name, " ");
        try
        {
            Fails(Base + $"\n    events: {{ token_env: {name} }}\n", 9, "resources[0].events.token_env", $"environment variable {name} is empty");
            Fails(Base + $"\nserve: {{ token_env: {name} }}\n", 9, "serve.token_env", $"environment variable {name} is empty");
        }
        finally { Environment.SetEnvironmentVariable(name, null); }
    }

    // ---- C: listeners and routes that collide ----

    private const string TwoResources = """
        stores:
          a: { type: file, path: a }
          b: { type: file, path: b }
        resources:
          - name: photos
            source: { store: a, bucket: photos }
            target: { store: b, bucket: photos }
            events: { listen: 127.0.0.1:8099, path: /events, token: t }
          - name: docs
            source: { store: a, bucket: docs }
            target: { store: b, bucket: docs }
            events: { listen: 127.0.0.1:8099, path: /events, token: t }

        """;

    [Fact]
    public void ResourceEventsOnTheServeAddress_WithServesPath_IsACollision()
    {
        var e = Fails(Base + "\n    events: { listen: 127.0.0.1:8095, token: t }\nserve: { listen: 127.0.0.1:8095, token: u }\n",
            9, "resources[0].events.path", "collides with serve.events_path");
        Assert.Contains("(line 10)", e.Message);
        Assert.Contains("POST /events on 127.0.0.1:8095", e.Message);
    }

    [Theory]
    [InlineData("/api/failover")]
    [InlineData("/API/Failover/")]
    [InlineData("/api/executions/7/approve")]
    public void ResourceEventsOnTheServeAddress_OnAnApiPath_IsACollision(string path) =>
        Fails(Base + $"\n    events: {{ listen: 127.0.0.1:8095, token: t, path: {path} }}\nserve: {{ listen: 127.0.0.1:8095, token: u }}\n",
            9, "resources[0].events.path", "collides with serve's API");

    [Fact]
    public void ServesOwnEventsPath_OnItsApi_IsACollision() =>
        Fails(Base + "\nserve: { listen: 127.0.0.1:8095, token: u, events_path: /api/failover }\n", 9, "serve.events_path", "collides with serve's API");

    [Fact]
    public void TheDefaultServeListener_CountsWhenTheConfigIsForServe()
    {
        // checks: make the config serve's, whose listener is 127.0.0.1:8095 with /events by default.
        var text = Base + "\n    events: { listen: 127.0.0.1:8095, token: t }\nchecks:\n  - { name: c, tcp: 127.0.0.1:1 }\n";
        var e = Fails(text, 9, "resources[0].events.path", "collides with serve.events_path");
        Assert.Contains("(serve's default: listen 127.0.0.1:8095, events_path /events)", e.Message);
        // Without serve sections, replicate may use that address; serve itself checks again at its start.
        var cfg = ConfigLoader.Parse("c.yaml", Base + "\n    events: { listen: 127.0.0.1:8095, token: t }\n");
        Assert.Throws<ConfigException>(() => ConfigLoader.CheckListeners(cfg, withServe: true));
    }

    [Fact]
    public void TwoResourcesWithPathsThatDifferOnlyInCase_Collide()
    {
        var text = TwoResources.Replace("path: /events, token: t }\n  - name: docs", "path: /Events, token: t }\n  - name: docs");
        Assert.NotEqual(TwoResources, text);
        Fails(text, 12, "resources[1].events.path", "collides with resources[0].events.path");
    }

    [Fact]
    public void ListenersOnTheSamePort_OneOfThemEveryInterface_Collide()
    {
        Fails(Base + "\n    events: { listen: 127.0.0.1:9464, token: t }\nmetrics: { listen: 0.0.0.0:9464 }\n", 10, "metrics.listen", "bind the same port 9464");
        Fails(Base + "\n    events: { listen: '[::]:8095', token: t }\nserve: { listen: 127.0.0.1:8095, token: u }\n", 10, "serve.listen", "bind the same port 8095");
    }

    [Theory]
    [InlineData("")] // two resources sharing one listener and path: one route for both, as designed
    [InlineData("metrics: { listen: 127.0.0.1:8099 }")] // metrics on an events address: that listener serves /metrics
    [InlineData("metrics: { listen: 127.0.0.2:8099 }")] // another loopback address, same port: two sockets
    [InlineData("serve: { listen: 127.0.0.1:8099, token: u, events_path: /rules }")] // serve's listener takes the events route too
    [InlineData("metrics: { listen: 0.0.0.0:9464 }\nserve: { listen: 127.0.0.1:9464, token: u }")] // serve ignores metrics:
    public void LegitimateListenerSharing_IsAccepted(string add) =>
        ConfigLoader.Parse("c.yaml", TwoResources + add + "\n");

    [Fact]
    public void MetricsOnEveryInterface_NeedsNoToken() => // read-only, like /metrics on every listener
        ConfigLoader.Parse("c.yaml", Base + "\nmetrics: { listen: 0.0.0.0:9464 }\n");

    [Fact]
    public void APathWithBraces_IsRefused() => // ASP.NET would read it as a route parameter, matching anything
        Fails(Base + "\n    events: { path: '/events/{x}', token: t }\n", 9, "resources[0].events.path", "not a plain URL path");
}
