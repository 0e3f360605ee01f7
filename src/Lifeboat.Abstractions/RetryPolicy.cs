namespace Lifeboat.Abstractions;

/// <summary>
/// The one retry policy of every client (issue 15): up to <see cref="MaxRetries"/> more attempts, waiting an
/// exponentially growing delay (<see cref="Delay"/> doubled per attempt, capped at <see cref="MaxDelay"/>) of which the
/// second half is random, so that many requests failing together do not retry together. Waits run on the injected
/// <see cref="TimeProvider"/>.
/// <para>
/// Loops never multiply. Before, an S3 request retried inside the S3 client, inside the replicator's retry of the
/// copy: one failing object could send 18 requests. Now (1) the budget belongs to the outermost caller: a loop running
/// inside another policy's <see cref="RunAsync{T}"/> retries with that policy's count and delays (so a copy under the
/// replicator gets its patient budget at the request level, while a start-up check fails fast with the client's own);
/// and (2) an error a loop gave up on is marked, and no loop above retries it again. A failure no inner loop could
/// retry (a body that broke off mid-stream) is still retried by the caller's.
/// </para>
/// Written here rather than with Polly (used until 2026-11, ADR 0006): building Polly's pipeline took 15-27 ms of every
/// replicate run's start-up (options validation by reflection, generic pipeline parts compiled on first use), for one
/// retry loop that these few lines express.
/// </summary>
public sealed record RetryPolicy(int MaxRetries, TimeSpan Delay, TimeSpan MaxDelay)
{
    /// <summary>5 retries from 0.5 s up to 15 s apart: ~30 s of trying before a change is recorded as failed.</summary>
    public static RetryPolicy Default { get; } = new(5, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(15));

    private const string RetriedKey = "lifeboat.retried";
    private static readonly AsyncLocal<RetryPolicy?> Outer = new();

    /// <summary>The policy of the retrying caller this code runs under, if any.</summary>
    public static RetryPolicy? Current => Outer.Value;

    /// <summary>The wait before retry number <paramref name="retry"/> (1-based).</summary>
    public TimeSpan DelayBefore(int retry)
    {
        var full = Math.Min(MaxDelay.TotalMilliseconds, Delay.TotalMilliseconds * Math.Pow(2, Math.Min(retry - 1, 30)));
        return TimeSpan.FromMilliseconds(full / 2 + Random.Shared.NextDouble() * full / 2);
    }

    /// <summary>True when a retry loop already gave up on this error (or on one it wraps).</summary>
    public static bool AlreadyRetried(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.Data.Contains(RetriedKey)) return true;
        return false;
    }

    /// <summary>How many attempts the loop that gave up on <paramref name="e"/> made (0 when none did).</summary>
    public static int AttemptsBehind(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.Data[RetriedKey] is int n) return n;
        return 0;
    }

    /// <summary>Runs <paramref name="action"/>, retrying the errors <paramref name="retryable"/> accepts (never one a loop
    /// below already gave up on), with the budget of the retrying caller this runs under, else this policy's;
    /// <paramref name="onRetry"/> is told of each retry (its number and the error) before the wait. When retries run
    /// out the last error is thrown, marked as retried.</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> action, Func<Exception, bool> retryable, TimeProvider time,
        Action<int, Exception>? onRetry, CancellationToken ct)
    {
        var policy = Outer.Value ?? this;
        var outermost = Outer.Value is null;
        if (outermost) Outer.Value = this; // flows into the awaited calls below, and is undone when this method returns
        try
        {
            for (var retry = 1; ; retry++)
            {
                try
                {
                    return await action(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (!ct.IsCancellationRequested && retryable(e) && !AlreadyRetried(e))
                {
                    if (retry > policy.MaxRetries)
                    {
                        if (policy.MaxRetries > 0) e.Data[RetriedKey] = retry;
                        throw;
                    }
                    onRetry?.Invoke(retry, e);
                    await Task.Delay(policy.DelayBefore(retry), time, ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            if (outermost) Outer.Value = null;
        }
    }

    /// <summary>Runs <paramref name="action"/>, retrying transient store errors (see <see cref="RunAsync{T}"/>).</summary>
    public Task<T> ExecuteAsync<T>(Func<CancellationToken, Task<T>> action, TimeProvider time, Action<int, StoreException> onRetry, CancellationToken ct) =>
        RunAsync(action, e => e is StoreException { Kind: StoreErrorKind.Transient }, time, (n, e) => onRetry(n, (StoreException)e), ct);

    public Task ExecuteAsync(Func<CancellationToken, Task> action, TimeProvider time, Action<int, StoreException> onRetry, CancellationToken ct) =>
        ExecuteAsync(async t =>
        {
            await action(t).ConfigureAwait(false);
            return true;
        }, time, onRetry, ct);
}
