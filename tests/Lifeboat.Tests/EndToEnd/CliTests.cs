using System.Text;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Providers.S3;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>The CLI as a user runs it: a separate process, real config files, real RGW, exit codes and messages.</summary>
public sealed class CliTests
{
    private static string RgwConfig(TempDir dir, string src, string dst, string extra = "", string srcProfile = "lifeboat-test", string? endpoint = null) => dir.File("lifeboat.yaml", $"""
        state: state/lifeboat.db
        stores:
          primary:  {"{"} type: s3, endpoint: {endpoint ?? RgwServer.Instance.Endpoint}, region: us-east-1, force_path_style: true, profile: {srcProfile} {"}"}
          recovery: {"{"} type: file, path: recovery {"}"}
        resources:
          - name: photos
            type: bucket
            source: {"{"} store: primary, bucket: {src}, prefix: "" {"}"}
            target: {"{"} store: recovery, bucket: {dst}, prefix: "" {"}"}
            rpo: 5m
            reconcile_every: 10m
        {extra}
        """);

    private static Dictionary<string, string?> Env(TempDir dir) => new()
    {
        ["AWS_SHARED_CREDENTIALS_FILE"] = RgwServer.Instance.CredentialsFile(dir),
        ["AWS_CONFIG_FILE"] = Path.Combine(dir.Path, "no-config"),
        ["AWS_CA_BUNDLE"] = null,
    };

    private static async Task SeedRgwAsync(string bucket, int n)
    {
        await using var s3 = RgwServer.Instance.CreateStore();
        await s3.CreateBucketAsync(bucket, CancellationToken.None);
        for (var i = 0; i < n; i++)
        {
            var data = Encoding.UTF8.GetBytes($"object {i} " + new string('x', i * 10));
            await s3.PutAsync(bucket, $"p/{i:000}.txt", new MemoryStream(data), data.Length,
                new ObjectMetadata("text/plain", null, null, new Dictionary<string, string> { ["n"] = i.ToString() }, new Dictionary<string, string>()),
                new PartLayout(long.MaxValue, 8 << 20), CancellationToken.None);
        }
    }

    private static void AssertNoStackTrace(string output) =>
        Assert.DoesNotContain("   at ", output);

    [Fact]
    public void Validate_GoodConfig_ExitsZero_BadConfig_NamesFileLineKey()
    {
        using var dir = new TempDir();
        var good = RgwConfig(dir, "a", "b");
        var (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", good);
        Assert.True(code == 0, output);
        Assert.Contains("OK", output);

        var bad = dir.File("bad.yaml", File.ReadAllText(good).Replace("rpo: 5m", "rpo: 5 minutes"));
        (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", bad);
        Assert.Equal(2, code);
        Assert.Contains($"{bad}:10:", output);
        Assert.Contains("resources[0].rpo", output);
        AssertNoStackTrace(output);

        (code, output) = LifeboatCli.Run(dir.Path, null, "validate", "-c", Path.Combine(dir.Path, "missing.yaml"));
        Assert.Equal(2, code);
        Assert.Contains("missing.yaml", output);
        AssertNoStackTrace(output);
    }

    [Fact]
    public async Task RoleArn_IsAssumedThroughRgwSts_AReadOnlyRoleCannotWrite_AnUnknownRoleIsAClearError()
    {
        using var dir = new TempDir();
        var rgw = RgwServer.Instance;
        var src = RgwServer.NewBucketName("sts");
        var dst = RgwServer.NewBucketName("sts-dr");
        await SeedRgwAsync(src, 5);
        await using (var s3 = rgw.CreateStore()) await s3.CreateBucketAsync(dst, CancellationToken.None);
        // The recovery store (the cluster's STS-enabled gateway) signs with the role's temporary credentials; the user's
        // own keys only ask its STS for them.
        string Config(string role) => dir.File("sts.yaml", $"""
            state: state/lifeboat.db
            stores:
              primary:  {"{"} type: s3, endpoint: {rgw.Endpoint}, region: us-east-1, force_path_style: true, profile: lifeboat-test {"}"}
              recovery: {"{"} type: s3, endpoint: {rgw.StsEndpoint}, region: us-east-1, force_path_style: true, profile: lifeboat-test, role_arn: "{role}" {"}"}
            resources:
              - name: photos
                source: {"{"} store: primary, bucket: {src} {"}"}
                target: {"{"} store: recovery, bucket: {dst} {"}"}
            """);

        // A role that may only read: the user's own keys could write, so a refused write shows the role is in use. The
        // first write is the target's claim marker (ADR 0009): refused before any copy, in one line.
        var (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", Config(rgw.ReadOnlyRoleArn), "--once");
        Assert.True(code == 2, output);
        Assert.Contains("cannot write its claim marker", output);
        Assert.Contains("access denied", output);
        AssertNoStackTrace(output);

        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", Config(rgw.RoleArn), "--once");
        Assert.True(code == 0, output);
        Assert.Contains("5 listed, 0 already in sync, 5 copied", output);
        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "verify", "-c", Config(rgw.RoleArn));
        Assert.True(code == 0, output);

        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", Config("arn:aws:iam:::role/no-such-role"), "--once");
        Assert.Equal(2, code);
        Assert.Contains($"role_arn: STS at {rgw.StsEndpoint} refused AssumeRole for arn:aws:iam:::role/no-such-role", output);
        AssertNoStackTrace(output);
    }

    /// <summary>
    /// The two other ways a platform engineer hands Lifeboat a role, both of which the SDK would serve with an STS
    /// client it finds by reflection (impossible in the AOT release, where both failed with "missing runtime
    /// dependency" while `dotnet run` worked): a `profile:` that assumes a role from a source_profile (Lifeboat assumes
    /// it, signed with the source profile's keys: a read-only role's refused write shows the role is in use), and the
    /// default chain's web identity (an EKS service account: AWS_ROLE_ARN and a token file, STS asked without signing)
    /// against moto's STS and S3. This class runs again against the release package.
    /// </summary>
    [Fact]
    public async Task ARoleProfile_AndWebIdentity_AssumeTheirRoles()
    {
        using var dir = new TempDir();
        var rgw = RgwServer.Instance;
        var src = RgwServer.NewBucketName("rp");
        var dst = RgwServer.NewBucketName("rp-dr");
        await SeedRgwAsync(src, 3);
        await using (var s3 = rgw.CreateStore()) await s3.CreateBucketAsync(dst, CancellationToken.None);
        string RoleProfile(string role) => dir.File("aws-config", $"[profile dr]\nrole_arn = {role}\nsource_profile = lifeboat-test\n");
        var config = dir.File("rp.yaml", $"""
            state: state/lifeboat.db
            stores:
              primary:  {"{"} type: s3, endpoint: {rgw.Endpoint}, region: us-east-1, force_path_style: true, profile: lifeboat-test {"}"}
              recovery: {"{"} type: s3, endpoint: {rgw.StsEndpoint}, region: us-east-1, force_path_style: true, profile: dr {"}"}
            resources:
              - name: photos
                source: {"{"} store: primary, bucket: {src} {"}"}
                target: {"{"} store: recovery, bucket: {dst} {"}"}
            """);
        var env = Env(dir);
        env["AWS_CONFIG_FILE"] = RoleProfile(rgw.ReadOnlyRoleArn);
        env["AWS_ENDPOINT_URL_STS"] = rgw.StsEndpoint;
        var (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", config, "--once");
        Assert.True(code == 2, output);
        Assert.Contains("cannot write its claim marker", output);
        AssertNoStackTrace(output);
        RoleProfile(rgw.RoleArn);
        (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", config, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("3 listed, 0 already in sync, 3 copied", output);
        RoleProfile("arn:aws:iam:::role/no-such-role");
        (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", config, "--once");
        Assert.True(code == 2, output);
        Assert.Equal($"lifeboat: {config}:4: stores.recovery.profile: profile 'dr': STS at {rgw.StsEndpoint} refused AssumeRole for arn:aws:iam:::role/no-such-role: NoSuchEntity (HTTP 404)",
            output.Trim());

        // Web identity from the default chain, against moto (which accepts any token and any keys it issued).
        var moto = MotoServer.Instance;
        var bucket = RgwServer.NewBucketName("wi");
        var (ak, sk) = moto.CredentialEnv();
        await using (var m = new S3Store(new StoreConfig("moto", StoreType.S3, new ConfigLocation("test", 1, "moto"),
                         Endpoint: moto.Endpoint, Region: "us-east-1", AccessKeyEnv: ak, SecretKeyEnv: sk)))
            await m.CreateBucketAsync(bucket, CancellationToken.None);
        Directory.CreateDirectory(Path.Combine(dir.Path, "files", "docs"));
        File.WriteAllText(Path.Combine(dir.Path, "files", "docs", "a.txt"), "web identity");
        var wi = dir.File("wi.yaml", $"""
            state: state/wi.db
            stores:
              primary:  {"{"} type: file, path: files {"}"}
              recovery: {"{"} type: s3, endpoint: {moto.Endpoint}, region: us-east-1 {"}"}
            resources:
              - name: docs
                source: {"{"} store: primary, bucket: docs {"}"}
                target: {"{"} store: recovery, bucket: {bucket} {"}"}
            """);
        env = Env(dir);
        foreach (var v in new[] { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE" }) env[v] = null;
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir.File("token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJsaWZlYm9hdCJ9.");
        env["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/lifeboat-dr";
        env["AWS_ROLE_SESSION_NAME"] = "lifeboat-test";
        env["AWS_REGION"] = "us-east-1";
        env["AWS_ENDPOINT_URL_STS"] = moto.Endpoint;
        env["AWS_EC2_METADATA_DISABLED"] = "true";
        (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", wi, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("1 copied", output);
    }

    /// <summary>
    /// A refused AssumeRole is one line naming the STS endpoint, the role, and the error code and message STS sent, never
    /// the answer's body, and is not retried: Ceph RGW's STS refusing an unknown role (an XML error whose message is
    /// empty, which the SDK quoted whole), and an endpoint that is no STS and answers with a multi-line HTML page
    /// (moto's server at a path it does not serve). Both for a store with a custom endpoint (Lifeboat's AssumeRole at
    /// sts_endpoint, the lean S3 path) and for an AWS store (the SDK's AssumeRole, sent where AWS_ENDPOINT_URL_STS says,
    /// and AWSSDK.S3).
    /// </summary>
    [Fact]
    public void RefusedAssumeRole_IsOneLine_NamingEndpointRoleAndError()
    {
        using var dir = new TempDir();
        var rgw = RgwServer.Instance;
        var notSts = MotoServer.Instance.Endpoint + "/not-sts";
        string Config(string? stsEndpoint, string role) => dir.File("sts.yaml", $"""
            state: state/lifeboat.db
            stores:
              primary:  {"{"} type: file, path: primary {"}"}
              recovery: {"{"} type: s3, {(stsEndpoint is null ? "" : $"endpoint: {rgw.Endpoint}, sts_endpoint: \"{stsEndpoint}\", ")}region: us-east-1, profile: lifeboat-test, role_arn: "{role}" {"}"}
            resources:
              - name: photos
                source: {"{"} store: primary, bucket: photos {"}"}
                target: {"{"} store: recovery, bucket: photos-dr {"}"}
            """);
        Directory.CreateDirectory(Path.Combine(dir.Path, "primary", "photos"));
        const string unknown = "arn:aws:iam:::role/no-such-role";
        const string html = "HTTP 404 NotFound without an AWS error (a text/html answer)";
        foreach (var (sts, aws, role, error) in new[]
                 {
                     (rgw.StsEndpoint, false, unknown, "NoSuchEntity (HTTP 404)"),
                     (notSts, false, rgw.RoleArn, html + ": is this the STS endpoint (sts_endpoint, else the store's endpoint)?"),
                     (rgw.StsEndpoint, true, unknown, "NoSuchEntity (HTTP 404)"),
                     (notSts, true, rgw.RoleArn, html),
                 })
        {
            var env = Env(dir);
            if (aws) env["AWS_ENDPOINT_URL_STS"] = sts;
            var (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", Config(aws ? null : sts, role), "--once");
            Assert.True(code == 2, output);
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Assert.Equal($"lifeboat: {Path.Combine(dir.Path, "sts.yaml")}:4: stores.recovery.role_arn: STS at {sts} refused AssumeRole for {role}: {error}", line);
        }
    }

    [Fact]
    public void ReplicateOnce_ObeysTheModeAFailoverSet()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "primary", "photos"));
        File.WriteAllText(Path.Combine(dir.Path, "primary", "photos", "a.txt"), "a");
        var cfg = dir.File("lifeboat.yaml", """
            state: state/lifeboat.db
            stores:
              primary:  { type: file, path: primary }
              recovery: { type: file, path: recovery }
            resources:
              - name: photos
                source: { store: primary, bucket: photos }
                target: { store: recovery, bucket: photos-dr }
            """);
        Directory.CreateDirectory(Path.Combine(dir.Path, "state"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "recovery"));
        void SetMode(Core.Replication.ReplicationMode m)
        {
            using var state = new Core.State.StateStore(Path.Combine(dir.Path, "state", "lifeboat.db"));
            Core.Replication.ReplicationControl.Set(state, "photos", m, 1);
        }

        // Paused by a failover runbook: a cron-driven --once must not copy (from a failing primary) and says why.
        SetMode(Core.Replication.ReplicationMode.Paused);
        var (code, output) = LifeboatCli.Run(dir.Path, null, "replicate", "-c", cfg, "--once");
        Assert.True(code == 1, output);
        Assert.Contains("photos: not replicated: replication is paused (set by a failover runbook)", output);
        Assert.False(File.Exists(Path.Combine(dir.Path, "recovery", "photos-dr", "a.txt")));

        SetMode(Core.Replication.ReplicationMode.Forward);
        (code, output) = LifeboatCli.Run(dir.Path, null, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("1 copied", output);
    }

    [Fact]
    public async Task ReplicateOnce_ThenVerify_ThenAMissingObjectMakesVerifyFail()
    {
        using var dir = new TempDir();
        var src = RgwServer.NewBucketName("cli");
        await SeedRgwAsync(src, 30);
        var cfg = RgwConfig(dir, src, "photos-dr");
        Directory.CreateDirectory(Path.Combine(dir.Path, "recovery"));
        var (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("30 copied", output);

        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "verify", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("30 equal", output);

        File.Delete(Path.Combine(dir.Path, "recovery", "photos-dr", "p/007.txt"));
        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "verify", "-c", cfg, "--json");
        Assert.Equal(1, code);
        Assert.Contains("\"key\": \"p/007.txt\"", output);
        Assert.Contains("\"kind\": \"missing\"", output);

        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "status", "-c", cfg, "--json");
        Assert.True(code == 0, output);
        Assert.Contains("\"rpo_met\": true", output);
        Assert.Contains("\"lag_p99_seconds\":", output);
    }

    [Fact]
    public void Status_APostgresArchiveNotCreatedYet_IsThatResourcesState_NotEveryResourcesError()
    {
        // No PostgreSQL server is needed: an unreachable server is a problem shown in the resource's status, as before.
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "share", "b"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "archives"));
        var cfg = dir.File("lifeboat.yaml", """
            state: state.db
            stores:
              share: { type: file, path: share }
              archives: { type: file, path: archives }
              gone: { type: s3, endpoint: http://127.0.0.1:9, access_key_env: LB_AK, secret_key_env: LB_SK }
            resources:
              - name: photos
                source: { store: share, bucket: b }
                target: { store: share, bucket: b-dr }
              - name: main-db
                type: postgres
                connection: { host: 127.0.0.1, port: 9, user: lifeboat, database: postgres }
                target: { store: archives, bucket: db-backups, prefix: main-db/ }
            """);
        var (code, output) = LifeboatCli.Run(dir.Path, null, "status", "-c", cfg);
        Assert.True(code == 0, output); // nothing archived yet is not a failure
        Assert.Contains("main-db (postgres, wal: stream):", output);
        Assert.Contains("archive           none yet", output);
        Assert.Contains("photos:", output);
        AssertNoStackTrace(output);
        (code, output) = LifeboatCli.Run(dir.Path, null, "status", "-c", cfg, "--json");
        Assert.True(code == 0, output);
        Assert.Contains("\"archive\": \"none\"", output);
        Assert.Contains("\"resource\": \"photos\"", output);

        // An archive that cannot be read is shown on its resource; the others still print; the exit code is 1.
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("store: archives,", "store: gone,"));
        (code, output) = LifeboatCli.Run(dir.Path, new Dictionary<string, string?> { ["LB_AK"] = "a", ["LB_SK"] = "b" }, "status", "-c", cfg);
        Assert.True(code == 1, output);
        Assert.Contains("archive not readable: store 'gone' (http://127.0.0.1:9)", output);
        Assert.Contains("photos:", output);
        AssertNoStackTrace(output);
    }

    [Fact]
    public async Task Restore_BringsBackWhatAMistypedDeleteRemoved()
    {
        using var dir = new TempDir();
        var src = RgwServer.NewBucketName("rst");
        await SeedRgwAsync(src, 12);
        var cfg = RgwConfig(dir, src, "photos-dr");
        Directory.CreateDirectory(Path.Combine(dir.Path, "recovery"));
        Assert.Equal(0, LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", cfg, "--once").Code);
        await using (var s3 = RgwServer.Instance.CreateStore())
            for (var i = 0; i < 5; i++) await s3.DeleteAsync(src, $"p/{i:000}.txt", CancellationToken.None);
        var (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("5 deletes held", output);
        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "verify", "-c", cfg);
        Assert.True(code == 0, output); // held deletes are reported, not failures
        Assert.Contains("5 held", output);
        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "restore", "-c", cfg, "--resource", "photos", "--prefix", "p/00");
        Assert.True(code == 0, output);
        Assert.Contains("5 objects restored", output);
        await using var check = RgwServer.Instance.CreateStore();
        var head = await check.HeadAsync(src, "p/003.txt", CancellationToken.None);
        Assert.NotNull(head);
        Assert.Equal("3", head.Metadata.UserMetadata["n"]);

        // Elsewhere: into another bucket of another store, leaving the source alone.
        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "restore", "-c", cfg, "--resource", "photos", "--to-store", "recovery", "--to-bucket", "side-copy");
        Assert.True(code == 0, output);
        Assert.Contains("12 objects restored", output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "recovery", "side-copy", "p", "011.txt")));
    }

    [Fact]
    public void UnreachableEndpoint_OneLineErrorNamingIt()
    {
        using var dir = new TempDir();
        var cfg = RgwConfig(dir, "x", "y", endpoint: "http://127.0.0.1:9");
        Directory.CreateDirectory(Path.Combine(dir.Path, "recovery"));
        var (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", cfg, "--once");
        Assert.Equal(2, code);
        Assert.Contains("127.0.0.1:9", output);
        AssertNoStackTrace(output);
    }

    [Fact]
    public void WrongCredentials_And_MissingBucket_AreOneLineErrors()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "recovery"));
        var (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", RgwConfig(dir, "x", "y", srcProfile: "wrong"), "--once");
        Assert.Equal(2, code);
        Assert.Contains("wrong credentials", output);
        AssertNoStackTrace(output);

        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", RgwConfig(dir, "bucket-that-does-not-exist", "y"), "--once");
        Assert.Equal(2, code);
        Assert.Contains("bucket-that-does-not-exist", output);
        Assert.Contains("does not exist", output);
        AssertNoStackTrace(output);

        (code, output) = LifeboatCli.Run(dir.Path, Env(dir), "replicate", "-c", RgwConfig(dir, "x", "y", srcProfile: "no-such-profile"), "--once");
        Assert.Equal(2, code);
        Assert.Contains("no-such-profile", output);
        AssertNoStackTrace(output);
    }

    [Fact]
    public async Task Continuous_ServesEventsAndMetrics_AndStopsCleanlyOnSigterm()
    {
        using var dir = new TempDir();
        var src = RgwServer.NewBucketName("cont");
        await SeedRgwAsync(src, 5);
        var port = S3ReplicationTests.FreePort();
        var cfg = RgwConfig(dir, src, "photos-dr", extra: "    events: { listen: 127.0.0.1:" + port + ", token: s3cret }");
        Directory.CreateDirectory(Path.Combine(dir.Path, "recovery"));
        await RgwNotifications.ConfigureAsync(RgwServer.Instance, src, $"http://lifeboat:s3cret@127.0.0.1:{port}/events");
        var output = new StringBuilder();
        using var p = LifeboatCli.Start(dir.Path, Env(dir), output, "replicate", "-c", cfg);
        using var http = new HttpClient();
        var target = Path.Combine(dir.Path, "recovery", "photos-dr", "p");
        try
        {
            await Eventually.TrueAsync(() => Directory.Exists(target) && Directory.GetFiles(target).Length == 5, TimeSpan.FromSeconds(60), "backfill of 5 objects");
            await using (var s3 = RgwServer.Instance.CreateStore())
                await s3.PutAsync(src, "p/live.txt", new MemoryStream([1, 2, 3]), 3, ObjectMetadata.Empty, new PartLayout(long.MaxValue, 8 << 20), CancellationToken.None);
            await Eventually.TrueAsync(() => File.Exists(Path.Combine(target, "live.txt")), TimeSpan.FromSeconds(30), "event-driven copy; output: " + output);

            // The file is in place before the copy is verified and counted: wait for the count, not the file.
            var metrics = "";
            await Eventually.TrueAsync(async () =>
            {
                metrics = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
                return metrics.Contains("lifeboat_copies_total{resource=\"photos\"} 6", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(30), "6 copies counted in /metrics");
            Assert.Contains("lifeboat_replication_lag_seconds_bucket{resource=\"photos\",le=\"1\"}", metrics);
            Assert.Contains("lifeboat_copies_total{resource=\"photos\"} 6", metrics);
            Assert.Contains("lifeboat_backlog{resource=\"photos\"} 0", metrics);
            Assert.Contains("lifeboat_bytes_total{resource=\"photos\"}", metrics);
            var unauthorized = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent("{}"));
            Assert.Equal(401, (int)unauthorized.StatusCode);
            var inQuery = await http.PostAsync($"http://127.0.0.1:{port}/events?token=s3cret", new StringContent("{\"hello\":1}"));
            Assert.Equal(401, (int)inQuery.StatusCode); // tokens only in headers
            http.DefaultRequestHeaders.Add("X-Lifeboat-Token", "s3cret");
            var notAnEvent = await http.PostAsync($"http://127.0.0.1:{port}/events", new StringContent("{\"hello\":1}"));
            Assert.Equal(400, (int)notAnEvent.StatusCode);
            var tooBig = await http.PostAsync($"http://127.0.0.1:{port}/events", new ByteArrayContent(new byte[300 * 1024]));
            Assert.Equal(413, (int)tooBig.StatusCode);
        }
        finally
        {
            Mono.Unix.Signal(p.Id, 15);
        }
        Assert.True(p.WaitForExit(30_000), output.ToString());
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, output.ToString());
        Assert.Contains("stopped cleanly", output.ToString());
    }

    [Fact]
    public void Demo_RunsOnEmbeddedDefaults()
    {
        using var dir = new TempDir();
        var (code, output) = LifeboatCli.Run(dir.Path, null, "demo", "--dir", Path.Combine(dir.Path, "demo"));
        Assert.True(code == 0, output);
        Assert.Contains("kept in the recovery copy", output);
        Assert.Contains("60 objects copied back", output);
        Assert.Contains("RPO now", output);
        // The failover part: detection, runbook, routing switch, RTO breakdown.
        Assert.Contains("routing.json now sends app.demo.internal to 127.0.0.2", output);
        Assert.Contains("TRAFFIC SWITCHED", output);
        Assert.Contains("SERVICE VERIFIED", output);
        Assert.Contains("RTO (measured)", output);
    }
}

internal static class Mono
{
    internal static class Unix
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int Kill(int pid, int sig);

        public static void Signal(int pid, int sig) => _ = Kill(pid, sig);
    }
}
