using Lifeboat.Abstractions;
using Xunit;

namespace Lifeboat.Tests.Engine;

/// <summary>The one retry policy (issue 15): loops never multiply. A loop inside a retrying caller uses the caller's
/// budget; what it gave up on is not retried again above; a failure it could not retry still is.</summary>
public sealed class RetryPolicyTests
{
    private static readonly RetryPolicy Outer = new(5, TimeSpan.Zero, TimeSpan.Zero);
    private static readonly RetryPolicy Inner = new(2, TimeSpan.Zero, TimeSpan.Zero);
    private static bool Transient(Exception e) => e is StoreException { Kind: StoreErrorKind.Transient };
    private static StoreException Blip() => new(StoreErrorKind.Transient, "503 Slow Down");

    /// <summary>A client's request loop on its own: its own budget (2 retries, 3 attempts), and the error it gives up
    /// on is marked with the attempts made.</summary>
    [Fact]
    public async Task OnItsOwn_ALoopUsesItsOwnBudget_AndMarksWhatItGaveUpOn()
    {
        var calls = 0;
        var e = await Assert.ThrowsAsync<StoreException>(() =>
            Inner.RunAsync<int>(_ => { calls++; throw Blip(); }, Transient, TimeProvider.System, null, CancellationToken.None));
        Assert.Equal(3, calls);
        Assert.True(RetryPolicy.AlreadyRetried(e));
        Assert.Equal(3, RetryPolicy.AttemptsBehind(e));
    }

    /// <summary>A request loop inside the replicator's retry: the request is tried with the replicator's budget (6
    /// attempts), and the replicator does not retry the failure again (6 requests in all, where nesting sent 3 x 6).</summary>
    [Fact]
    public async Task InsideARetryingCaller_TheInnerLoopUsesTheCallersBudget_AndTheCallerDoesNotRetryAgain()
    {
        int requests = 0, copies = 0;
        var e = await Assert.ThrowsAsync<StoreException>(() => Outer.ExecuteAsync(async ct =>
        {
            copies++;
            return await Inner.RunAsync<int>(_ => { requests++; throw Blip(); }, Transient, TimeProvider.System, null, ct);
        }, TimeProvider.System, (_, _) => { }, CancellationToken.None));
        Assert.Equal(6, requests);
        Assert.Equal(1, copies);
        // Wrapped on the way up (a provider maps its errors), the mark is still seen.
        Assert.True(RetryPolicy.AlreadyRetried(new StoreException(StoreErrorKind.Transient, "mapped", e)));
    }

    /// <summary>A failure no inner loop saw (a body that broke off after the request succeeded) is the caller's to
    /// retry; the caller's scope ends with the call, so a later loop on its own has its own budget again.</summary>
    [Fact]
    public async Task AFailureNoInnerLoopSaw_IsRetriedByTheCaller_AndTheScopeEndsWithTheCall()
    {
        var copies = 0;
        var result = await Outer.ExecuteAsync(async ct =>
        {
            copies++;
            var status = await Inner.RunAsync(_ => Task.FromResult(200), Transient, TimeProvider.System, null, ct);
            if (copies < 3) throw Blip(); // the stream broke off after the answer
            return status;
        }, TimeProvider.System, (_, _) => { }, CancellationToken.None);
        Assert.Equal(200, result);
        Assert.Equal(3, copies);
        Assert.Null(RetryPolicy.Current);

        var calls = 0;
        await Assert.ThrowsAsync<StoreException>(() =>
            Inner.RunAsync<int>(_ => { calls++; throw Blip(); }, Transient, TimeProvider.System, null, CancellationToken.None));
        Assert.Equal(3, calls);
    }

    /// <summary>Permanent errors are never retried, at any level; delays grow, are capped, and half of each is random.</summary>
    [Fact]
    public async Task PermanentErrorsAreNotRetried_DelaysGrowUpToTheCap()
    {
        var calls = 0;
        await Assert.ThrowsAsync<StoreException>(() => Outer.ExecuteAsync<int>(_ =>
        {
            calls++;
            throw new StoreException(StoreErrorKind.Permanent, "403 AccessDenied");
        }, TimeProvider.System, (_, _) => { }, CancellationToken.None));
        Assert.Equal(1, calls);

        var p = new RetryPolicy(10, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));
        for (var i = 0; i < 50; i++)
        {
            Assert.InRange(p.DelayBefore(1).TotalSeconds, 0.5, 1);
            Assert.InRange(p.DelayBefore(3).TotalSeconds, 2, 4);
            Assert.InRange(p.DelayBefore(10).TotalSeconds, 4, 8);
            Assert.InRange(p.DelayBefore(1000).TotalSeconds, 4, 8);
        }
    }
}
