namespace Lifeboat.Core.Replication;

/// <summary>One async lock per key, created on demand and dropped when unused: changes to one key are applied
/// one at a time (events, reconciliation and deletes alike), so a slow copy of an old version can never
/// overwrite a newer one.</summary>
public sealed class KeyLocks
{
    private readonly Dictionary<string, (SemaphoreSlim Gate, int Users)> _locks = new(StringComparer.Ordinal);

    public async Task<IDisposable> AcquireAsync(string key, CancellationToken ct)
    {
        SemaphoreSlim gate;
        lock (_locks)
        {
            if (_locks.TryGetValue(key, out var e)) { gate = e.Gate; _locks[key] = (gate, e.Users + 1); }
            else { gate = new SemaphoreSlim(1, 1); _locks[key] = (gate, 1); }
        }
        try { await gate.WaitAsync(ct).ConfigureAwait(false); }
        catch
        {
            Release(key, locked: false);
            throw;
        }
        return new Releaser(this, key);
    }

    private void Release(string key, bool locked)
    {
        lock (_locks)
        {
            var (gate, users) = _locks[key];
            if (locked) gate.Release();
            if (users == 1) { _locks.Remove(key); gate.Dispose(); }
            else _locks[key] = (gate, users - 1);
        }
    }

    private sealed class Releaser(KeyLocks owner, string key) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) owner.Release(key, locked: true);
        }
    }
}
