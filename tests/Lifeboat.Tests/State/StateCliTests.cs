using System.Text;
using Amazon.DynamoDBv2;
using Lifeboat.Abstractions;
using Lifeboat.Core.State;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.State;

/// <summary>The state file through the CLI, as a user meets it (issue 14, finding 6; ADR 0009): a truncated, damaged
/// or lost state file never makes a command start over silently; <c>--reset-state</c> starts over knowingly; the
/// state file of the last release keeps working after the upgrade.</summary>
public sealed class StateCliTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly DdbTables _ddb = new();

    public void Dispose()
    {
        _ddb.Dispose();
        _dir.Dispose();
    }

    private string StatePath => Path.Combine(_dir.Path, "state", "state.db");

    private (int Code, string Output) Lifeboat(params string[] args) => LifeboatCli.Run(_dir.Path, _ddb.Env, args);

    /// <summary>Exactly one line from lifeboat, containing every part; no stack trace.</summary>
    private static string AssertOneLine(string output, params string[] parts)
    {
        Assert.DoesNotContain("   at ", output);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("lifeboat: ", StringComparison.Ordinal));
        foreach (var p in parts) Assert.Contains(p, line);
        return line;
    }

    private string FolderConfig(string extraResources = "") => _dir.File("lifeboat.yaml", $$"""
        state: state/state.db
        stores:
          primary:  { type: file, path: primary }
          recovery: { type: file, path: recovery }
        resources:
          - name: photos
            type: bucket
            source: { store: primary, bucket: b }
            target: { store: recovery, bucket: b-dr }
            deletes: 1h
        {{extraResources}}
        runbooks:
          failover:
            steps:
              - name: stop-replication
                replication: { resource: photos, action: stop }
        """);

    private void Files(int from, int to)
    {
        var dir = Path.Combine(_dir.Path, "primary", "b");
        Directory.CreateDirectory(dir);
        Directory.CreateDirectory(Path.Combine(_dir.Path, "recovery"));
        for (var i = from; i < to; i++) File.WriteAllText(Path.Combine(dir, $"f{i:00}.txt"), $"file {i}\n");
    }

    private string[] TargetFiles() => Directory.Exists(Path.Combine(_dir.Path, "recovery", "b-dr"))
        ? Directory.GetFiles(Path.Combine(_dir.Path, "recovery", "b-dr")).Select(f => Path.GetFileName(f)).Order().ToArray()
        : [];

    /// <summary>The finding, reproduced: a failover stopped replication (the primary is failing), the state file is
    /// truncated to 0 bytes. `replicate --once` must refuse with one line and copy nothing from the failing primary.</summary>
    [Fact]
    public void TruncatedStateFile_AfterAFailoverStoppedReplication_ReplicateOnceRefusesAndCopiesNothing_ResetStateStartsOverKnowingly()
    {
        var cfg = FolderConfig();
        Files(0, 10);
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        (code, output) = Lifeboat("failover", "-c", cfg, "--yes");
        Assert.True(code == 0, output);
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.Contains("photos: not replicated: replication is stopped", output);
        Files(10, 59); // the failing primary changes: none of it may reach the recovery copy
        var before = TargetFiles();
        Assert.Equal(10, before.Length);

        File.WriteAllBytes(StatePath, []); // truncate -s 0
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.Equal(2, code);
        AssertOneLine(output, $"state file {StatePath} is empty (0 bytes)", "--reset-state");
        Assert.Equal(before, TargetFiles());
        Assert.Equal(0, new FileInfo(StatePath).Length);

        // Every command that opens the state stops the same way.
        foreach (var args in new[] { new[] { "status" }, ["verify"], ["executions"], ["report", "1"], ["failover", "--yes"], ["approve", "1"] })
        {
            (code, output) = Lifeboat([.. args, "-c", cfg]);
            Assert.True(code == 2, string.Join(" ", args) + ": " + output);
            AssertOneLine(output, $"state file {StatePath} is empty (0 bytes)", "--reset-state");
        }

        // --reset-state: the damaged file is set aside (kept), said so, and the run starts over knowingly.
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once", "--reset-state");
        Assert.True(code == 0, output);
        Assert.Contains("--reset-state: the state file", output);
        Assert.Contains("moved it aside to " + StatePath + ".damaged-", output);
        Assert.Contains("--reset-state: resource 'photos': target recovery/b-dr/ is protected by another Lifeboat state", output);
        Assert.Equal(59, TargetFiles().Length);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(StatePath)!, "state.db.damaged-*"));
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("59 already in sync", output);
    }

    /// <summary>A state file lost with its folder: the new, empty state is refused by the target's claim marker.</summary>
    [Fact]
    public void ARemovedStateFolder_IsDetectedByTheTargetsClaim_AndRefused_ResetStateTakesTheTargetOver()
    {
        var cfg = FolderConfig();
        Files(0, 5);
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Lifeboat("failover", "-c", cfg, "--yes");
        Directory.Delete(Path.GetDirectoryName(StatePath)!, recursive: true);
        Files(5, 8);

        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.Equal(2, code);
        AssertOneLine(output, "resource 'photos': target recovery/b-dr/ is protected by another Lifeboat state (state ",
            $"and the state file {StatePath} is new (created just now)", "--reset-state");
        Assert.Equal(5, TargetFiles().Length);
        // The state made by that refused run is not the one either; verify (read-only) refuses too.
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.Equal(2, code);
        AssertOneLine(output, "is protected by another Lifeboat state", "is not the one that protected it", "--reset-state");
        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.Equal(2, code);
        AssertOneLine(output, "is protected by another Lifeboat state");
        Assert.Equal(5, TargetFiles().Length);

        (code, output) = Lifeboat("replicate", "-c", cfg, "--once", "--reset-state");
        Assert.True(code == 0, output);
        Assert.Contains("it is now protected by this state file", output);
        Assert.Equal(8, TargetFiles().Length);
        (code, output) = Lifeboat("verify", "-c", cfg);
        Assert.True(code == 0, output);
    }

    [Fact]
    public void TwoResourcesWithOneTarget_TheSecondIsRefused()
    {
        var cfg = FolderConfig("""
              - name: photos-again
                type: bucket
                source: { store: primary, bucket: b }
                target: { store: recovery, bucket: b-dr }
            """);
        Files(0, 2);
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once", "--resource", "photos");
        Assert.True(code == 0, output);
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once", "--resource", "photos-again");
        Assert.Equal(2, code);
        AssertOneLine(output, "resource 'photos-again': target recovery/b-dr/ is protected by resource 'photos' of this same state file");
    }

    /// <summary>Damage through the CLI (the property test drives the store in-process): each command exits 2 with
    /// one line naming the file and --reset-state, and replicate copies nothing.</summary>
    [Fact]
    public void EveryCommand_OnADamagedStateFile_ExitsTwoWithOneLine()
    {
        var cfg = FolderConfig();
        Files(0, 5);
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Lifeboat("failover", "-c", cfg, "--yes");
        Files(5, 8);
        var good = File.ReadAllBytes(StatePath);
        var damages = new (string Name, Func<byte[], byte[]> Damage, string What)[]
        {
            ("zeroed header", b => { var c = (byte[])b.Clone(); Array.Clear(c, 0, 100); return c; }, "is damaged (SQLite error 26"),
            ("truncated", b => b[..(b.Length * 2 / 3)], "is damaged"),
            ("pages overwritten", b => { var c = (byte[])b.Clone(); Array.Fill(c, (byte)0x5A, 4096, c.Length - 4096); return c; }, "is damaged"),
        };
        var commands = new[] { new[] { "status" }, ["verify"], ["replicate", "--once"], ["executions"] };
        foreach (var (name, damage, what) in damages)
        foreach (var args in commands)
        {
            File.WriteAllBytes(StatePath, damage(good));
            (code, output) = Lifeboat([.. args, "-c", cfg]);
            Assert.True(code == 2, $"{name}, {string.Join(" ", args)}: {output}");
            AssertOneLine(output, $"state file {StatePath}", what, "--reset-state");
            Assert.Equal(5, TargetFiles().Length);
        }
    }

    [Fact]
    public void AParentPathThatIsAFile_AndAReadOnlyStateFile_AreOneLineErrors()
    {
        Files(0, 2);
        File.WriteAllText(Path.Combine(_dir.Path, "state"), "a file where the state folder should be");
        var cfg = FolderConfig();
        foreach (var args in new[] { new[] { "replicate", "--once" }, ["status"], ["verify"], ["executions"] })
        {
            var (code, output) = Lifeboat([.. args, "-c", cfg]);
            Assert.True(code == 2, string.Join(" ", args) + ": " + output);
            AssertOneLine(output, $"state file {StatePath}: cannot create its folder {Path.Combine(_dir.Path, "state")}");
        }
        File.Delete(Path.Combine(_dir.Path, "state"));
        Assert.Equal(0, Lifeboat("replicate", "-c", cfg, "--once").Code);
        using (new ReadOnlyFile(StatePath))
        {
            var (code, output) = Lifeboat("status", "-c", cfg);
            Assert.True(code == 0, output); // reading works
            Files(2, 3);
            (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
            Assert.Equal(2, code);
            AssertOneLine(output, $"state file {StatePath} is read-only");
        }
    }

    /// <summary>The state file of the last release (Fixtures/state-v1.db, see make-state-v1.sh) with the same
    /// resources: every command works after the upgrade, and what it recorded (a stopped resource, a held delete, a
    /// runbook execution) is still there.</summary>
    [Fact]
    public async Task TheStateFileOfTheLastRelease_EveryCommandWorksAfterTheUpgrade()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StatePath)!);
        File.Copy(StateFileTests.FixturePath, StatePath);
        Directory.CreateDirectory(Path.Combine(_dir.Path, "recovery"));
        var photos = Directory.CreateDirectory(Path.Combine(_dir.Path, "primary", "photos")).FullName;
        for (var i = 1; i <= 4; i++) File.WriteAllText(Path.Combine(photos, $"p{i}.jpg"), $"photo {i}\n");
        var archive = Directory.CreateDirectory(Path.Combine(_dir.Path, "primary", "archive")).FullName;
        File.WriteAllText(Path.Combine(archive, "a1.log"), "old log\n");
        var src = DynamoDbLocal.NewTableName("v1-orders");
        await _ddb.CreateAsync(src, StreamViewType.NEW_AND_OLD_IMAGES);
        await _ddb.LoadAsync(src, Enumerable.Range(1, 3).Select(i => DdbTables.Item("o" + i, i, "order " + i)));
        var cfg = _dir.File("lifeboat.yaml", $$"""
            state: state/state.db
            stores:
              primary:  { type: file, path: primary }
              recovery: { type: file, path: recovery }
            {{_ddb.Stores.Replace("primary:", "ddb-primary:").Replace("recovery:", "ddb-recovery:")}}
            resources:
              - name: photos
                type: bucket
                source: { store: primary, bucket: photos }
                target: { store: recovery, bucket: photos-dr }
                deletes: 1h
              - name: archive
                type: bucket
                source: { store: primary, bucket: archive }
                target: { store: recovery, bucket: archive-dr }
              - name: orders
                type: table
                source: { store: ddb-primary, table: {{src}} }
                target: { store: ddb-recovery, table: {{src}}-dr }
                create_target: true
            runbooks:
              failover:
                steps:
                  - name: stop-archive
                    replication: { resource: archive, action: stop }
                  - name: note
                    needs: [stop-archive]
                    exec: echo failed over
            """);

        var (code, output) = Lifeboat("status", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("photos:", output);
        Assert.Contains("deletes held      1", output);
        Assert.Contains("orders (table:", output);
        (code, output) = Lifeboat("executions", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("failover", output);
        Assert.Contains("succeeded", output);
        (code, output) = Lifeboat("report", "1", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("stop-archive", output);
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 1, output); // archive is still stopped, as the failover left it
        Assert.Contains("archive: not replicated: replication is stopped", output);
        Assert.Contains("photos: 4 listed, 0 already in sync, 4 copied", output);
        Assert.Contains("orders: initial sync: 3 items scanned, 3 written", output);
        (code, output) = Lifeboat("verify", "-c", cfg, "--resource", "photos");
        Assert.True(code == 0, output);
        (code, output) = Lifeboat("verify", "-c", cfg, "--resource", "orders");
        Assert.True(code == 0, output);
        Assert.Equal(1, ReadUserVersion());
    }

    private long ReadUserVersion()
    {
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={StatePath};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA user_version";
        return (long)cmd.ExecuteScalar()!;
    }

    /// <summary>A table has no claim marker: a lost state file with a target table that already holds items is
    /// refused; --reset-state goes on.</summary>
    [Fact]
    public async Task ALostStateFile_WithATargetTableThatHoldsItems_IsRefused_ResetStateGoesOn()
    {
        var src = DynamoDbLocal.NewTableName("lost-src");
        var dst = DynamoDbLocal.NewTableName("lost-dst");
        await _ddb.CreateAsync(src, StreamViewType.NEW_AND_OLD_IMAGES);
        await _ddb.LoadAsync(src, Enumerable.Range(0, 5).Select(i => DdbTables.Item("p", i, "v" + i)));
        var cfg = _ddb.Config(_dir, src, dst);
        var state = Path.Combine(_dir.Path, "state", "lifeboat.db");
        var (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        File.Delete(state);
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.Equal(2, code);
        AssertOneLine(output, $"resource 'orders': target table recovery/{dst} already holds items, and the state file {state} is new", "--reset-state");
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once", "--reset-state");
        Assert.True(code == 0, output);
        Assert.Contains("--reset-state: resource 'orders': target table", output);
        (code, output) = Lifeboat("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
    }

    /// <summary>The claim marker of an S3 target is an object (PREFIX.lifeboat/state.json): a propagated delete
    /// never removes it, verify does not count it, a restore never copies it back.</summary>
    [Fact]
    public async Task AnS3TargetsClaimMarker_IsNeverDeletedVerifiedOrRestored()
    {
        var rgw = RgwServer.Instance;
        var src = RgwServer.NewBucketName("claim-src");
        var dst = RgwServer.NewBucketName("claim-dst");
        var restored = RgwServer.NewBucketName("claim-restored");
        await using var s3 = rgw.CreateStore();
        foreach (var b in new[] { src, dst, restored }) await s3.CreateBucketAsync(b, CancellationToken.None);
        for (var i = 0; i < 3; i++)
        {
            var data = Encoding.UTF8.GetBytes($"object {i}");
            await s3.PutAsync(src, $"k{i}", new MemoryStream(data), data.Length, ObjectMetadata.Empty, new PartLayout(long.MaxValue, 8 << 20), CancellationToken.None);
        }
        var cfg = _dir.File("s3.yaml", $$"""
            state: state/state.db
            stores:
              rgw: { type: s3, endpoint: {{rgw.Endpoint}}, region: us-east-1, force_path_style: true, profile: lifeboat-test }
            resources:
              - name: photos
                type: bucket
                source: { store: rgw, bucket: {{src}} }
                target: { store: rgw, bucket: {{dst}}, prefix: "dr/" }
                deletes: propagate
            """);
        var env = new Dictionary<string, string?>
        {
            ["AWS_SHARED_CREDENTIALS_FILE"] = rgw.CredentialsFile(_dir),
            ["AWS_CONFIG_FILE"] = Path.Combine(_dir.Path, "no-config"),
        };
        var (code, output) = LifeboatCli.Run(_dir.Path, env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("3 listed", output);
        Assert.NotNull(await s3.StatAsync(dst, "dr/.lifeboat/state.json", CancellationToken.None));
        await s3.DeleteAsync(src, "k0", CancellationToken.None);
        (code, output) = LifeboatCli.Run(_dir.Path, env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("3 listed, 2 already in sync, 0 copied (0B), 1 deleted", output);
        Assert.NotNull(await s3.StatAsync(dst, "dr/.lifeboat/state.json", CancellationToken.None));
        (code, output) = LifeboatCli.Run(_dir.Path, env, "verify", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("photos: OK: 2 keys checked, 2 equal, 0 differences", output);
        (code, output) = LifeboatCli.Run(_dir.Path, env, "restore", "-c", cfg, "--resource", "photos", "--to-bucket", restored);
        Assert.True(code == 0, output);
        var keys = new List<string>();
        await foreach (var o in s3.ListAsync(restored, "", null, CancellationToken.None)) keys.Add(o.Key);
        Assert.Equal(["k1", "k2"], keys);
    }
}
