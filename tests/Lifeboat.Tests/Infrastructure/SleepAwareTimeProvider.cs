using System.Diagnostics;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// <see cref="FakeTimeProvider"/> (Microsoft.Extensions.TimeProvider.Testing), which tests move by hand, plus what it
/// does not tell: whether the code under test sleeps on it, and until when (<see cref="NextSleep"/>), so that a test can
/// move it only while the code sleeps (<see cref="RunAsync{T}"/>, <see cref="RunUntilAsync"/>). Timers and their firing
/// are FakeTimeProvider's; this class only watches them. Tests that move the clock themselves use FakeTimeProvider.
/// </summary>
public sealed class SleepAwareTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly Lock _gate = new();
    private readonly HashSet<SleepTimer> _sleeps = [];
    private int _created;

    /// <summary>Timers created so far (each Task.Delay on this clock is one): a test waits for it to grow to know that
    /// the code under test went back to waiting on the clock, instead of sleeping.</summary>
    public int TimersCreated => Volatile.Read(ref _created);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref _created);
        // A sleep is a Task.Delay on this clock (its timer's state is the delay's task, and it fires once); the other
        // timers are timeouts (the state of a CancellationTokenSource's timer is the source): armed while the code waits
        // on real work, such as a request or a process, they say nothing about whether it waits on the clock.
        if (state is not Task || period != Timeout.InfiniteTimeSpan && period != TimeSpan.Zero)
            return base.CreateTimer(callback, state, dueTime, period);
        var sleep = new SleepTimer(this, callback, state);
        sleep.Inner = base.CreateTimer(static s => ((SleepTimer)s!).Fire(), sleep, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        sleep.Change(dueTime, period);
        return sleep;
    }

    /// <summary>The earliest wake-up of a sleep on this clock, or null when the code under test sleeps on none.</summary>
    public DateTimeOffset? NextSleep
    {
        get
        {
            lock (_gate)
            {
                DateTimeOffset? next = null;
                foreach (var t in _sleeps)
                    if (next is null || t.DueAt < next) next = t.DueAt;
                return next;
            }
        }
    }

    /// <summary>When each sleep on this clock (a Task.Delay, see <see cref="NextSleep"/>) wakes up, earliest first.</summary>
    public IReadOnlyList<DateTimeOffset> Sleeps
    {
        get
        {
            lock (_gate) return _sleeps.Select(t => t.DueAt).Order().ToList();
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> to its end, moving this clock only while the work sleeps on it (<see cref="NextSleep"/>):
    /// each move goes to the earliest wake-up, by at most <paramref name="maxStep"/>. The clock never moves while the
    /// work does real work, so no timeout on the clock expires because the machine is slow. Fails when the work neither
    /// ends nor sleeps on the clock for <paramref name="idle"/> of real time (1 minute by default).
    /// </summary>
    public async Task<T> RunAsync<T>(Task<T> work, TimeSpan? maxStep = null, TimeSpan? idle = null)
    {
        await RunUntilAsync(() => work.IsCompleted, maxStep, idle, work);
        return await work;
    }

    public async Task RunAsync(Task work, TimeSpan? maxStep = null, TimeSpan? idle = null)
    {
        await RunUntilAsync(() => work.IsCompleted, maxStep, idle, work);
        await work;
    }

    /// <summary>As <see cref="RunAsync{T}"/>, for work that runs on (a loop): until <paramref name="done"/> holds.</summary>
    public async Task RunUntilAsync(Func<bool> done, TimeSpan? maxStep = null, TimeSpan? idle = null, Task? work = null)
    {
        var limit = idle ?? TimeSpan.FromMinutes(1);
        var quiet = Stopwatch.StartNew();
        while (!done())
        {
            if (NextSleep is { } due)
            {
                var now = GetUtcNow();
                if (due > now)
                {
                    var by = due - now;
                    if (maxStep is { } max && by > max) by = max;
                    // SetUtcNow, not Advance: Advance also blocks the thread for a millisecond each time.
                    SetUtcNow(now + by);
                    quiet.Restart();
                    await Task.Yield();
                    continue;
                }
                // Due already: FakeTimeProvider is firing it (on the thread that moved the clock, or on the one that
                // is already waking its timers); it leaves the sleeps when it has fired.
            }
            if (quiet.Elapsed > limit)
                throw new Xunit.Sdk.XunitException($"the work neither ended nor slept on the clock for {limit.TotalSeconds:0}s (clock at {GetUtcNow():O})");
            await (work is null ? Task.Delay(2) : Task.WhenAny(work, Task.Delay(2)));
        }
    }

    /// <summary>FakeTimeProvider's timer of a sleep, noted in <see cref="_sleeps"/> while it is armed.</summary>
    private sealed class SleepTimer(SleepAwareTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public ITimer Inner = null!;
        public DateTimeOffset DueAt;
        private long _version; // moves on at each change and each firing (under owner._gate)

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            long version;
            lock (owner._gate)
            {
                owner._sleeps.Remove(this);
                version = ++_version;
            }
            if (!Inner.Change(dueTime, period)) return false;
            if (dueTime == Timeout.InfiniteTimeSpan) return true;
            // Noted from the time after the change: never earlier than FakeTimeProvider's own wake-up, even when the
            // clock moved during the call, so moving the clock there always fires the timer. Not noted when it fired
            // (or changed again) meanwhile.
            var due = owner.GetUtcNow() + dueTime;
            lock (owner._gate)
            {
                if (_version != version) return true;
                DueAt = due;
                owner._sleeps.Add(this);
            }
            return true;
        }

        public void Fire()
        {
            lock (owner._gate)
            {
                _version++;
                owner._sleeps.Remove(this);
            }
            callback(state);
        }

        public void Dispose()
        {
            lock (owner._gate)
            {
                _version++;
                owner._sleeps.Remove(this);
            }
            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
