using System.Diagnostics;
using Lifeboat.Core.Abstractions;
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
        await using var server = await Cli.Hosting.WebhookServer.StartAsync(res.Events.Listen, [new("/events", token, [rep])], h.Metrics,
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, h.Time, None);
        await RgwNotifications.ConfigureAsync(rgw, h.SourceBucket, $"http://127.0.0.1:{port}/events?token={token}");

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

    /// <summary>A port for a listener the test cannot bind itself (see <see cref="TestPorts"/>).</summary>
    public static int FreePort() => TestPorts.Reserve();
}

/// <summary>Sets up RGW bucket notifications with the Debian AWS CLI v2 (test set-up only, never a throughput path).</summary>
public static class RgwNotifications
{
    public static string AwsCli => File.Exists("/usr/bin/aws") ? "/usr/bin/aws" : "aws";

    public static async Task ConfigureAsync(RgwServer rgw, string bucket, string pushEndpoint)
    {
        var topic = "lb-" + bucket;
        var env = new Dictionary<string, string?>
        {
            ["AWS_ACCESS_KEY_ID"] = rgw.AccessKey, ["AWS_SECRET_ACCESS_KEY"] = rgw.SecretKey,
            ["AWS_DEFAULT_REGION"] = "us-east-1", ["AWS_CA_BUNDLE"] = null, ["AWS_PAGER"] = "",
        };
        var (code, output) = await Task.Run(() => Proc.Run(AwsCli, ["--endpoint-url", rgw.Endpoint, "sns", "create-topic", "--name", topic,
            "--attributes", $"push-endpoint={pushEndpoint}"], TimeSpan.FromSeconds(60), env));
        Assert.True(code == 0, output);
        var arn = $"arn:aws:sns:default::{topic}";
        var config = $$"""{"TopicConfigurations":[{"Id":"lifeboat","TopicArn":"{{arn}}","Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}]}""";
        (code, output) = await Task.Run(() => Proc.Run(AwsCli, ["--endpoint-url", rgw.Endpoint, "s3api", "put-bucket-notification-configuration",
            "--bucket", bucket, "--notification-configuration", config], TimeSpan.FromSeconds(60), env));
        Assert.True(code == 0, output);
    }
}
