namespace Lifeboat.Core.Replication;

/// <summary>
/// Bounds the bytes a process holds in upload buffers, whatever the concurrency and object sizes: a buffer of n bytes
/// waits for ceil(n / 1 MiB) units. One acquirer at a time accumulates units (the gate), so two large buffers can never
/// each hold half of the budget and wait for each other.
/// </summary>
public sealed class MemoryBudget(long bytes)
{
    private const long Unit = 1 << 20;
    private readonly int _capacity = (int)Math.Max(1, bytes / Unit);
    private readonly SemaphoreSlim _units = new((int)Math.Max(1, bytes / Unit));
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>The budget a process gives its S3 stores' upload buffers (the composition root owns one instance and
    /// passes it to every store it creates; a store made without one gets its own).</summary>
    public const long DefaultBytes = 192L << 20;

    public async Task<IDisposable> AcquireAsync(long size, CancellationToken ct)
    {
        var n = (int)Math.Clamp((size + Unit - 1) / Unit, 1, _capacity);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        var got = 0;
        try
        {
            for (; got < n; got++) await _units.WaitAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            if (got > 0) _units.Release(got);
            throw;
        }
        finally { _gate.Release(); }
        return new Lease(_units, n);
    }

    private sealed class Lease(SemaphoreSlim units, int n) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) units.Release(n);
        }
    }
}
