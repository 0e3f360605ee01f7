using Lifeboat.Hosting;
using Lifeboat.Abstractions;
using Lifeboat.Core.Replication;
using Microsoft.Extensions.Logging;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>The small parts written in place of libraries whose start-up cost showed in short runs (ADR 0006): the
/// console line logger and the replicator's retry policy.</summary>
public sealed class StartupPartsTests
{
    [Fact]
    public void LineLogger_WritesTheSimpleConsoleSingleLineFormat()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 8, 30, 1, 234, TimeSpan.Zero));
        var at = time.GetLocalNow().ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);
        var output = new StringWriter();
        using var factory = new LoggerFactory([new LineLoggerProvider(time, output)],
            new LoggerFilterOptions { MinLevel = LogLevel.Information, Rules = { new LoggerFilterRule(null, "Microsoft", LogLevel.Warning, null) } });
        var log = factory.CreateLogger("lifeboat.photos");
        log.LogInformation("{Resource}: pass done: {Copied} copied", "photos", 3);
        log.LogDebug("not shown below the minimum level");
        factory.CreateLogger("Microsoft.AspNetCore.Server").LogInformation("not shown: framework logs start at warnings");
        log.LogError(new InvalidOperationException("boom\nsecond line"), "copy failed");
        Assert.Equal(
            $"{at} info: lifeboat.photos[0] photos: pass done: 3 copied" + Environment.NewLine +
            $"{at} fail: lifeboat.photos[0] copy failed System.InvalidOperationException: boom second line" + Environment.NewLine,
            output.ToString());
    }

    [Fact]
    public async Task RetryPolicy_RetriesTransientErrorsOnly_WithGrowingCappedDelays()
    {
        var policy = new RetryPolicy(3, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
        for (var retry = 1; retry <= 4; retry++)
        {
            var full = Math.Min(3.0, Math.Pow(2, retry - 1));
            var d = policy.DelayBefore(retry).TotalSeconds;
            Assert.InRange(d, full / 2, full); // half fixed, half random
        }

        // The waits are on the injected clock (an hour here): nothing happens until it moves.
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var hourly = new RetryPolicy(3, TimeSpan.FromHours(1), TimeSpan.FromHours(2));
        var calls = 0;
        var retries = new List<int>();
        var run = hourly.ExecuteAsync(_ =>
        {
            calls++;
            if (calls < 2) throw new StoreException(StoreErrorKind.Transient, "503 SlowDown");
            return Task.FromResult("done");
        }, time, (n, _) => retries.Add(n), CancellationToken.None);
        Assert.False(run.IsCompleted);
        Assert.Equal([1], retries);
        time.Advance(TimeSpan.FromHours(1)); // the first retry waits 30-60 minutes
        Assert.Equal("done", await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, calls);

        // A permanent error is not retried; transient ones stop after MaxRetries and the last error is thrown.
        var now = new RetryPolicy(3, TimeSpan.Zero, TimeSpan.Zero);
        calls = 0;
        await Assert.ThrowsAsync<StoreException>(() => now.ExecuteAsync<int>(_ => { calls++; throw new StoreException(StoreErrorKind.Permanent, "403"); },
            time, (_, _) => { }, CancellationToken.None));
        Assert.Equal(1, calls);
        calls = 0;
        retries.Clear();
        var e = await Assert.ThrowsAsync<StoreException>(() => now.ExecuteAsync<int>(_ => { calls++; throw new StoreException(StoreErrorKind.Transient, $"500 #{calls}"); },
            time, (n, _) => retries.Add(n), CancellationToken.None));
        Assert.Equal(4, calls);
        Assert.Equal([1, 2, 3], retries);
        Assert.Equal("500 #4", e.Message);
    }
}

/// <summary>The state file opened by two connections at the same moment (the replication state in the background and
/// the runbook executions on the caller's thread, or two processes): neither may fail with "database is locked".</summary>
public sealed class StateFileOpenTests
{
    [Fact]
    public async Task TwoConnectionsOpeningANewStateFileAtOnce_BothSucceed()
    {
        using var dir = new TempDir();
        for (var i = 0; i < 20; i++)
        {
            var path = Path.Combine(dir.Path, $"s{i}", "state.db");
            using var background = Lifeboat.Core.State.StateStore.OpenInBackground(path);
            var other = Task.Run(() => new Lifeboat.Recovery.ExecutionStore(path));
            using var executions = await other.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(0, background.Backlog("r")); // waits for the background open; throws if it failed
        }
    }
}
