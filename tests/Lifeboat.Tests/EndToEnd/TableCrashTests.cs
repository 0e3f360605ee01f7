using Lifeboat.Hosting;
using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Providers.DynamoDb;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>
/// kill -9 of <c>lifeboat replicate</c> (a separate process) during a table's initial sync and during its stream tail,
/// with writes going on at the source: every item carries a per-key version counter that only increases at the source
/// (UpdateItem ADD), and some keys are deleted and re-created. After restarts the target must equal the source
/// (verify exit 0): every key holds exactly the source's final version, so no key's changes were lost or applied out
/// of order in the end. Each kill lands at a random moment after an observed point of progress the run cannot outrun
/// (<see cref="KillPoint"/>): during the initial sync a proxy in front of the target holds all traffic once a budget of
/// bytes went through; the stream tail runs in continuous mode, which never ends by itself.
/// </summary>
public sealed class TableCrashTests : IDisposable
{
    private readonly DdbTables _ddb = new();
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        _ddb.Dispose();
        _dir.Dispose();
    }

    private static Dictionary<string, DdbValue> Versioned(int i) => new(DdbTables.Key("k" + i % 50, i))
    {
        ["ver"] = DdbValue.N("1"),
        // ~2 KB: a Scan page (1 MB) holds ~500 items, so the sync checkpoints several pages per segment.
        ["pad"] = DdbValue.S(new string((char)('a' + i % 26), 2000)),
    };

    /// <summary>Bumps version counters of random keys (and deletes/re-creates a few) until cancelled.</summary>
    private Task WriterAsync(string table, int items, CancellationToken stop) => Task.Run(async () =>
    {
        var rng = new Random(17);
        var n = 0;
        while (!stop.IsCancellationRequested)
        {
            var i = rng.Next(items);
            await _ddb.Client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = table,
                Key = DdbSdk.ToSdk(DdbTables.Key("k" + i % 50, i)),
                UpdateExpression = "ADD ver :one SET #p = :pad",
                ExpressionAttributeNames = new() { ["#p"] = "pad" },
                // The pad keeps its ~2 KB: the initial sync's proxy budget is counted against at least 2 KB per item.
                ExpressionAttributeValues = new() { [":one"] = new AttributeValue { N = "1" }, [":pad"] = new AttributeValue { S = ("w" + n).PadRight(2000, '.') } },
            });
            if (++n % 25 == 0)
            {
                var d = rng.Next(20);
                await _ddb.DeleteAsync(table, "gone", d);                    // deleted ...
                if (rng.Next(2) == 0) await _ddb.PutAsync(table, new Dictionary<string, DdbValue>(DdbTables.Key("gone", d)) { ["ver"] = DdbValue.N(n.ToString(CultureInfo.InvariantCulture)) }); // ... and maybe back
            }
            await Task.Delay(2, CancellationToken.None);
        }
    }, CancellationToken.None);

    private async Task AssertConvergedAsync(string cfg, string src, string dst)
    {
        var (code, output) = LifeboatCli.Run(_dir.Path, _ddb.Env, "verify", "-c", cfg);
        Assert.True(code == 0, output);
        var (s, d) = (await _ddb.ScanAsync(src), await _ddb.ScanAsync(dst));
        DdbTables.AssertSameItems(s, d);
        foreach (var (key, item) in s) Assert.Equal(item["ver"].Text, d[key]["ver"].Text);
        var config = Configs.Load(cfg);
        using var state = new StateStore(config.StatePath);
        Assert.Equal(0, state.Backlog("orders"));
        Assert.Empty(state.Failed("orders"));
    }

    [Fact]
    public async Task Kill9DuringInitialSync_WithWritesGoingOn_RestartEndsEqual()
    {
        const int items = 4000;
        var src = DynamoDbLocal.NewTableName("src");
        var dst = DynamoDbLocal.NewTableName("dst");
        await _ddb.CreateAsync(src, StreamViewType.NEW_AND_OLD_IMAGES);
        await _ddb.LoadAsync(src, Enumerable.Range(0, items).Select(Versioned));
        // The target exists without a stream (DynamoDB Local slows every stream-enabled table by the stream records
        // all tables hold: fewer records keep the shared test server fast).
        await _ddb.CreateAsync(dst, stream: null);
        // The CLI reaches the target through a proxy that holds all traffic once a run's budget of request bytes went
        // through. Every item is ~2 KB (the writer keeps that size), so copying the 4000 items needs 8 MB of requests at
        // least; the four budgets together (2.5 MB) are far less: no run can finish, however fast.
        await using var proxy = new GatedProxy(Ddb.Endpoint);
        var cfg = _ddb.Config(_dir, src, dst, "    deletes: propagate\n    concurrency: 2", createTarget: false, recoveryEndpoint: proxy.Endpoint);

        using var writes = new CancellationTokenSource();
        var writer = WriterAsync(src, items, writes.Token);
        var rng = new Random(23);
        var atKill = new List<long>();
        foreach (var budget in new long[] { 256 << 10, 512 << 10, 768 << 10, 1 << 20 })
        {
            proxy.Allow(budget);
            await KillPoint.RunAndKillAsync(_dir.Path, _ddb.Env, () => proxy.Exhausted, $"the proxy to pass its budget of {budget} request bytes", rng, 100,
                ["replicate", "-c", cfg, "--once"]);
            proxy.DropConnections();
            atKill.Add(await _ddb.CountAsync(dst));
        }
        Assert.True(atKill[^1] > 0 && atKill[^1] < items, $"the kills came during the sync (items in the target at each: {string.Join(", ", atKill)})");
        proxy.Open();
        await writes.CancelAsync();
        await writer;

        var (code, output) = LifeboatCli.Run(_dir.Path, _ddb.Env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        await AssertConvergedAsync(cfg, src, dst);
    }

    [Fact]
    public async Task Kill9DuringTheTail_WithWritesGoingOn_RestartCatchesUpEqual()
    {
        const int items = 500;
        var src = DynamoDbLocal.NewTableName("src");
        var dst = DynamoDbLocal.NewTableName("dst");
        await _ddb.CreateAsync(src, StreamViewType.NEW_IMAGE);
        await _ddb.LoadAsync(src, Enumerable.Range(0, items).Select(Versioned));
        var cfg = _ddb.Config(_dir, src, dst, "    deletes: propagate");
        var (code, output) = LifeboatCli.Run(_dir.Path, _ddb.Env, "replicate", "-c", cfg, "--once");
        Assert.True(code == 0, output);
        var statePath = Configs.Load(cfg).StatePath;
        long Applied()
        {
            using var st = new StateStore(statePath);
            return st.Stats("orders", TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds()).LagsLastHourMs.Length;
        }

        using var writes = new CancellationTokenSource();
        var writer = WriterAsync(src, items, writes.Token);
        // Continuous mode never ends by itself: each run is killed at a random moment after it applied more changes.
        var rng = new Random(23);
        for (var k = 0; k < 4; k++)
        {
            var start = Applied();
            await KillPoint.RunAndKillAsync(_dir.Path, _ddb.Env, () => Applied() > start, $"run {k}: more changes applied than {start}", rng, 1500, ["replicate", "-c", cfg]);
        }
        await writes.CancelAsync();
        await writer;

        var log = new StringBuilder();
        using var p = LifeboatCli.Start(_dir.Path, _ddb.Env, log, "replicate", "-c", cfg);
        try
        {
            var config = Configs.Load(cfg);
            await Eventually.TrueAsync(async () =>
            {
                using var st = new StateStore(config.StatePath);
                using var s = Ddb.DynamoClient();
                using var t = Ddb.DynamoClient();
                var v = await new TableVerifier(config.Tables.Single(), s, t, st, TimeProvider.System).RunAsync(CancellationToken.None);
                return v.Ok;
            }, TimeSpan.FromSeconds(90), "the restarted replicator to catch up; output: " + log);
        }
        finally
        {
            Mono.Unix.Signal(p.Id, 15);
        }
        Assert.True(p.WaitForExit(30_000), log.ToString());
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, log.ToString());
        await AssertConvergedAsync(cfg, src, dst);
    }

    private static DynamoDbLocal Ddb => DynamoDbLocal.Instance;
}
