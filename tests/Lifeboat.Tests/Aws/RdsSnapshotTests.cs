using Amazon.Runtime;
using Lifeboat.Core.Config;
using Lifeboat.Core.Scheduling;
using Lifeboat.Core.State;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Rds;
using Lifeboat.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// The RDS client and snapshot runner against <see cref="FakeRds"/>: answers in the shape of AWS's documented sample
/// responses (not live RDS, which is not reachable from here), every request's SigV4 signature and form checked, the
/// cross-region PreSignedUrl verified as the source region would. Time is a <see cref="SleepAwareTimeProvider"/>.
/// </summary>
public sealed class RdsSnapshotTests : IAsyncLifetime
{
    private const string Src = "us-east-1";
    private const string Dst = "us-west-2";
    private const string Name = "billing-rds";
    private const string Instance = "billing-prod";
    private readonly SleepAwareTimeProvider _time = new(new DateTimeOffset(2026, 11, 22, 5, 50, 0, TimeSpan.Zero));
    private readonly TempDir _dir = new();
    private FakeRds _rds = null!;

    public async Task InitializeAsync() => _rds = await FakeRds.StartAsync(_time, Src, Dst);

    public async Task DisposeAsync()
    {
        await _rds.DisposeAsync();
        _dir.Dispose();
    }

    private RdsClient Client(string region, string secret = FakeAwsServer.SecretKey) => new(new AwsClientOptions
    {
        Endpoint = _rds.Endpoint(region),
        Region = region,
        Service = RdsClient.Service,
        Credentials = () => new BasicAWSCredentials(FakeAwsServer.AccessKey, secret),
        Time = _time,
        BaseDelay = TimeSpan.FromSeconds(1),
    });

    private static RdsResource Resource(int keep = 2, string? kms = null) => new(Name, Instance, Src, Dst, Cron.Parse("0 */6 * * *"), keep, kms,
        null, null, null, null, TimeSpan.FromSeconds(30), new ConfigLocation("test.yaml", 1, "resources[0]"));

    private RdsSnapshotRunner Runner(StateStore state, RdsResource? res = null) =>
        new(res ?? Resource(), Client(Src), Client(Dst), state, _time, NullLogger.Instance);

    private StateStore State() => new(Path.Combine(_dir.Path, "state.db"));

    /// <summary>Steps the runner, moving the manual clock to each wake-up, until a cycle completes.</summary>
    private async Task<RdsLast> DriveAsync(RdsSnapshotRunner r, bool startNow, Func<RdsSnapshotRunner, bool>? stopWhen = null)
    {
        var start = startNow;
        for (var i = 0; i < 1000; i++)
        {
            if (stopWhen?.Invoke(r) == true) return null!;
            var s = await r.StepAsync(start, CancellationToken.None);
            start = false;
            if (s.Kind == RdsStepKind.Done) return s.Completed!;
            if (s.Kind is RdsStepKind.Wait or RdsStepKind.Idle) _time.Advance(s.WakeAt!.Value - _time.GetUtcNow());
        }
        throw new Xunit.Sdk.XunitException("the cycle did not finish in 1000 steps");
    }

    private static Dictionary<string, string> Tag(string v) => new() { ["lifeboat"] = v };

    [Fact]
    public async Task ScheduledCycle_CreatesCopiesWithPresignedUrl_TagsAndExpiresOnlyLifeboatSnapshots()
    {
        var old = _time.GetUtcNow() - TimeSpan.FromDays(3);
        // Older Lifeboat snapshots in both regions, one of another resource, and snapshots Lifeboat did not make.
        for (var i = 0; i < 3; i++)
        {
            _rds.Seed(Src, $"lifeboat-billing-rds-old{i}", Instance, old + TimeSpan.FromHours(6 * i), Tag(Name));
            _rds.Seed(Dst, $"lifeboat-billing-rds-old{i}", Instance, old + TimeSpan.FromHours(6 * i), Tag(Name));
        }
        _rds.Seed(Src, "manual-before-upgrade", Instance, old - TimeSpan.FromDays(30));
        _rds.Seed(Dst, "dba-copy", Instance, old - TimeSpan.FromDays(30), new Dictionary<string, string> { ["owner"] = "dba" });
        _rds.Seed(Dst, "lifeboat-other-x", Instance, old - TimeSpan.FromDays(30), Tag("other-resource"));

        using var state = State();
        var runner = Runner(state);
        var first = await runner.StepAsync(false, CancellationToken.None);
        Assert.Equal(RdsStepKind.Idle, first.Kind); // the schedule starts now: next run at 06:00
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero), first.WakeAt);
        Assert.Empty(_rds.Calls);

        var last = await DriveAsync(runner, startNow: false);

        const string id = "lifeboat-billing-rds-20261122-0600";
        Assert.Equal(id, last.SnapshotId);
        Assert.Empty(_rds.Problems);
        // Created at 06:00 in the source, tagged; the copy started from the target side once the source was available.
        var create = Assert.Single(_rds.CallsTo(Src), c => c.Action == "CreateDBSnapshot").Form;
        Assert.Equal((Instance, id, "lifeboat", Name), (create["DBInstanceIdentifier"], create["DBSnapshotIdentifier"], create["Tags.Tag.1.Key"], create["Tags.Tag.1.Value"]));
        var copy = Assert.Single(_rds.CallsTo(Dst), c => c.Action == "CopyDBSnapshot").Form;
        Assert.Equal($"arn:aws:rds:{Src}:{FakeRds.Account}:snapshot:{id}", copy["SourceDBSnapshotIdentifier"]);
        Assert.Equal(id, copy["TargetDBSnapshotIdentifier"]);
        Assert.False(copy.ContainsKey("KmsKeyId"));
        Assert.DoesNotContain(_rds.CallsTo(Src), c => c.Action == "CopyDBSnapshot");
        var url = Assert.Single(_rds.PresignedUrls); // verified by the fake as the source region would
        Assert.Contains($"DestinationRegion={Dst}", url, StringComparison.Ordinal);
        Assert.Contains("X-Amz-Credential=" + FakeAwsServer.AccessKey + "%2F20261122%2Fus-east-1%2Frds%2Faws4_request", url, StringComparison.Ordinal);
        var t0 = new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);
        Assert.True(last.CreatedAtMs >= (t0 + _rds.CreateTakes).ToUnixTimeMilliseconds());
        Assert.True(last.CopiedAtMs >= (t0 + _rds.CreateTakes + _rds.CopyTakes).ToUnixTimeMilliseconds());
        // Tagged after the copy became available.
        var tagged = _rds.Snapshots[Dst][id].Tags;
        Assert.Equal(Name, tagged["lifeboat"]);
        Assert.Equal(copy["SourceDBSnapshotIdentifier"], tagged["lifeboat:source"]);
        Assert.True(tagged.ContainsKey("lifeboat:copied-at"));
        // Retention: keep 2 of Lifeboat's per region (the new one and the newest old one); others untouched.
        Assert.Equal(["dba-copy", id, "lifeboat-billing-rds-old2", "lifeboat-other-x"], _rds.Snapshots[Dst].Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal([id, "lifeboat-billing-rds-old2", "manual-before-upgrade"], _rds.Snapshots[Src].Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal((2, 2), (last.ExpiredTarget, last.ExpiredSource));
        // Listing followed Marker pages (the fake pages by 2).
        Assert.Contains(_rds.Calls, c => c.Action == "DescribeDBSnapshots" && c.Form.ContainsKey("Marker"));
        Assert.Null(runner.Cycle);
        Assert.Equal(id, RdsSnapshotRunner.LoadLast(state, Name)!.SnapshotId);

        // Nothing more until 12:00.
        var idle = await runner.StepAsync(false, CancellationToken.None);
        Assert.Equal(RdsStepKind.Idle, idle.Kind);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero), idle.WakeAt);
    }

    [Fact]
    public async Task RestartMidCopy_ResumesWaiting_WithoutASecondSnapshotOrCopy()
    {
        string path;
        using (var state = State())
        {
            path = state.Path;
            var runner = Runner(state);
            await DriveAsync(runner, startNow: true, stopWhen: r => r.Cycle?.Phase == "copying");
            Assert.Equal("copying", runner.Cycle!.Phase);
        } // the process "dies" here: only the state file remains

        _time.Advance(TimeSpan.FromMinutes(5));
        using (var state = new StateStore(path))
        {
            var runner = Runner(state);
            var last = await DriveAsync(runner, startNow: false);
            Assert.StartsWith("lifeboat-billing-rds-", last.SnapshotId, StringComparison.Ordinal);
        }
        Assert.Single(_rds.Calls, c => c.Action == "CreateDBSnapshot");
        Assert.Single(_rds.Calls, c => c.Action == "CopyDBSnapshot");
        Assert.Empty(_rds.Problems);
    }

    [Fact]
    public async Task RestartAfterCreateWasSent_FindsTheSnapshotByName_DoesNotCreateAgain()
    {
        using var state = State();
        var runner = Runner(state);
        var s = await runner.StepAsync(true, CancellationToken.None); // create sent, phase creating
        Assert.Equal(RdsStepKind.Continue, s.Kind);
        // Simulate a crash after CreateDBSnapshot but before the phase was saved: back to "create".
        var c = runner.Cycle!;
        state.SetCheckpoint(Name, RdsSnapshotRunner.CycleCheckpoint,
            System.Text.Json.JsonSerializer.Serialize(c with { Phase = "create" }, RdsJson.Default.RdsCycle), 0);
        await DriveAsync(Runner(state), startNow: false);
        Assert.Single(_rds.Calls, x => x.Action == "CreateDBSnapshot");
        Assert.Empty(_rds.Problems);
    }

    [Fact]
    public async Task CopyRequestLost_IsAskedAgain_AndMakesOneCopy()
    {
        _rds.UnavailableNext["CopyDBSnapshot"] = 8; // every attempt of the first request fails (503)
        using var state = State();
        var runner = Runner(state);
        // Polls and backoffs sleep on the manual clock; it moves (by at most 10 s) only while the runner sleeps.
        var last = await _time.RunAsync(runner.RunCycleAsync(CancellationToken.None), TimeSpan.FromSeconds(10));
        Assert.True(_time.GetUtcNow() < new DateTimeOffset(2026, 11, 22, 8, 0, 0, TimeSpan.Zero), "the cycle should be done by 08:00");
        Assert.True(_rds.Calls.Count(c => c.Action == "CopyDBSnapshot") >= 9); // 8 refused, then asked again
        Assert.Single(_rds.Snapshots[Dst]);
        Assert.Equal(last.SnapshotId, _rds.Snapshots[Dst].Keys.Single());
        Assert.Empty(_rds.Problems);
    }

    [Fact]
    public async Task QuotaExceeded_FailsTheCycleWithAClearMessage_AndDoesNotRetry()
    {
        _rds.ManualSnapshotQuota = 1;
        _rds.Seed(Src, "someone-elses", Instance, _time.GetUtcNow() - TimeSpan.FromDays(1));
        using var state = State();
        var runner = Runner(state);
        var e = await Assert.ThrowsAsync<RdsCycleFailedException>(() => runner.StepAsync(true, CancellationToken.None));
        Assert.Contains("manual snapshot quota reached in us-east-1", e.Message, StringComparison.Ordinal);
        Assert.Contains("SnapshotQuotaExceeded", e.Message, StringComparison.Ordinal);
        Assert.Contains("does not retry", e.Message, StringComparison.Ordinal);
        Assert.Single(_rds.Calls, c => c.Action == "CreateDBSnapshot");
        Assert.Null(runner.Cycle);
        Assert.Contains("quota", RdsSnapshotRunner.LoadError(state, Name)!.Message, StringComparison.Ordinal);
        Assert.Empty(_rds.Problems);
    }

    [Fact]
    public async Task FiveCopiesInProgress_TheSixthWaits_ThenStartsWhenOneFinishes()
    {
        var seeded = Enumerable.Range(0, 5).Select(i => _rds.Seed(Dst, $"other-copy-{i}", "other-db", _time.GetUtcNow(), copyInProgress: true)).ToList();
        using var state = State();
        var runner = Runner(state);
        await DriveAsync(runner, startNow: true, stopWhen: r => r.Cycle?.Waiting is not null);
        for (var i = 0; i < 10; i++)
        {
            var s = await runner.StepAsync(false, CancellationToken.None);
            Assert.Equal(RdsStepKind.Wait, s.Kind);
            _time.Advance(TimeSpan.FromSeconds(30));
        }
        Assert.Equal("copy", runner.Cycle!.Phase);
        Assert.Contains("5 snapshot copies are in progress in us-west-2", runner.Cycle!.Waiting, StringComparison.Ordinal);
        Assert.DoesNotContain(_rds.Calls, c => c.Action == "CopyDBSnapshot");

        seeded[0].ReadyAt = _time.GetUtcNow(); // one copy finishes
        await DriveAsync(runner, startNow: false);
        Assert.Single(_rds.Calls, c => c.Action == "CopyDBSnapshot");
        Assert.Equal(0, _rds.CopyLimitErrors); // the runner never made RDS refuse a sixth copy
        Assert.Empty(_rds.Problems);
    }

    [Fact]
    public async Task CopyLimitRefusal_IsATypedError()
    {
        for (var i = 0; i < 5; i++) _rds.Seed(Dst, $"other-copy-{i}", "other-db", _time.GetUtcNow(), copyInProgress: true);
        _rds.Seed(Src, "src-1", Instance, _time.GetUtcNow() - TimeSpan.FromHours(1));
        using var dst = Client(Dst);
        var e = await Assert.ThrowsAsync<RdsCopyLimitExceededException>(() => dst.CopySnapshotAsync(
            $"arn:aws:rds:{Src}:{FakeRds.Account}:snapshot:src-1", Src, _rds.Endpoint(Src), "copy-1", null, null, CancellationToken.None));
        Assert.Contains("cross-region copy limit reached in us-west-2", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, _rds.CopyLimitErrors);
    }

    [Fact]
    public async Task EncryptedSnapshot_CopyCarriesTheKmsKey_InTheCallAndThePresignedUrl()
    {
        _rds.EncryptedInstances = true;
        const string kms = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        using var state = State();
        await DriveAsync(Runner(state, Resource(kms: kms)), startNow: true);
        var copy = Assert.Single(_rds.CallsTo(Dst), c => c.Action == "CopyDBSnapshot").Form;
        Assert.Equal(kms, copy["KmsKeyId"]);
        Assert.Contains("KmsKeyId=" + SigV4Signer.Encode(kms), Assert.Single(_rds.PresignedUrls), StringComparison.Ordinal);
        Assert.Equal(kms, _rds.Snapshots[Dst].Values.Single(s => s.Id.StartsWith("lifeboat-billing-rds-", StringComparison.Ordinal)).KmsKeyId);
        Assert.Empty(_rds.Problems);
    }

    [Fact]
    public async Task EncryptedSnapshot_WithoutKmsKey_FailsNamingTheSetting()
    {
        _rds.EncryptedInstances = true;
        using var state = State();
        var e = await Assert.ThrowsAsync<RdsCycleFailedException>(() => DriveAsync(Runner(state), startNow: true));
        Assert.Contains("encrypted: set kms_key_id to a KMS key in us-west-2", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_rds.Calls, c => c.Action == "CopyDBSnapshot");
    }

    [Fact]
    public async Task Throttling_IsRetriedWithBackoff()
    {
        _rds.ThrottleNext["DescribeDBSnapshots"] = 3;
        using var client = Client(Src);
        // Backoffs sleep on the manual clock; it moves only while the client sleeps.
        Assert.Empty(await _time.RunAsync(client.DescribeSnapshotsAsync(Instance, "manual", CancellationToken.None), TimeSpan.FromSeconds(5)));
        Assert.Equal(3, client.Retries);
        Assert.Equal(4, _rds.Calls.Count(c => c.Action == "DescribeDBSnapshots"));
    }

    [Fact]
    public async Task WrongSecret_IsRefusedByTheSignatureCheck()
    {
        using var client = Client(Src, secret: "not-the-secret");
        var e = await Assert.ThrowsAsync<AwsServiceException>(() => client.DescribeSnapshotsAsync(null, null, CancellationToken.None));
        Assert.Equal("SignatureDoesNotMatch", e.Code);
        Assert.False(e.Transient);
        Assert.Contains(_rds.Problems, p => p.Contains("signature mismatch", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ContinuousMode_RunsEachScheduledTick_OnTheManualClock()
    {
        using var state = State();
        var runner = Runner(state, Resource(keep: 1));
        using var stop = new CancellationTokenSource();
        var loop = runner.RunAsync(stop.Token);
        // Move the clock (a minute at most at a time, and only while the loop sleeps on it) until two scheduled cycles
        // (06:00, 12:00) are done.
        var by14 = new DateTimeOffset(2026, 11, 22, 14, 0, 0, TimeSpan.Zero);
        await _time.RunUntilAsync(() => RdsSnapshotRunner.LoadLast(state, Name)?.SnapshotId == "lifeboat-billing-rds-20261122-1200" || _time.GetUtcNow() >= by14 || loop.IsCompleted,
            TimeSpan.FromMinutes(1));
        Assert.True(_time.GetUtcNow() < by14, "the 12:00 cycle should be done by 14:00");
        stop.Cancel();
        await loop;
        // Two cycles, one snapshot each (the clock never moves while a request is in flight, so none is sent twice).
        Assert.Equal(["lifeboat-billing-rds-20261122-0600", "lifeboat-billing-rds-20261122-1200"],
            _rds.Calls.Where(c => c.Action == "CreateDBSnapshot").Select(c => c.Form["DBSnapshotIdentifier"]).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(["lifeboat-billing-rds-20261122-1200"], _rds.Snapshots[Dst].Keys.ToArray()); // keep 1
        Assert.Empty(_rds.Problems);
    }

    [Fact]
    public async Task TicksMissedWhileDown_RunOnceOnStart()
    {
        using var state = State();
        var runner = Runner(state);
        Assert.Equal(RdsStepKind.Idle, (await runner.StepAsync(false, CancellationToken.None)).Kind); // 05:50, baseline
        _time.Advance(TimeSpan.FromHours(13)); // down over the 06:00, 12:00 and 18:00 ticks... (now 18:50)
        var last = await DriveAsync(runner, startNow: false);
        Assert.Equal("lifeboat-billing-rds-20261122-1800", last.SnapshotId); // one catch-up run, for the latest tick
        Assert.Single(_rds.Calls, c => c.Action == "CreateDBSnapshot");
        Assert.Equal(RdsStepKind.Idle, (await runner.StepAsync(false, CancellationToken.None)).Kind);
    }

    [Fact]
    public async Task TwoOnDemandCycles_InOneSecond_MakeTwoSnapshots()
    {
        // Regression: on-demand names had one-second resolution, so a second run within the same second adopted the
        // first run's snapshot as its own and reported a new one that was not made.
        _rds.CreateTakes = TimeSpan.Zero;
        _rds.CopyTakes = TimeSpan.Zero;
        using var state = State();
        var first = await DriveAsync(Runner(state, Resource(keep: 5)), startNow: true);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        var second = await DriveAsync(Runner(state, Resource(keep: 5)), startNow: true);
        Assert.NotEqual(first.SnapshotId, second.SnapshotId);
        Assert.Equal(2, _rds.Calls.Count(c => c.Action == "CreateDBSnapshot"));
        Assert.Equal(2, _rds.Snapshots[Dst].Count);
    }

    [Fact]
    public void SnapshotIds_FollowRdsRules()
    {
        var t = new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);
        Assert.Equal("lifeboat-billing-rds-20261122-0600", RdsSnapshotRunner.SnapshotIdFor("billing-rds", t, false));
        Assert.Equal("lifeboat-my-db-v2-20261122-060000-000", RdsSnapshotRunner.SnapshotIdFor("My_DB..v2", t, true));
    }
}
