using Lifeboat.Hosting;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using FsCheck.Fluent;
using Lifeboat.Core.Config;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>
/// Config mutation fuzzing (issue 14): valid configs (the README's and docs' examples, and a few of the tests') are
/// mutated at random (keys deleted, duplicated or renamed, scalars replaced by huge, negative, empty, Unicode or
/// YAML-special values, tabs, aliases, deep nesting, truncation at a random byte, a second document) and
/// <see cref="ConfigLoader.Parse"/> must either accept the result or refuse it with one located line
/// (<c>file:line:column: ...</c>, line >= 1): never another exception, never a hang.
/// </summary>
public sealed partial class ConfigFuzzTests
{
    private static readonly string File = Path.Combine(Path.GetTempPath(), "lifeboat-config-fuzz", "lifeboat.yaml");

    private const string Recovery = """
        stores:
          primary:  { type: file, path: primary }
          recovery: { type: file, path: recovery }
          routes:   { type: routes, path: routes.json }
        resources:
          - name: photos
            source: { store: primary, bucket: photos, prefix: "" }
            target: { store: recovery, bucket: photos-dr }
            deletes: 24h
            rpo: 5m
            events: { listen: 127.0.0.1:8099, path: /s3, token: s3cret, verify_sns: false }
            multipart_threshold: 16MiB
        metrics: { listen: 127.0.0.1:9464 }
        checks:
          - name: primary-app
            http: { url: "http://user:pass@127.0.0.1:8081/health", expect_status: 200, body_contains: ok }
            interval: 1s
            timeout: 500ms
            failure_threshold: 3 of 5
            on_failure: { runbook: failover-app, approval: manual }
          - name: lag
            alarm: { resource: photos, metric: lag, above: 10m }
            on_failure: [{ notify: "https://hooks.slack.com/services/T1/B2/SECRET" }]
        rules:
          - name: health
            event_pattern: { source: [aws.health], detail: { service: [S3], eventTypeCategory: [issue] } }
            action: { runbook: failover-app }
            hold_down: 10m
        runbooks:
          failover-app:
            description: switch to the recovery region
            steps:
              - name: pause
                replication: { resource: photos, action: pause }
              - name: healthy
                needs: pause
                probe: { tcp: 127.0.0.1:8082, every: 100ms }
                retries: 2
                backoff: 1s
              - name: switch
                needs: [healthy]
                dns: { store: routes, record: app.example.internal, type: A, value: 127.0.0.2, ttl: 5 }
                on_failure: { run: page }
              - name: page
                notify: { webhook: "https://hooks.slack.com/services/T1/B2/SECRET", text: failed }
              - name: wait
                needs: switch
                wait: 30s
        serve: { listen: 127.0.0.1:8095, token: t0ken, events_path: /events }
        """;

    private const string Tables = """
        stores:
          ddb-primary:  { type: dynamodb, region: us-east-1, endpoint: http://127.0.0.1:8000, access_key_env: AK, secret_key_env: SK }
          ddb-recovery: { type: dynamodb, region: us-west-2 }
          s3:           { type: s3, endpoint: http://127.0.0.1:7480, force_path_style: true, role_arn: arn:aws:iam::1:role/r }
        resources:
          - name: orders
            type: table
            source: { store: ddb-primary, table: orders }
            target: { store: ddb-recovery, table: orders }
            create_target: true
            exclude_attributes: [big_blob]
            deletes: propagate
            rpo: 30s
            concurrency: 4
            canary: { every: 10s, key: { pk: lifeboat-canary } }
          - name: db
            type: rds
            instance: prod-db
            source_region: us-east-1
            target_region: us-west-2
            schedule: "0 3 * * *"
            keep: 14
          - name: pg
            type: postgres
            connection: { host: 127.0.0.1, port: 5432, user: replicator, password_env: PGPASSWORD }
            target: { store: s3, bucket: wal, prefix: pg/ }
            base_backup: { schedule: "0 2 * * *", keep: 7 }
        """;

    [GeneratedRegex(@"```ya?ml\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex YamlBlock();

    /// <summary>The starting configs: the examples of README.md and docs/*.md, and the two above.</summary>
    private static List<string> Seeds()
    {
        var seeds = new List<string> { Recovery, Tables };
        var docs = new[] { Path.Combine(Repo.Root, "README.md") }
            .Concat(Directory.EnumerateFiles(Path.Combine(Repo.Root, "docs"), "*.md", SearchOption.AllDirectories))
            .Order(StringComparer.Ordinal);
        foreach (var doc in docs)
            foreach (Match m in YamlBlock().Matches(System.IO.File.ReadAllText(doc)))
                seeds.Add(m.Groups[1].Value);
        return seeds;
    }

    private static readonly string[] Values =
    [
        "99999999999999999999", "-1", "0", "-99999999999999m", "99999999999999m", "9999999999999999999G", "1e400", "NaN",
        "\"\"", "''", "' '", "~", "null", "true", "{}", "[]", "[1, 2]", "{ x: 1 }", "\t", "\tx", "ünïcødé ✓ 中文 🚣", "\u0000",
        "\u202e", "٣m", "&a x", "*a", "*undefined", "[", "{", "{ a: 1", "]", "}", "!!binary AAAA", "!custom x", "%x", "@x", "`x",
        "|", ">", "? x", "- x", "http://u:p@127.0.0.1:0/x", "0.0.0.0:8099", "0.0.0.0:0", "[::]:1", "127.0.0.1:65536",
        "/api/failover", "/events", "/metrics", "'/x/{y}'", "\"\\uD800\"", "\"\\x\"", "!!int x", "&a [*a]", "x: y: z",
        "0x1F", "1_000", ".inf", "0o17", "+5", "5 of 3", "3 of 5", "1h30m", "0s", "0ms", new string('x', 5000),
    ];

    /// <summary>One mutation of <paramref name="text"/>, chosen and placed by <paramref name="r"/>.</summary>
    private static string Mutate(string text, Random r)
    {
        var lines = text.Split('\n').ToList();
        int Line() => r.Next(lines.Count);
        switch (r.Next(16))
        {
            case 0: lines.RemoveAt(Line()); break;                                   // delete a key (a line)
            case 1: { var i = Line(); lines.Insert(i, lines[i]); break; }            // duplicate it
            case 2: case 3: case 4:                                                  // replace a scalar
            {
                var i = Line();
                var colon = lines[i].IndexOf(": ", StringComparison.Ordinal);
                var v = Values[r.Next(Values.Length)];
                lines[i] = colon < 0 ? lines[i] + " " + v : lines[i][..(colon + 2)] + v;
                break;
            }
            case 5: { var i = Line(); lines[i] = "\t" + lines[i].TrimStart(' '); break; }   // a tab as indentation
            case 6: return text[..r.Next(text.Length + 1)];                                 // truncated at a random byte
            case 7: return text + "\n---\n" + (r.Next(2) == 0 ? "x: 1\n" : text);            // a second document
            case 8:                                                                          // deep nesting
            {
                var i = Line();
                var n = r.Next(1, 200);
                var colon = lines[i].IndexOf(": ", StringComparison.Ordinal);
                var deep = r.Next(2) == 0 ? new string('[', n) + new string(']', n)
                    : string.Concat(Enumerable.Repeat("{ a: ", n)) + "1" + new string('}', n);
                lines[i] = colon < 0 ? lines[i] + " " + deep : lines[i][..(colon + 2)] + deep;
                break;
            }
            case 9:                                                                          // an alias bomb
            {
                var bomb = new StringBuilder("x0: &x0 [a, a, a, a, a, a, a, a, a]\n");
                for (var k = 1; k < 9; k++) bomb.Append(CultureInfo.InvariantCulture, $"x{k}: &x{k} [{string.Join(", ", Enumerable.Repeat($"*x{k - 1}", 9))}]\n");
                lines.Insert(0, bomb.ToString().TrimEnd('\n'));
                break;
            }
            case 10:                                                                         // a random character anywhere
            {
                var i = r.Next(text.Length + 1);
                var chars = "\t\r\0\u00a0\u2028\uFEFF\"'#&*!|>%@`{}[],:-?~\\\u00e9\u4e2d";
                return text[..i] + chars[r.Next(chars.Length)] + text[i..];
            }
            case 11: { var i = Line(); lines[i] = Regex.Replace(lines[i], @"(\w+):", "$1x:"); break; }   // rename keys
            case 12: { var i = Line(); lines[i] = r.Next(2) == 0 ? "  " + lines[i] : lines[i].Length > 2 ? lines[i][2..] : ""; break; } // re-indent
            case 14: case 15:                                                                // a number grows (durations, sizes, ports, counts)
            {
                var withDigits = Enumerable.Range(0, lines.Count).Where(k => lines[k].Any(char.IsAsciiDigit)).ToList();
                if (withDigits.Count == 0) break;
                var i = withDigits[r.Next(withDigits.Count)];
                var huge = r.Next(3) switch { 0 => "99999999999999", 1 => "9223372036854775807", _ => new string('9', r.Next(5, 40)) };
                var hits = Regex.Matches(lines[i], "[0-9]+");
                var h = hits[r.Next(hits.Count)];
                lines[i] = lines[i][..h.Index] + huge + lines[i][(h.Index + h.Length)..];
                break;
            }
            default:                                                                         // anchor one node, alias it elsewhere
            {
                var i = Line();
                var j = Line();
                var ci = lines[i].IndexOf(": ", StringComparison.Ordinal);
                var cj = lines[j].IndexOf(": ", StringComparison.Ordinal);
                if (ci >= 0) lines[i] = lines[i][..(ci + 2)] + "&n " + lines[i][(ci + 2)..];
                if (cj >= 0) lines[j] = lines[j][..(cj + 2)] + "*n";
                break;
            }
        }
        return string.Join('\n', lines);
    }

    [Fact]
    public void MutatedConfigs_AreAcceptedOrRefusedWithOneLocatedLine()
    {
        var seeds = Seeds();
        Assert.True(seeds.Count >= 5, $"only {seeds.Count} example configs found");
        var located = new Regex("^" + Regex.Escape(File) + @":([0-9]+):([0-9]+): ");
        Fuzz.Check(Gen.Choose(0, int.MaxValue), caseSeed =>
        {
            var r = new Random(caseSeed);
            var text = seeds[r.Next(seeds.Count)];
            for (var n = r.Next(1, 4); n > 0; n--) text = Mutate(text, r);
            var parse = Task.Run(() =>
            {
                try
                {
                    Configs.Parse(File, text);
                    return ((Exception?)null, (Exception?)null);
                }
                catch (Exception e) when (e is ConfigException or UserErrorException) { return (e, null); }
                catch (Exception e) { return (null, e); }
            });
            Assert.True(parse.Wait(TimeSpan.FromSeconds(5)), $"Parse did not finish within 5 s for:\n{text}");
            var (refusal, crash) = parse.Result;
            if (crash is not null) Assert.Fail($"Parse threw {crash}\nfor:\n{text}");
            if (refusal is { } refused)
            {
                var m = located.Match(refused.Message);
                Assert.True(m.Success && long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) >= 1,
                    $"not a located error: {refused.GetType().Name}: {refused.Message}\nfor:\n{text}");
                Assert.DoesNotContain("\n", refused.Message);
            }
        }, runs: 1500);
    }

    [Fact]
    public void TheSeeds_MostlyParse()
    {
        // The mutations start from valid configs: the examples must (mostly) be whole configs that load.
        var ok = 0;
        foreach (var s in Seeds())
        {
            try { Configs.Parse(File, s); ok++; }
            catch (Exception e) when (e is ConfigException or UserErrorException) { }
        }
        Assert.True(ok >= 4, $"only {ok} example configs load");
    }
}
