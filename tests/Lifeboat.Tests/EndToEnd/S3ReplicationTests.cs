using System.Diagnostics;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Lifeboat.Tests.Replication;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>The replication engine against a real Ceph RGW: server-side copies on one endpoint, streamed copies
/// between endpoints (multipart included), and RGW bucket notifications pushed to Lifeboat's webhook.</summary>
public sealed class S3ReplicationTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static async Task SeedAsync(Harness h, int n, string prefix = "")
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            await h.PutSourceAsync($"{prefix}obj {i:000}+x.bin"));
    }

    [Fact]
    public async Task SameEndpoint_UsesServerSideCopy_PreservesMetadataAndTags_AndVerifies()
    {
        var rgw = RgwServer.Instance;
        await using var h = await Harness.WithAsync(rgw.CreateStore(), RgwServer.NewBucketName("src"), rgw.CreateStore(), RgwServer.NewBucketName("dst"));
        await SeedAsync(h, 40);
        var r = await h.Replicator().ReconcileAsync(null, None);
        Assert.Equal(40, r.Copied);
        Assert.Equal(0, r.Failed);
        var v = await h.Verifier().RunAsync(None);
        Assert.True(v.Ok, string.Join("\n", v.Differences));
        Assert.Equal(40, v.Equal);
        var head = await h.Target.HeadAsync(h.TargetBucket, "obj 007+x.bin", None);
        Assert.Equal("text/plain", head!.Metadata.ContentType);
        Assert.Equal("obj 007+x.bin", head.Metadata.UserMetadata["origin"]);
        Assert.Equal("13", head.Metadata.Tags["k"]);
        Assert.Equal(0, (await h.Replicator().ReconcileAsync(null, None)).Copied);
    }

    [Fact]
    public async Task BetweenEndpoints_StreamsAndVerifies_MultipartObjectsKeepTheSourceETag()
    {
        var rgw = RgwServer.Instance;
        // A second identity for the same server forces the streamed path (as between two regions or providers).
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_AK2", rgw.AccessKey);
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_SK2", rgw.SecretKey);
        var other = new Providers.S3.S3Store(rgw.StoreConfig("rgw-b") with { AccessKeyEnv = "LIFEBOAT_TEST_AK2", SecretKeyEnv = "LIFEBOAT_TEST_SK2" });
        await using var h = await Harness.WithAsync(rgw.CreateStore(), RgwServer.NewBucketName("src"), other, RgwServer.NewBucketName("dst"));
        await SeedAsync(h, 10);
        var big = Harness.Content("big", 0, 21 << 20);
        var bigETag = await h.Source.PutAsync(h.SourceBucket, "big/blob", new MemoryStream(big), big.Length, Harness.Meta("big"), new PartLayout(5 << 20, 5 << 20), None);
        Assert.EndsWith("-5", bigETag);
        var r = await h.Replicator().ReconcileAsync(null, None);
        Assert.Equal(11, r.Copied);
        var t = await h.Target.HeadAsync(h.TargetBucket, "big/blob", None);
        Assert.Equal(bigETag, t!.Info.ETag); // source layout reproduced: end-to-end checksum equality
        Assert.True((await h.Verifier().RunAsync(None)).Ok);
    }

    [Fact]
    public async Task DeepPass_MultipartObjectWithOtherHeaders_IsCopiedAgain_OtherObjectsAreRepairedInPlace()
    {
        var rgw = RgwServer.Instance;
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_AK2", rgw.AccessKey);
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_SK2", rgw.SecretKey);
        var other = new Providers.S3.S3Store(rgw.StoreConfig("rgw-b") with { AccessKeyEnv = "LIFEBOAT_TEST_AK2", SecretKeyEnv = "LIFEBOAT_TEST_SK2" });
        await using var h = await Harness.WithAsync(rgw.CreateStore(), RgwServer.NewBucketName("src"), other, RgwServer.NewBucketName("dst"));
        var big = Harness.Content("big", 0, 11 << 20);
        var bigETag = await h.Source.PutAsync(h.SourceBucket, "big", new MemoryStream(big), big.Length, Harness.Meta("big"), new PartLayout(5 << 20, 5 << 20), None);
        await h.PutSourceAsync("small");
        var rep = h.Replicator();
        Assert.Equal(2, (await rep.ReconcileAsync(null, None)).Copied);
        // Other headers on both at the source (a copy onto itself; Ceph RGW keeps the multipart ETag, drops the tags).
        using var s3 = new Amazon.S3.AmazonS3Client(new Amazon.Runtime.BasicAWSCredentials(rgw.AccessKey, rgw.SecretKey), new Amazon.S3.AmazonS3Config
        {
            ServiceURL = rgw.Endpoint, AuthenticationRegion = "us-east-1", ForcePathStyle = true,
            RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
        });
        foreach (var key in new[] { "big", "small" })
            await s3.CopyObjectAsync(new Amazon.S3.Model.CopyObjectRequest
            {
                SourceBucket = h.SourceBucket, SourceKey = key, DestinationBucket = h.SourceBucket, DestinationKey = key,
                MetadataDirective = Amazon.S3.S3MetadataDirective.REPLACE, ContentType = "application/x-changed",
            }, None);
        Assert.Equal(bigETag, (await h.Source.StatAsync(h.SourceBucket, "big", None))!.ETag);
        Assert.Equal(2, (await rep.ReconcileAsync(null, None)).InSync); // invisible to a listing
        var copies = h.Metrics.Read("lifeboat_copies_total", ("resource", "res"));
        Assert.Equal(new DeepPassResult(2, 2, 0, true), await rep.DeepReconcileAsync(None));
        Assert.Equal(copies + 1, h.Metrics.Read("lifeboat_copies_total", ("resource", "res"))); // the multipart one, copied again
        var t = await h.Target.HeadAsync(h.TargetBucket, "big", None);
        Assert.Equal(bigETag, t!.Info.ETag); // the source's layout reproduced again
        Assert.Equal("application/x-changed", t.Metadata.ContentType);
        Assert.Empty(t.Metadata.Tags);
        var v = await h.Verifier().RunAsync(None);
        Assert.True(v.Ok, string.Join("\n", v.Differences));
    }

    [Fact]
    public async Task FolderToS3AndBack_AboveTheMultipartThreshold()
    {
        var rgw = RgwServer.Instance;
        using var dir = new TempDir();
        var folder = new FileStore("share", dir.Path);
        await using var h = await Harness.WithAsync(folder, "share", rgw.CreateStore(), RgwServer.NewBucketName("fromfolder"));
        await SeedAsync(h, 5, "docs/");
        var big = Harness.Content("large", 0, 17 << 20);
        await h.Source.PutAsync("share", "large.iso", new MemoryStream(big), big.Length, Harness.Meta("large"), new PartLayout(long.MaxValue, 1), None);
        var r = await h.Replicator().ReconcileAsync(null, None);
        Assert.Equal(6, r.Copied);
        var t = await h.Target.HeadAsync(h.TargetBucket, "large.iso", None);
        Assert.True(ETags.IsMultipart(t!.Info.ETag, out var parts) && parts == 3, t.Info.ETag); // 17 MiB in 8 MiB parts
        var v = await h.Verifier().RunAsync(None);
        Assert.True(v.Ok, string.Join("\n", v.Differences));
        Assert.Equal(0, (await h.Replicator().ReconcileAsync(null, None)).Copied); // matched through the recorded ETag pair
        // And back into another folder: the multipart object lands as one verified file.
        using var dir2 = new TempDir();
        await using var back = await Harness.WithAsync(h.Target, h.TargetBucket, new FileStore("restore", dir2.Path), "restored");
        Assert.Equal(6, (await back.Replicator().ReconcileAsync(null, None)).Copied);
        Assert.Equal(big, await back.ReadAsync(back.Target, "restored", "large.iso"));
    }

    [Fact]
    public async Task S3ToFolder_KeysNoFolderCanHold_FailPerKeyNamed_EverythingElseReplicates_PassAfterPass()
    {
        // Keys S3 allows: a 250-byte segment and x beside x.json/y are stored (hashed sidecars); a 300-byte segment and
        // a file and folder of one name cannot be files in a folder: each is one reported failure, never a crash.
        var rgw = RgwServer.Instance;
        using var dir = new TempDir();
        await using var h = await Harness.WithAsync(rgw.CreateStore(), RgwServer.NewBucketName("tofolder"), new FileStore("share", dir.Path), "share");
        var tooLong = "long/" + new string('b', 300);
        // (ASCII keys: the harness puts each key into a user-metadata header; multi-byte names are in FileStoreKeyFuzzTests.)
        string[] storable = ["ok/1.txt", "dir/" + new string('a', 250), "x", "x.json/y", "y.json/" + new string('z', 255)];
        foreach (var k in storable.Append(tooLong).Append("c").Append("c/d")) await h.PutSourceAsync(k);
        var rep = h.Replicator();
        for (var pass = 0; pass < 2; pass++)
        {
            var r = await rep.ReconcileAsync(null, None);
            Assert.True(r.Completed);
            Assert.Equal(2, r.Failed); // the 300-byte segment, and whichever of c and c/d came second
            var failed = h.State.Failed(h.Resource.Name);
            Assert.Contains(failed, f => f.Key == tooLong && f.Error.Contains("255 bytes"));
            Assert.Contains(failed, f => f.Key is "c" or "c/d" && f.Error.Contains("share a name"));
            h.State.ReopenFailed(h.Resource.Name);
        }
        foreach (var k in storable) Assert.Equal(Harness.Content(k), await h.ReadAsync(h.Target, "share", k));
        var v = await h.Verifier().RunAsync(None);
        Assert.Equal(2, v.Differences.Count);
        Assert.Equal(storable.Length + 1, v.Equal);
    }

    [Fact]
    public async Task MissingTargetBucket_FailsPrepareWithTheBucketNamed()
    {
        var rgw = RgwServer.Instance;
        await using var h = await Harness.WithAsync(rgw.CreateStore(), RgwServer.NewBucketName("src"), rgw.CreateStore(), RgwServer.NewBucketName("dst"));
        var res = h.Resource with { Target = h.Resource.Target with { Bucket = "never-created-bucket" } };
        var rep = new ObjectReplicator(res, h.Source, h.Target, h.State, h.Time, h.Metrics, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, Harness.FastRetry);
        var e = await Assert.ThrowsAsync<UserErrorException>(() => rep.PrepareAsync(None));
        Assert.Contains("never-created-bucket", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public async Task RgwBucketNotifications_PushedToTheWebhook_ReplicateBeforeAnyReconciliation()
    {
        var rgw = RgwServer.Instance;
        await using var h = await Harness.WithAsync(rgw.CreateStore(), RgwServer.NewBucketName("evsrc"), rgw.CreateStore(), RgwServer.NewBucketName("evdst"), DeletePolicy.Propagate);
        var port = FreePort();
        var token = "t0k3n";
        var res = h.Resource with { ReconcileEvery = TimeSpan.FromHours(1), Events = new EventsConfig(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port), token, "/events") };
        var rep = new ObjectReplicator(res, h.Source, h.Target, h.State, h.Time, h.Metrics, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, Harness.FastRetry);
        await using var server = await Hosting.WebhookServer.StartAsync(res.Events.Listen, [new("/events", token, [rep])], h.Metrics,
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, h.Time, None);
        // The token as the push endpoint's user-info: RGW's HTTP client (libcurl) sends it as Authorization: Basic.
        await RgwNotifications.ConfigureAsync(rgw, h.SourceBucket, $"http://lifeboat:{token}@127.0.0.1:{port}/events");

        using var stop = new CancellationTokenSource();
        var run = rep.RunAsync(null, stop.Token, None);
        // Let the first (empty) pass finish so only events can bring the next objects over.
        await Eventually.TrueAsync(() => h.State.GetCheckpoint("res", "last-full-pass") is not null, TimeSpan.FromSeconds(30), "first pass");
        var keys = Enumerable.Range(0, 20).Select(i => $"live/{i:00} a+b%.txt").ToList();
        foreach (var k in keys) await h.PutSourceAsync(k);
        await Eventually.TrueAsync(async () => (await h.KeysAsync(h.Target, h.TargetBucket, "live/")).Count == keys.Count, TimeSpan.FromSeconds(30), "events to replicate 20 objects");
        Assert.Equal(keys.OrderBy(k => k, KeyComparer.Instance), await h.KeysAsync(h.Target, h.TargetBucket, "live/"));
        // A delete event propagates (policy propagate); single DeleteObject: RGW 16.2 aborts on multi-delete with notifications.
        await h.Source.DeleteAsync(h.SourceBucket, keys[3], None);
        await Eventually.TrueAsync(async () => await h.Target.HeadAsync(h.TargetBucket, keys[3], None) is null, TimeSpan.FromSeconds(30), "delete event");
        Assert.True(h.Metrics.Read("lifeboat_events_total", ("resource", "res")) >= 21);
        await stop.CancelAsync();
        await run;
        Assert.True((await h.Verifier().RunAsync(None)).Ok);
        Assert.Equal(0, h.State.Backlog("res"));
    }

    [Theory]
    [InlineData("lean")]
    [InlineData("sdk")]
    public async Task HostileKeys_ReplicateOnceThenVerify_ThroughTheCli(string client)
    {
        // Keys with control characters, CR LF, white space, '%' and '+' and non-BMP characters replicate and verify, on
        // both S3 clients (the SDK one by LIFEBOAT_S3_CLIENT=sdk, as a user would switch).
        var rgw = RgwServer.Instance;
        using var dir = new TempDir();
        var src = RgwServer.NewBucketName("hostile-src");
        var dst = RgwServer.NewBucketName("hostile-dst");
        string[] keys = [.. Conformance.ObjectStoreConformance.HostileKeys, " ", "\r\n", "\u0001"];
        await using (var s3 = rgw.CreateStore())
        {
            await s3.CreateBucketAsync(src, None);
            await s3.CreateBucketAsync(dst, None);
            foreach (var k in keys)
            {
                var data = System.Text.Encoding.UTF8.GetBytes("value of " + k);
                await s3.PutAsync(src, k, new MemoryStream(data), data.Length, Harness.Meta("hostile"), new PartLayout(long.MaxValue, 8 << 20), None);
            }
        }
        // Two identities on one server: the copies are streamed (GET then PUT), not server-side.
        var cfg = dir.File("lifeboat.yaml", $$"""
            state: state.db
            stores:
              a: { type: s3, endpoint: {{rgw.Endpoint}}, force_path_style: true, access_key_env: LIFEBOAT_TEST_AK, secret_key_env: LIFEBOAT_TEST_SK }
              b: { type: s3, endpoint: {{rgw.Endpoint}}, force_path_style: true, access_key_env: LIFEBOAT_TEST_AK2, secret_key_env: LIFEBOAT_TEST_SK2 }
            resources:
              - name: hostile
                source: { store: a, bucket: {{src}} }
                target: { store: b, bucket: {{dst}} }
            """);
        var env = new Dictionary<string, string?>
        {
            ["LIFEBOAT_TEST_AK"] = rgw.AccessKey, ["LIFEBOAT_TEST_SK"] = rgw.SecretKey,
            ["LIFEBOAT_TEST_AK2"] = rgw.AccessKey, ["LIFEBOAT_TEST_SK2"] = rgw.SecretKey,
            ["LIFEBOAT_S3_CLIENT"] = client == "sdk" ? "sdk" : null,
        };
        var (code, output) = LifeboatCli.Run(dir.Path, env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        (code, output) = LifeboatCli.Run(dir.Path, env, "verify", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains($"{keys.Length} equal, 0 differences", output);
        await using var check = rgw.CreateStore();
        var copied = new List<string>();
        await foreach (var o in check.ListAsync(dst, "", null, None)) copied.Add(o.Key);
        // Besides the copies, the target holds the claim marker of the state that protects it (ADR 0009).
        Assert.Contains(".lifeboat/state.json", copied);
        Assert.Equal(keys.OrderBy(k => k, KeyComparer.Instance), copied.Where(k => !k.StartsWith(".lifeboat/", StringComparison.Ordinal)));
        foreach (var k in keys)
        {
            await using var r = await check.GetAsync(dst, k, None);
            using var ms = new MemoryStream();
            await r!.Content.CopyToAsync(ms);
            Assert.Equal("value of " + k, System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        }
    }

    /// <summary>A port for a listener the test cannot bind itself (see <see cref="TestPorts"/>).</summary>
    public static int FreePort() => TestPorts.Reserve();
}

/// <summary>Sets up RGW bucket notifications: the topic with a signed CreateTopic over HTTP, the bucket's notification
/// configuration with the Debian AWS CLI v2 (test set-up only, never a throughput path).</summary>
public static class RgwNotifications
{
    public static string AwsCli => File.Exists("/usr/bin/aws") ? "/usr/bin/aws" : "aws";

    /// <param name="pushEndpoint">Where RGW POSTs the events; the webhook's token goes in its user-info
    /// (<c>http://lifeboat:TOKEN@host:port/events</c>), which RGW's HTTP client sends as <c>Authorization: Basic</c>.</param>
    public static async Task ConfigureAsync(RgwServer rgw, string bucket, string pushEndpoint)
    {
        var topic = "lb-" + bucket;
        await CreateTopicAsync(rgw, topic, pushEndpoint);
        var env = new Dictionary<string, string?>
        {
            ["AWS_ACCESS_KEY_ID"] = rgw.AccessKey, ["AWS_SECRET_ACCESS_KEY"] = rgw.SecretKey,
            ["AWS_DEFAULT_REGION"] = "us-east-1", ["AWS_CA_BUNDLE"] = null, ["AWS_PAGER"] = "",
        };
        var arn = $"arn:aws:sns:default::{topic}";
        var config = $$"""{"TopicConfigurations":[{"Id":"lifeboat","TopicArn":"{{arn}}","Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}]}""";
        var (code, output) = await Task.Run(() => Proc.Run(AwsCli, ["--endpoint-url", rgw.Endpoint, "s3api", "put-bucket-notification-configuration",
            "--bucket", bucket, "--notification-configuration", config], TimeSpan.FromSeconds(60), env));
        Assert.True(code == 0, output);
    }

    /// <summary>CreateTopic with the push endpoint. RGW stores a push endpoint that carries a secret (user-info) only when
    /// the request came over a secure transport: over plain HTTP, RGW 16.2 counts a request as secure when it says
    /// <c>X-Forwarded-Proto: https</c> and the gateway runs with <c>rgw trust forwarded https = true</c>
    /// (tests/servers/rgw.sh; newer Ceph releases also have <c>rgw allow notification secrets in cleartext</c>).
    /// The AWS CLI cannot add that header, so the request is sent here, signed with the project's SigV4 signer.</summary>
    private static async Task CreateTopicAsync(RgwServer rgw, string topic, string pushEndpoint)
    {
        var url = new Uri(rgw.Endpoint + "/");
        var body = System.Text.Encoding.UTF8.GetBytes("Action=CreateTopic&Version=2010-03-31&Name=" + Uri.EscapeDataString(topic) +
            "&Attributes.entry.1.key=push-endpoint&Attributes.entry.1.value=" + Uri.EscapeDataString(pushEndpoint));
        var now = TimeProvider.System.GetUtcNow();
        const string contentType = "application/x-www-form-urlencoded; charset=utf-8";
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", url.Authority),
            new("Content-Type", contentType),
            new("X-Amz-Date", Lifeboat.Providers.Aws.SigV4Signer.AmzDate(now)),
            new("X-Forwarded-Proto", "https"),
        };
        var sig = Lifeboat.Providers.Aws.SigV4Signer.Sign(new Lifeboat.Providers.Aws.SigV4Request("POST", url, headers, body),
            rgw.AccessKey, rgw.SecretKey, "us-east-1", "sns", now);
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        req.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        req.Headers.TryAddWithoutValidation("X-Amz-Date", Lifeboat.Providers.Aws.SigV4Signer.AmzDate(now));
        req.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");
        req.Headers.TryAddWithoutValidation("Authorization", sig.Authorization);
        using var resp = await http.SendAsync(req);
        var answer = await resp.Content.ReadAsStringAsync();
        Assert.True(resp.IsSuccessStatusCode && answer.Contains("<TopicArn>", StringComparison.Ordinal),
            $"RGW at {rgw.Endpoint} refused CreateTopic with a token in the push endpoint (HTTP {(int)resp.StatusCode} {answer}): " +
            "its gateway needs 'rgw trust forwarded https = true' (tests/servers/rgw.sh); a running RGW picks that up only after 'rgw.sh stop' and 'rgw.sh start'");
    }
}
