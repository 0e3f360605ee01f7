using Lifeboat.Core.Abstractions;

namespace Lifeboat.Core.Replication;

/// <summary>
/// How the replicator retries transient store errors: up to <see cref="MaxRetries"/> more attempts, waiting an
/// exponentially growing delay (<see cref="Delay"/> doubled per attempt, capped at <see cref="MaxDelay"/>) of which the
/// second half is random, so that many copies failing together do not retry together. Waits run on the injected
/// <see cref="TimeProvider"/>; anything but a transient <see cref="StoreException"/> is not retried.
/// Written here rather than with Polly (used until 2026-11, ADR 0006): building Polly's pipeline took 15-27 ms of every
/// replicate run's start-up (options validation by reflection, generic pipeline parts compiled on first use), for one
/// retry loop that these few lines express.
/// </summary>
public sealed record RetryPolicy(int MaxRetries, TimeSpan Delay, TimeSpan MaxDelay)
{
    /// <summary>5 retries from 0.5 s up to 15 s apart: ~30 s of trying before a change is recorded as failed.</summary>
    public static RetryPolicy Default { get; } = new(5, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(15));

    /// <summary>The wait before retry number <paramref name="retry"/> (1-based).</summary>
    public TimeSpan DelayBefore(int retry)
    {
        var full = Math.Min(MaxDelay.TotalMilliseconds, Delay.TotalMilliseconds * Math.Pow(2, retry - 1));
        return TimeSpan.FromMilliseconds(full / 2 + Random.Shared.NextDouble() * full / 2);
    }

    /// <summary>Runs <paramref name="action"/>, retrying transient store errors; <paramref name="onRetry"/> is told of
    /// each retry (its number and the error) before the wait. The last error is thrown when retries run out.</summary>
    public async Task<T> ExecuteAsync<T>(Func<CancellationToken, Task<T>> action, TimeProvider time, Action<int, StoreException> onRetry, CancellationToken ct)
    {
        for (var retry = 1; ; retry++)
        {
            try
            {
                return await action(ct).ConfigureAwait(false);
            }
            catch (StoreException e) when (e.Kind == StoreErrorKind.Transient && retry <= MaxRetries && !ct.IsCancellationRequested)
            {
                onRetry(retry, e);
                await Task.Delay(DelayBefore(retry), time, ct).ConfigureAwait(false);
            }
        }
    }

    public Task ExecuteAsync(Func<CancellationToken, Task> action, TimeProvider time, Action<int, StoreException> onRetry, CancellationToken ct) =>
        ExecuteAsync(async t =>
        {
            await action(t).ConfigureAwait(false);
            return true;
        }, time, onRetry, ct);
}
