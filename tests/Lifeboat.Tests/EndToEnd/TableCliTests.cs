using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>Table resources through the CLI, as a user runs it: a separate process, real config files, the real
/// DynamoDB Local (two stores on it stand for two regions), exit codes and messages.</summary>
public sealed class TableCliTests : IDisposable
{
    private readonly DdbTables _ddb = new();
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        _ddb.Dispose();
        _dir.Dispose();
    }

    private (int Code, string Output) Lifeboat(params string[] args) => LifeboatCli.Run(_dir.Path, _ddb.Env, args);

    private static void AssertOneLineError(string output, params string[] parts)
    {
        Assert.DoesNotContain("   at ", output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines, l => l.StartsWith("lifeboat: ", StringComparison.Ordinal));
        foreach (var p in parts) Assert.Contains(p, line);
    }

    [Fact]
    public async Task ReplicateOnce_ThenVerifyFindsMissingDifferentAndExtra_NumbersExactSetsAsSets_StatusShowsLagAndRpo()
    {
        var src = DynamoDbLocal.NewTableName("src");
        var dst = DynamoDbLocal.NewTableName("dst");
        await _ddb.CreateAsync(src, StreamViewType.NEW_AND_OLD_IMAGES);
        await _ddb.LoadAsync(src, Enumerable.Range(0, 200).Select(i => new Dictionary<string, DdbValue>(DdbTables.Item("p" + i % 7, i, "v" + i)) { ["blob"] = DdbValue.B(new byte[] { 1, 2, 3 }) }));
        var cfg = _ddb.Config(_dir, src, dst, "    exclude_attributes: [blob]\n    deletes: propagate");

        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("orders: initial sync: 200 items scanned, 200 written", output);
        Assert.Contains("backlog 0", output);
        DdbTables.AssertSameItems(await _ddb.ScanAsync(src), await _ddb.ScanAsync(dst), "blob");

        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains($"orders (primary/{src} -> recovery/{dst}): OK: 200 items checked, 200 equal, 0 differences", output);

        // A second run has nothing to do.
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("orders: stream: 0 records read (0 already in the initial copy), 0 items written or deleted", output);
        await _ddb.PutAsync(src, DdbTables.Item("late", 1, "after the sync"));
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("orders: stream: 1 records read (0 already in the initial copy), 1 items written or deleted", output);
        await _ddb.DeleteAsync(src, "late", 1);
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);

        (code, output) = Lifeboat("status", "-c", cfg, "--json");
        Assert.True(code == 0, output);
        var row = JsonDocument.Parse(output).RootElement.EnumerateArray().Single();
        Assert.Equal("orders", row.GetProperty("resource").GetString());
        Assert.Equal("table", row.GetProperty("type").GetString());
        Assert.Equal(0, row.GetProperty("backlog").GetInt64());
        Assert.True(row.GetProperty("changes_last_hour").GetInt64() >= 2); // at least the late put and its delete
        Assert.True(row.GetProperty("lag_p99_seconds").GetDouble() >= 0);
        Assert.True(row.GetProperty("rpo_known").GetBoolean());
        Assert.True(row.GetProperty("rpo_met").GetBoolean());
        Assert.True(row.GetProperty("rpo_seconds").GetDouble() < 300);
        Assert.Equal(300, row.GetProperty("rpo_target_seconds").GetDouble());
        Assert.NotEqual(JsonValueKind.Null, row.GetProperty("stream_read_to_end_at").ValueKind);
        (code, output) = Lifeboat("status", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains($"orders (table: primary/{src} -> recovery/{dst}):", output);
        Assert.Contains("RPO (measured)", output);
        Assert.Contains("met", output);

        // Now change the target behind Lifeboat's back.
        var changed = DdbTables.Item("p1", 1, "changed on the target");
        await _ddb.PutAsync(dst, changed);                                    // different
        await _ddb.DeleteAsync(dst, "p2", 2);                                 // missing
        await _ddb.PutAsync(dst, DdbTables.Item("zz", 999, "only here"));     // extra
        var reordered = DdbTables.Item("p3", 3, "v3");                        // sets in another order, same numbers: equal
        reordered["tags"] = DdbValue.SS(["c", "a", "b"]);
        reordered["nums"] = DdbValue.NS(["-3", "2.5", "1"]);
        await _ddb.PutAsync(dst, reordered);
        var withBlob = new Dictionary<string, DdbValue>(DdbTables.Item("p4", 4, "v4")) { ["blob"] = DdbValue.B(new byte[] { 9 }) };
        await _ddb.PutAsync(dst, withBlob);                                   // differs only in an excluded attribute: equal
        var n = DdbTables.Item("p5", 5, "v5");
        n["n"] = DdbValue.N("12345678901234567890123456789012345679");       // the 38th digit differs
        await _ddb.PutAsync(dst, n);

        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.Equal(1, code);
        Assert.Contains("DIFFERENT: 201 items checked, 197 equal, 4 differences", output);
        Assert.Contains($"different {DdbTables.KeyString("p1", 1)}: v: {{\"S\":\"v1\"}} at the source, {{\"S\":\"changed on the target\"}} on the target", output);
        Assert.Contains($"missing   {DdbTables.KeyString("p2", 2)}: not on the target", output);
        Assert.Contains($"extra     {DdbTables.KeyString("zz", 999)}: on the target but not at the source (deletes: propagate)", output);
        Assert.Contains($"different {DdbTables.KeyString("p5", 5)}: n: ", output);
        Assert.DoesNotContain(DdbTables.KeyString("p3", 3), output);
        Assert.DoesNotContain(DdbTables.KeyString("p4", 4), output);

        (code, output) = Lifeboat("verify", "-c", cfg, "--json");
        Assert.Equal(1, code);
        var v = JsonDocument.Parse(output).RootElement.EnumerateArray().Single();
        Assert.False(v.GetProperty("ok").GetBoolean());
        Assert.Equal("table", v.GetProperty("type").GetString());
        Assert.Equal(["different", "different", "extra", "missing"],
            v.GetProperty("differences").EnumerateArray().Select(d => d.GetProperty("kind").GetString()!).Order());
    }

    [Fact]
    public async Task Continuous_TablesAlongsideBuckets_CanaryArrives_SigtermFinishesAndExitsZero()
    {
        var src = DynamoDbLocal.NewTableName("src");
        var dst = DynamoDbLocal.NewTableName("dst");
        var metricsPort = S3ReplicationTests.FreePort();
        await _ddb.CreateAsync(src, StreamViewType.NEW_IMAGE);
        await _ddb.LoadAsync(src, Enumerable.Range(0, 50).Select(i => DdbTables.Item("a", i, "before")));
        Directory.CreateDirectory(Path.Combine(_dir.Path, "files", "docs"));
        Directory.CreateDirectory(Path.Combine(_dir.Path, "copy", "docs"));
        File.WriteAllText(Path.Combine(_dir.Path, "files", "docs", "one.txt"), "one");
        var cfg = _ddb.Config(_dir, src, dst, "    deletes: propagate\n    canary: { every: 1s, key: { pk: lifeboat-canary, sk: \"-1\" } }",
            moreStores: "  files: { type: file, path: files }\n  copy: { type: file, path: copy }",
            moreResources: "  - name: docs\n    source: { store: files, bucket: docs }\n    target: { store: copy, bucket: docs }\n    reconcile_every: 1s" +
                           $"\nmetrics: {{ listen: 127.0.0.1:{metricsPort} }}");
        var output = new StringBuilder();
        using var p = LifeboatCli.Start(_dir.Path, _ddb.Env, output, "replicate", "-c", cfg);
        try
        {
            await Eventually.TrueAsync(async () => await _ddb.CountAsync(dst) >= 50, TimeSpan.FromSeconds(60), "the initial sync; output: " + output);
            for (var i = 0; i < 30; i++) await _ddb.PutAsync(src, DdbTables.Item("b", i, "while running"));
            await _ddb.DeleteAsync(src, "a", 0);
            File.WriteAllText(Path.Combine(_dir.Path, "files", "docs", "two.txt"), "two");
            await Eventually.TrueAsync(async () =>
            {
                var (s, d) = (await _ddb.ScanAsync(src), await _ddb.ScanAsync(dst));
                return s.Count == d.Count && s.Keys.All(d.ContainsKey) && File.Exists(Path.Combine(_dir.Path, "copy", "docs", "two.txt"));
            }, TimeSpan.FromSeconds(60), "the changes replicated; output: " + output);
            await Eventually.TrueAsync(() =>
            {
                var (code, json) = Lifeboat("status", "-c", cfg, "--json");
                if (code != 0) return false;
                var row = JsonDocument.Parse(json).RootElement.EnumerateArray().Single(r => r.GetProperty("resource").GetString() == "orders");
                return row.GetProperty("canary") is { ValueKind: JsonValueKind.Object } c && c.GetProperty("arrived_last_hour").GetInt64() >= 2;
            }, TimeSpan.FromSeconds(60), "two canaries arrived; output: " + output);
            // Prometheus metrics for the table, with the bucket resources' names: alarms work the same for both.
            using var http = new HttpClient();
            var metrics = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
            Assert.Matches(@"lifeboat_table_sync_items_total\{resource=""orders""\} 5[01]\n", metrics); // 50 items (+ a canary written before the scan)
            Assert.Matches(@"lifeboat_replication_lag_seconds_count\{resource=""orders""\} (3[1-9]|[4-9]\d|\d{3,})", metrics); // 30 puts + 1 delete + canaries
            Assert.Contains("lifeboat_deletes_total{resource=\"orders\"} 1", metrics);
            Assert.Matches(@"lifeboat_table_puts_total\{resource=""orders""\} \d+", metrics);
            Assert.Matches(@"lifeboat_canary_lag_seconds\{resource=""orders""\} \d", metrics);
            Assert.Matches(@"lifeboat_backlog\{resource=""orders""\} \d", metrics);
            Assert.Contains("lifeboat_backlog{resource=\"docs\"}", metrics);
        }
        finally
        {
            Mono.Unix.Signal(p.Id, 15);
        }
        Assert.True(p.WaitForExit(30_000), output.ToString());
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, output.ToString());
        Assert.Contains("stopped cleanly", output.ToString());

        var (code2, status) = Lifeboat("status", "-c", cfg);
        Assert.True(code2 == 0, status);
        Assert.Contains("canary            last arrived", status);
        Assert.Matches(@"lag \(last hour\)   p50 \S+, p99 \S+ over \d+ changes", status);
        var (code3, verify) = Lifeboat("verify", "-c", cfg);
        Assert.True(code3 == 0, verify);
        Assert.Contains("docs: OK", verify);
        var canary = (await _ddb.ScanAsync(dst))[DdbTables.KeyString("lifeboat-canary", -1)];
        Assert.True(canary.ContainsKey(TableReplicator.CanarySeqAttribute));
    }

    [Fact]
    public async Task BadInput_UnknownTable_StreamDisabled_WrongTargetKeys_AreOneLineUserErrors()
    {
        var cfg = _ddb.Config(_dir, DynamoDbLocal.NewTableName("absent"), DynamoDbLocal.NewTableName("dst"));
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 2, output);
        AssertOneLineError(output, "lifeboat.yaml:", "source table", "does not exist in store 'primary'");

        var noStream = DynamoDbLocal.NewTableName("nostream");
        await _ddb.CreateAsync(noStream, stream: null);
        cfg = _ddb.Config(_dir, noStream, DynamoDbLocal.NewTableName("dst"));
        (code, output) = Lifeboat("replicate", "-c", cfg);
        Assert.True(code == 2, output);
        AssertOneLineError(output, $"table '{noStream}' has no stream", "NEW_AND_OLD_IMAGES", "NEW_IMAGE",
            $"aws dynamodb update-table --table-name {noStream} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES");

        var keysOnly = DynamoDbLocal.NewTableName("keysonly");
        await _ddb.CreateAsync(keysOnly, StreamViewType.KEYS_ONLY);
        cfg = _ddb.Config(_dir, keysOnly, DynamoDbLocal.NewTableName("dst"));
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 2, output);
        AssertOneLineError(output, "is KEYS_ONLY", "NEW_AND_OLD_IMAGES");

        var src = DynamoDbLocal.NewTableName("src");
        var wrong = DynamoDbLocal.NewTableName("wrongkeys");
        await _ddb.CreateAsync(src, StreamViewType.NEW_AND_OLD_IMAGES);
        await _ddb.CreateAsync(wrong, StreamViewType.NEW_AND_OLD_IMAGES, numberSortKey: false);
        cfg = _ddb.Config(_dir, src, wrong);
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 2, output);
        AssertOneLineError(output, $"target table '{wrong}' has other keys than the source (pk S HASH, sk S RANGE vs pk S HASH, sk N RANGE)");
        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.True(code == 2, output);
        AssertOneLineError(output, "other keys");

        cfg = _ddb.Config(_dir, src, DynamoDbLocal.NewTableName("dst"), "    canary: { every: 5s, key: { id: x } }");
        (code, output) = Lifeboat("replicate", "-c", cfg);
        Assert.True(code == 2, output);
        AssertOneLineError(output, "canary.key: name the key attributes", "(pk, sk)");

        (code, output) = Lifeboat("replicate", "-c", cfg, "--resource", "nope", "--once");
        Assert.True(code == 2, output);
        AssertOneLineError(output, "no resource named 'nope' (resources: orders)");
    }

    [Fact]
    public async Task Restore_OnlyMissingByDefault_OverwriteReplacesDiffering_KeepingExcludedAttributes_ToTableCreatesANewTable()
    {
        var src = DynamoDbLocal.NewTableName("src");
        var dst = DynamoDbLocal.NewTableName("dst");
        await _ddb.CreateAsync(src, StreamViewType.NEW_AND_OLD_IMAGES);
        await _ddb.LoadAsync(src, Enumerable.Range(0, 50).Select(i => new Dictionary<string, DdbValue>(DdbTables.Item("r", i, "v" + i)) { ["blob"] = DdbValue.S("kept at the source") }));
        var cfg = _ddb.Config(_dir, src, dst, "    exclude_attributes: [blob]");
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        var original = await _ddb.ScanAsync(src);

        // The incident: 5 items deleted, 3 changed at the source (Lifeboat is not running: the replica keeps them).
        for (var i = 0; i < 5; i++) await _ddb.DeleteAsync(src, "r", i);
        for (var i = 10; i < 13; i++) await _ddb.PutAsync(src, new Dictionary<string, DdbValue>(DdbTables.Item("r", i, "newer")) { ["blob"] = DdbValue.S("kept at the source") });

        (code, output) = Lifeboat("restore", "-c", cfg, "--resource", "orders");
        Assert.True(code == 0, output);
        Assert.Contains($"restore orders: 5 items restored to primary/{src} from recovery/{dst}; 42 already equal, 3 differing kept as they are (--overwrite replaces them)", output);
        var now = await _ddb.ScanAsync(src);
        Assert.Equal(50, now.Count);
        Assert.Equal("newer", now[DdbTables.KeyString("r", 10)]["v"].Text);
        Assert.Equal("v0", now[DdbTables.KeyString("r", 0)]["v"].Text);
        Assert.False(now[DdbTables.KeyString("r", 0)].ContainsKey("blob")); // the replica never had it

        (code, output) = Lifeboat("restore", "-c", cfg, "--resource", "orders", "--overwrite");
        Assert.True(code == 0, output);
        Assert.Contains("0 items restored, 3 differing items replaced", output);
        now = await _ddb.ScanAsync(src);
        Assert.Equal("v10", now[DdbTables.KeyString("r", 10)]["v"].Text);
        Assert.Equal("kept at the source", now[DdbTables.KeyString("r", 10)]["blob"].Text); // excluded: the destination's value stays

        var fresh = DynamoDbLocal.NewTableName("restored");
        (code, output) = Lifeboat("restore", "-c", cfg, "--resource", "orders", "--to-table", fresh);
        Assert.True(code == 0, output);
        Assert.Contains($"50 items restored to primary/{fresh} (table created)", output);
        var t = (await _ddb.Client.DescribeTableAsync(fresh)).Table;
        Assert.Equal([("pk", "HASH"), ("sk", "RANGE")], t.KeySchema.Select(k => (k.AttributeName, k.KeyType.Value)));
        Assert.Equal("N", t.AttributeDefinitions.Single(a => a.AttributeName == "sk").AttributeType.Value);
        DdbTables.AssertSameItems(original, await _ddb.ScanAsync(fresh), "blob");

        (code, output) = Lifeboat("restore", "-c", cfg, "--resource", "orders", "--prefix", "x");
        Assert.True(code == 2, output);
        AssertOneLineError(output, "is a table resource");
    }

    [Fact]
    public async Task Failback_VerifyShowsWhatWasWrittenInRecovery_ReverseReplicatesItBack()
    {
        var src = DynamoDbLocal.NewTableName("src");
        var dst = DynamoDbLocal.NewTableName("dst");
        await _ddb.CreateAsync(src, StreamViewType.NEW_AND_OLD_IMAGES);
        await _ddb.LoadAsync(src, Enumerable.Range(0, 40).Select(i => DdbTables.Item("f", i, "primary")));
        var cfg = _ddb.Config(_dir, src, dst, "    deletes: propagate");
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Equal(StreamViewType.NEW_AND_OLD_IMAGES, (await _ddb.Client.DescribeTableAsync(dst)).Table.StreamSpecification.StreamViewType); // created for failback

        // Failover: the application writes to the recovery table.
        for (var i = 100; i < 105; i++) await _ddb.PutAsync(dst, DdbTables.Item("f", i, "written in recovery"));
        await _ddb.PutAsync(dst, DdbTables.Item("f", 7, "changed in recovery"));
        await _ddb.DeleteAsync(dst, "f", 8);

        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.Equal(1, code);
        Assert.Contains("DIFFERENT", output);
        Assert.Contains($"extra     {DdbTables.KeyString("f", 100)}", output);
        Assert.Contains($"different {DdbTables.KeyString("f", 7)}: v: {{\"S\":\"primary\"}} at the source, {{\"S\":\"changed in recovery\"}} on the target", output);
        Assert.Contains($"missing   {DdbTables.KeyString("f", 8)}", output);

        (code, output) = Lifeboat("verify", "-c", cfg, "--reverse");
        Assert.Equal(1, code);
        Assert.Contains($"orders.reverse (recovery/{dst} -> primary/{src}): DIFFERENT: 45 items checked, 38 equal, 7 differences", output);
        for (var i = 100; i < 105; i++) Assert.Contains($"missing   {DdbTables.KeyString("f", i)}: not on the target", output);

        (code, output) = Lifeboat("replicate", "-c", cfg, "--resource", "orders", "--reverse", "--once");
        Assert.True(code == 0, output);
        Assert.Contains($"orders (reverse: recovery/{dst} -> primary/{src}): initial sync: 44 items scanned", output);
        // Failed once in CI (2026-11-22, under load): f/8, deleted in recovery, was back at the source. The run's own
        // summary (swept, records read, covered by the sync) is kept in the failure message to tell where it went.
        var reversed = output;
        try { DdbTables.AssertSameItems(await _ddb.ScanAsync(dst), await _ddb.ScanAsync(src)); }
        catch (Xunit.Sdk.XunitException e) { throw new Xunit.Sdk.XunitException($"{e.Message}\nreverse run output:\n{reversed}"); }
        Assert.Equal("changed in recovery", (await _ddb.ScanAsync(src))[DdbTables.KeyString("f", 7)]["v"].Text);

        (code, output) = Lifeboat("verify", "-c", cfg, "--reverse");
        Assert.True(code == 0, output);
        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.True(code == 0, output);
        (code, output) = Lifeboat("status", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains($"orders.reverse (table-reverse: recovery/{dst} -> primary/{src}):", output);

        // Back to normal: the forward direction picks up again; the failback's writes come back to it unchanged.
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.True(code == 0, output);

        (code, output) = Lifeboat("replicate", "-c", cfg, "--reverse", "--resource", "nope");
        Assert.Equal(2, code);
    }
}
