using System.Diagnostics;
using System.Text;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>
/// The config hardening of issue 14 as a user meets it through the CLI: `validate` refuses what used to crash, hang
/// or open a door with exit code 2 and one located line; secrets in URLs never reach the output, the logs or the API;
/// a listener left open on purpose (insecure: true) is said at every start.
/// </summary>
public sealed class ConfigCliTests
{
    private const string Base = """
        state: state/lifeboat.db
        stores:
          a: { type: file, path: a }
          b: { type: file, path: b }
        resources:
          - name: photos
            source: { store: a, bucket: photos }
            target: { store: b, bucket: photos-dr }

        """;

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Exit code 2 and a single line: <c>lifeboat: FILE:LINE:COL: KEY: ...</c>.</summary>
    private static string AssertOneLocatedLine(int code, string output, string file, int line, string key)
    {
        Assert.True(code == 2, $"exit {code}: {output}");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, "expected one line:\n" + output);
        Assert.StartsWith($"lifeboat: {file}:{line}:", lines[0]);
        Assert.Contains($": {key}: ", lines[0]);
        Assert.DoesNotContain("   at ", output);
        Assert.DoesNotContain("Exception", output);
        return lines[0];
    }

    [Fact]
    public void Validate_ADurationBeyondATimeSpan_IsOneLocatedLine()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", Base + "    rpo: 99999999999999m\n");
        var (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", cfg);
        Assert.Contains("too long", AssertOneLocatedLine(code, output, cfg, 9, "resources[0].rpo"));
    }

    [Fact]
    public void Validate_AnAliasBomb_FailsFast()
    {
        using var dir = new TempDir();
        var levels = new StringBuilder("      l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (var i = 1; i < 10; i++) levels.Append($"      l{i}: &l{i} [{string.Join(",", Enumerable.Repeat($"*l{i - 1}", 9))}]\n");
        var cfg = dir.File("lifeboat.yaml", Base + "rules:\n  - name: bomb\n    action: { notify: http://127.0.0.1:9/x }\n    event_pattern:\n" + levels);
        var sw = Stopwatch.StartNew();
        var (code, output) = LifeboatCli.Run(dir.Path, null, TimeSpan.FromSeconds(60), "validate", "-c", cfg);
        Assert.Contains("refused, as a YAML alias bomb would be", AssertOneLocatedLine(code, output, cfg, 17, "(yaml)"));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}"); // the process's start-up included
    }

    [Theory]
    [InlineData("serve: { token: \"\" }", 9, "serve.token")]
    [InlineData("    events: { token: \"\" }", 9, "resources[0].events.token")]
    public void Validate_AnEmptyToken_IsOneLocatedLine(string add, int line, string key)
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", Base + add + "\n");
        var (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", cfg);
        Assert.Contains("is empty", AssertOneLocatedLine(code, output, cfg, line, key));
    }

    [Fact]
    public void Validate_TokenEnvNamingAnEmptyVariable_IsOneLocatedLine()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", Base + "serve: { token_env: LIFEBOAT_TEST_TOKEN }\n");
        // White space only: an empty variable was already "not set"; this one was a token that accepted an empty header.
        var (code, output) = LifeboatCli.Run(dir.Path, new Dictionary<string, string?> { ["LIFEBOAT_TEST_TOKEN"] = "  " }, "validate", "-c", cfg);
        Assert.Contains("environment variable LIFEBOAT_TEST_TOKEN is empty", AssertOneLocatedLine(code, output, cfg, 9, "serve.token_env"));
    }

    [Fact]
    public void Validate_EventsOnTheServeAddressWithTheSamePath_IsACollisionNamingBoth()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", Base + "    events: { listen: 127.0.0.1:18095, token: t }\nserve: { listen: 127.0.0.1:18095, token: u }\n");
        var (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", cfg);
        var line = AssertOneLocatedLine(code, output, cfg, 9, "resources[0].events.path");
        Assert.Contains("collides with serve.events_path", line);
        Assert.Contains("(line 10)", line);
    }

    [Fact]
    public void Validate_AListenerReachableFromOtherHostsWithoutToken_IsOneLocatedLine()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", Base + "    events: { listen: 0.0.0.0:18099 }\n");
        var (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", cfg);
        Assert.Contains("insecure: true", AssertOneLocatedLine(code, output, cfg, 9, "resources[0].events.listen"));
    }

    private const string Secrets = """
        checks:
          - name: app
            http: { url: "http://admin:hunter2@127.0.0.1:{PORT}/health" }
            interval: 1s
            on_failure: { notify: "{NOTIFY}" }
        runbooks:
          failover:
            steps:
              - name: call
                http: { url: "https://api.example.org/switch?token=QUERYSECRET&x=1" }
              - name: page
                needs: call
                notify: "https://discord.com/api/webhooks/42/DISCORDSECRET"
              - name: script
                needs: page
                exec: "curl -fsS https://ops:EXECSECRET@deploy.example.org/hook"
        """;

    private static void AssertNoSecret(string output)
    {
        foreach (var secret in new[] { "hunter2", "SLACKSECRET", "QUERYSECRET", "DISCORDSECRET", "EXECSECRET" })
            Assert.False(output.Contains(secret, StringComparison.Ordinal), $"{secret} shown:\n{output}");
    }

    [Fact]
    public void ValidateAndRunbookPlan_ShowUrlsWithoutTheirSecrets()
    {
        using var dir = new TempDir();
        var cfg = dir.File("lifeboat.yaml", Base + Secrets.Replace("{PORT}", "9").Replace("{NOTIFY}", "https://hooks.slack.com/services/T0001/B0002/SLACKSECRET"));
        var (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", cfg);
        Assert.True(code == 0, output);
        AssertNoSecret(output);
        Assert.Contains("http://***@127.0.0.1:9/health", output);
        Assert.Contains("https://hooks.slack.com/services/T0001/B0002/***", output);

        (code, output) = LifeboatCli.Run(dir.Path, null, "runbook", "plan", "-c", cfg);
        Assert.True(code == 0, output);
        AssertNoSecret(output);
        Assert.Contains("https://api.example.org/switch?token=***&x=1", output);
        Assert.Contains("https://discord.com/api/webhooks/42/***", output);
        Assert.Contains("https://***@deploy.example.org/hook", output);
    }

    [Fact]
    public async Task Serve_ApiStatusAndLogs_ShowUrlsWithoutTheirSecrets()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "a", "photos"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "b", "photos-dr"));
        using var app = new RecordingHttpServer();
        app.Healthy = false; // the check fails: its detail and the failed notification are shown and logged
        var port = RecordingHttpServer.FreePort();
        // The notification goes to a closed port: it fails, and the failure is logged.
        var cfg = dir.File("lifeboat.yaml", Base + Secrets.Replace("{PORT}", app.Port.ToString(System.Globalization.CultureInfo.InvariantCulture))
                                                  .Replace("{NOTIFY}", "http://slack:NOTIFYSECRET@127.0.0.1:9/hook")
                                           + $"\nserve: {{ listen: 127.0.0.1:{port}, token: t }}\n");
        var output = new StringBuilder();
        var serve = LifeboatCli.Start(dir.Path, null, output, "serve", "-c", cfg);
        try
        {
            string? status = null;
            await Eventually.TrueAsync(async () =>
            {
                Assert.False(serve.HasExited, "serve exited");
                try { status = await Http.GetStringAsync($"http://127.0.0.1:{port}/api/status"); }
                catch (HttpRequestException) { return false; }
                return status.Contains("\"last_ok\": false", StringComparison.Ordinal) || status.Contains("\"last_ok\":false", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(60), "serve answers /api/status with the check's first result");
            AssertNoSecret(status!);
            Assert.Contains("http://***@127.0.0.1:", status);
            // The check goes down after 3 failures and notifies; the refused notification is logged.
            await Eventually.TrueAsync(() => { lock (output) return output.ToString().Contains("notify http://***@127.0.0.1:9/hook", StringComparison.Ordinal); },
                TimeSpan.FromSeconds(60), "the failed notification is logged\n" + output);
        }
        catch (Xunit.Sdk.XunitException e)
        {
            lock (output) throw new Xunit.Sdk.XunitException($"{e.Message}\n{output}");
        }
        finally
        {
            serve.Kill(entireProcessTree: false);
            await serve.WaitForExitAsync();
        }
        var all = output.ToString();
        AssertNoSecret(all);
        Assert.DoesNotContain("NOTIFYSECRET", all);
    }

    [Fact]
    public async Task ServeAndReplicate_SayAtEveryStartThatAListenerIsOpenWithoutAToken()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "a", "photos"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "b", "photos-dr"));
        var eventsPort = RecordingHttpServer.FreePort();
        var servePort = RecordingHttpServer.FreePort();
        var cfg = dir.File("lifeboat.yaml", Base + $"    events: {{ listen: 0.0.0.0:{eventsPort}, insecure: true }}\n" +
                                            $"serve: {{ listen: 0.0.0.0:{servePort}, insecure: true }}\n");
        var (code, vout) = LifeboatCli.Run(dir.Path, null, "validate", "-c", cfg);
        Assert.True(code == 0, vout);
        foreach (var (verb, warning) in new[]
                 {
                     ("replicate", $"photos: events listener 0.0.0.0:{eventsPort} is reachable from other hosts without a token (insecure: true)"),
                     ("serve", $"serve.listen 0.0.0.0:{servePort} is reachable from other hosts without a token (insecure: true)"),
                 })
        {
            var output = new StringBuilder();
            var p = LifeboatCli.Start(dir.Path, null, output, verb, "-c", cfg);
            try
            {
                await Eventually.TrueAsync(() => { Assert.False(p.HasExited, $"{verb} exited:\n{output}"); lock (output) return output.ToString().Contains(warning, StringComparison.Ordinal); },
                    TimeSpan.FromSeconds(60), $"{verb} warns: {warning}\n{output}");
                lock (output) Assert.Contains("warn: ", output.ToString());
            }
            finally
            {
                p.Kill(entireProcessTree: false);
                await p.WaitForExitAsync();
            }
        }
    }
}
