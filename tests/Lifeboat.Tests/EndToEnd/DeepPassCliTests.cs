using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Lifeboat.Abstractions;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>
/// Metadata and tag drift through the CLI (issue 15, item 8), against the real Ceph RGW and folder stores, in every
/// direction the replicator supports: one S3 endpoint (server-side copies), two S3 identities (streamed copies), S3 to
/// a folder, a folder to S3, folder to folder. A tag-only change (PutObjectTagging at an S3 source) or a metadata-only
/// change (a copy onto itself with REPLACE) keeps the ETag: `replicate --once` reports everything in sync and exits 0,
/// `verify` exits 1 naming the difference and the command that repairs it, `replicate --once --deep` repairs it, and
/// `verify` then exits 0. A folder source's drift is the same bytes written again with other metadata (same MD5).
/// </summary>
public sealed class DeepPassCliTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly string[] Keys = ["a.txt", "b/c.txt", "d e.txt"];
    private const string Drifted = "b/c.txt";

    private static ObjectMetadata Seeded(string drift) => new("text/plain", null, null, new Dictionary<string, string> { ["owner"] = "a" },
        // Ceph RGW 16 drops an object's tags when it is copied onto itself, so the metadata case starts without tags.
        drift == "tags" ? new Dictionary<string, string> { ["class"] = "gold" } : new Dictionary<string, string>());

    private static byte[] Content(string key) => System.Text.Encoding.UTF8.GetBytes("content of " + key);

    [Theory]
    [InlineData("s3", "s3-same", "tags")]
    [InlineData("s3", "s3-same", "metadata")]
    [InlineData("s3", "s3-other", "tags")]
    [InlineData("s3", "s3-other", "metadata")]
    [InlineData("s3", "folder", "tags")]
    [InlineData("s3", "folder", "metadata")]
    [InlineData("folder", "s3", "tags")]
    [InlineData("folder", "s3", "metadata")]
    [InlineData("folder", "folder", "tags")]
    [InlineData("folder", "folder", "metadata")]
    public async Task Drift_IsInSyncForOnce_VerifyNamesTheRepair_OnceDeepRepairsIt_ThenVerifyAgrees(string from, string to, string drift)
    {
        var rgw = RgwServer.Instance;
        using var dir = new TempDir();
        var srcBucket = from == "s3" ? RgwServer.NewBucketName("deep-src") : "src";
        var dstBucket = to.StartsWith("s3", StringComparison.Ordinal) ? RgwServer.NewBucketName("deep-dst") : "dst";
        var srcStore = from == "s3" ? "a" : "fa";
        var dstStore = to switch { "s3-same" => "a", "s3-other" or "s3" => "b", _ => "fb" };
        await using IObjectStore source = from == "s3" ? rgw.CreateStore() : new FileStore("fa", dir.Sub("folder-a"));
        await using IObjectStore target = to.StartsWith("s3", StringComparison.Ordinal) ? rgw.CreateStore() : new FileStore("fb", dir.Sub("folder-b"));
        await source.CreateBucketAsync(srcBucket, None);
        await target.CreateBucketAsync(dstBucket, None);
        foreach (var k in Keys)
            await source.PutAsync(srcBucket, k, new MemoryStream(Content(k)), Content(k).Length, Seeded(drift), new PartLayout(long.MaxValue, 8 << 20), None);

        var cfg = dir.File("lifeboat.yaml", $$"""
            state: state.db
            stores:
              a: { type: s3, endpoint: {{rgw.Endpoint}}, force_path_style: true, access_key_env: LIFEBOAT_TEST_AK, secret_key_env: LIFEBOAT_TEST_SK }
              b: { type: s3, endpoint: {{rgw.Endpoint}}, force_path_style: true, access_key_env: LIFEBOAT_TEST_AK2, secret_key_env: LIFEBOAT_TEST_SK2 }
              fa: { type: file, path: folder-a }
              fb: { type: file, path: folder-b }
            resources:
              - name: docs
                source: { store: {{srcStore}}, bucket: {{srcBucket}} }
                target: { store: {{dstStore}}, bucket: {{dstBucket}} }
            """);
        var env = new Dictionary<string, string?>
        {
            ["LIFEBOAT_TEST_AK"] = rgw.AccessKey, ["LIFEBOAT_TEST_SK"] = rgw.SecretKey,
            ["LIFEBOAT_TEST_AK2"] = rgw.AccessKey, ["LIFEBOAT_TEST_SK2"] = rgw.SecretKey,
        };
        (int Code, string Output) Cli(params string[] args) => LifeboatCli.Run(dir.Path, env, args);

        var (code, output) = Cli("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("3 copied", output);

        var sourceHead = await source.HeadAsync(srcBucket, Drifted, None);
        await MakeDriftAsync(rgw, source, srcBucket, drift);
        var drifted = await source.HeadAsync(srcBucket, Drifted, None);
        Assert.Equal((sourceHead!.Info.ETag, sourceHead.Info.Size), (drifted!.Info.ETag, drifted.Info.Size)); // invisible to a listing
        Assert.NotEmpty(drifted.Metadata.DifferencesFrom(sourceHead.Metadata));

        // Without --deep: everything is in sync as far as listings show.
        (code, output) = Cli("replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        Assert.Contains("3 listed, 3 already in sync, 0 copied", output);

        (code, output) = Cli("verify", "-c", cfg);
        Assert.True(code == 1, output);
        Assert.Contains(drift == "tags" ? $"{Drifted}: tag 'class' 'silver' vs 'gold'" : $"{Drifted}: content-type 'text/html' vs 'text/plain'; metadata 'owner' 'b' vs 'a'", output);
        Assert.Contains($"metadata/tags differ on 1 key with equal content (a pass without --deep compares sizes and checksums only): `lifeboat replicate -c {cfg} --resource docs --once --deep` repairs it", output);

        (code, output) = Cli("replicate", "-c", cfg, "--once", "--deep");
        Assert.True(code == 0, output);
        Assert.Contains("3 already in sync, 0 copied", output);
        Assert.Contains("deep pass: 3 checked, 1 metadata/tag drifts repaired", output);

        (code, output) = Cli("verify", "-c", cfg);
        Assert.True(code == 0, output);
        Assert.Contains("3 equal, 0 differences", output);
        var repaired = await target.HeadAsync(dstBucket, Drifted, None);
        Assert.Empty(drifted.Metadata.DifferencesFrom(repaired!.Metadata));
    }

    /// <summary>The change a user makes: PutObjectTagging, or CopyObject onto itself with REPLACE, from an independent S3
    /// client (AWSSDK.S3 as any tool uses it); at a folder source, the same bytes written again with other metadata.</summary>
    private static async Task MakeDriftAsync(RgwServer rgw, IObjectStore source, string bucket, string drift)
    {
        if (source is FileStore)
        {
            var md = Seeded(drift);
            md = drift == "tags"
                ? md with { Tags = new Dictionary<string, string> { ["class"] = "silver" } }
                : md with { ContentType = "text/html", UserMetadata = new Dictionary<string, string> { ["owner"] = "b" } };
            await source.PutAsync(bucket, Drifted, new MemoryStream(Content(Drifted)), Content(Drifted).Length, md, new PartLayout(long.MaxValue, 8 << 20), None);
            return;
        }
        using var s3 = new AmazonS3Client(new BasicAWSCredentials(rgw.AccessKey, rgw.SecretKey), new AmazonS3Config
        {
            ServiceURL = rgw.Endpoint, AuthenticationRegion = "us-east-1", ForcePathStyle = true,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });
        if (drift == "tags")
        {
            await s3.PutObjectTaggingAsync(new PutObjectTaggingRequest
            {
                BucketName = bucket, Key = Drifted, Tagging = new Tagging { TagSet = [new Tag { Key = "class", Value = "silver" }] },
            }, None);
            return;
        }
        var copy = new CopyObjectRequest
        {
            SourceBucket = bucket, SourceKey = Drifted, DestinationBucket = bucket, DestinationKey = Drifted,
            MetadataDirective = S3MetadataDirective.REPLACE, ContentType = "text/html",
        };
        copy.Metadata.Add("owner", "b");
        await s3.CopyObjectAsync(copy, None);
    }
}
