using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Lifeboat.Tests.Infrastructure;

public static class Repo
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Lifeboat.slnx"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (Lifeboat.slnx) above " + AppContext.BaseDirectory);
    }
}

/// <summary>A folder deleted when the test ends.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lifeboat-test-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }
    public string Sub(string name) { var p = System.IO.Path.Combine(Path, name); Directory.CreateDirectory(p); return p; }
    public string File(string name, string text) { var p = System.IO.Path.Combine(Path, name); System.IO.File.WriteAllText(p, text); return p; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// The real Ceph RADOS Gateway the S3 tests run against. Uses LIFEBOAT_S3_ENDPOINT when set (tests/run.sh starts
/// the server and exports it); otherwise starts it with tests/servers/rgw.sh. Never skipped: without a server the
/// S3 tests fail.
/// </summary>
public sealed class RgwServer
{
    private static readonly Lazy<RgwServer> Shared = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    public static RgwServer Instance => Shared.Value;

    public string Endpoint { get; private init; } = "";
    public string AccessKey { get; private init; } = "";
    public string SecretKey { get; private init; } = "";
    /// <summary>A second gateway of the same cluster with STS enabled, and roles the test user may assume there
    /// (tests/servers/rgw.sh): one may do anything in S3, one only read.</summary>
    public string StsEndpoint { get; private init; } = "";
    public string RoleArn { get; private init; } = "";
    public string ReadOnlyRoleArn { get; private init; } = "";

    private static RgwServer Start()
    {
        var env = new Dictionary<string, string>();
        if (Environment.GetEnvironmentVariable("LIFEBOAT_S3_ENDPOINT") is { Length: > 0 } ep)
        {
            env["LIFEBOAT_S3_ENDPOINT"] = ep;
            env["LIFEBOAT_S3_ACCESS_KEY"] = Environment.GetEnvironmentVariable("LIFEBOAT_S3_ACCESS_KEY") ?? "lifeboat";
            env["LIFEBOAT_S3_SECRET_KEY"] = Environment.GetEnvironmentVariable("LIFEBOAT_S3_SECRET_KEY") ?? "lifeboat-secret";
            env["LIFEBOAT_S3_STS_ENDPOINT"] = Environment.GetEnvironmentVariable("LIFEBOAT_S3_STS_ENDPOINT") ?? "http://127.0.0.1:7481";
            env["LIFEBOAT_S3_ROLE_ARN"] = Environment.GetEnvironmentVariable("LIFEBOAT_S3_ROLE_ARN") ?? "arn:aws:iam:::role/lifeboat-dr";
            env["LIFEBOAT_S3_READONLY_ROLE_ARN"] = Environment.GetEnvironmentVariable("LIFEBOAT_S3_READONLY_ROLE_ARN") ?? "arn:aws:iam:::role/lifeboat-readonly";
        }
        else
        {
            // Output goes to a file: the daemons the script starts inherit its descriptors and outlive it.
            var log = Path.Combine(Path.GetTempPath(), $"lifeboat-rgw-start-{Environment.ProcessId}.log");
            var (code, _) = Proc.Run("bash", ["-c", $"bash \"$0\" start >\"$1\" 2>&1 </dev/null", Path.Combine(Repo.Root, "tests/servers/rgw.sh"), log], TimeSpan.FromMinutes(3));
            var output = File.ReadAllText(log);
            if (code != 0) throw new InvalidOperationException("tests/servers/rgw.sh start failed:\n" + output);
            foreach (Match m in Regex.Matches(output, @"export (LIFEBOAT_S3_\w+)=(\S+)"))
                env[m.Groups[1].Value] = m.Groups[2].Value.Trim('\'', '"');
        }
        return new RgwServer
        {
            Endpoint = env["LIFEBOAT_S3_ENDPOINT"],
            AccessKey = env["LIFEBOAT_S3_ACCESS_KEY"],
            SecretKey = env["LIFEBOAT_S3_SECRET_KEY"],
            StsEndpoint = env["LIFEBOAT_S3_STS_ENDPOINT"],
            RoleArn = env["LIFEBOAT_S3_ROLE_ARN"],
            ReadOnlyRoleArn = env["LIFEBOAT_S3_READONLY_ROLE_ARN"],
        };
    }

    /// <summary>A store config for this server (credentials through environment variables set for the process).</summary>
    public Core.Config.StoreConfig StoreConfig(string name = "rgw")
    {
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_AK", AccessKey);
        Environment.SetEnvironmentVariable("LIFEBOAT_TEST_SK", SecretKey);
        return new Core.Config.StoreConfig(name, Core.Config.StoreType.S3, new Core.Config.ConfigLocation("test", 1, name),
            Endpoint: Endpoint, Region: "us-east-1", AccessKeyEnv: "LIFEBOAT_TEST_AK", SecretKeyEnv: "LIFEBOAT_TEST_SK");
    }

    public Providers.S3.S3Store CreateStore(string name = "rgw") => new(StoreConfig(name));

    /// <summary>A shared-credentials file with profile 'lifeboat-test', for configs that use `profile:` exactly as users do.</summary>
    public string CredentialsFile(TempDir dir) => dir.File("credentials",
        $"[lifeboat-test]\naws_access_key_id = {AccessKey}\naws_secret_access_key = {SecretKey}\n\n[wrong]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n");

    public static string NewBucketName(string hint) => $"{hint}-{Guid.NewGuid().ToString("N")[..10]}".ToLowerInvariant();
}

public static class Proc
{
    public static (int Code, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string?>? env = null, string? cwd = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd ?? Repo.Root };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var sb = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (sb) sb.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (sb) sb.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}:\n{sb}");
        }
        p.WaitForExit();
        lock (sb) return (p.ExitCode, sb.ToString());
    }
}

/// <summary>Runs the built CLI (lifeboat.dll beside the tests) as a separate process, as a user would; with
/// LIFEBOAT_TEST_CLI set to an executable, that one instead (the release package: build/package.sh).</summary>
public static class LifeboatCli
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "lifeboat.dll");

    private static string? Executable => Environment.GetEnvironmentVariable("LIFEBOAT_TEST_CLI") is { Length: > 0 } exe ? Path.GetFullPath(exe) : null;

    /// <summary>The CLI as one shell command (for programs that run it themselves, such as PostgreSQL's archive_command).</summary>
    public static string ShellCommand => Executable ?? $"{Proc.Run("bash", ["-c", "command -v dotnet"], TimeSpan.FromSeconds(10)).Output.Trim()} {Dll}";

    private static (string File, string[] Args) Command(IEnumerable<string> args) =>
        Executable is { } exe ? (exe, args.ToArray()) : ("dotnet", new[] { Dll }.Concat(args).ToArray());

    public static (int Code, string Output) Run(string cwd, IDictionary<string, string?>? env, params string[] args)
    {
        var (file, all) = Command(args);
        return Proc.Run(file, all, TimeSpan.FromMinutes(3), env, cwd);
    }

    /// <summary>As <see cref="Run(string, IDictionary{string, string?}?, string[])"/>, killed (a TimeoutException) after <paramref name="timeout"/>.</summary>
    public static (int Code, string Output) Run(string cwd, IDictionary<string, string?>? env, TimeSpan timeout, params string[] args)
    {
        var (file, all) = Command(args);
        return Proc.Run(file, all, timeout, env, cwd);
    }

    public static Process Start(string cwd, IDictionary<string, string?>? env, System.Text.StringBuilder output, params string[] args)
    {
        var (file, all) = Command(args);
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd };
        foreach (var a in all) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }
}

/// <summary>Waits on a condition (never a fixed sleep); fails with the description when the deadline passes.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > timeout) throw new Xunit.Sdk.XunitException($"timed out after {timeout.TotalSeconds:0}s waiting for: {what}");
            await Task.Delay(25);
        }
    }

    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what) => TrueAsync(() => Task.FromResult(condition()), timeout, what);

    /// <summary>As above, with the description made when the deadline passes (to show a process's output as it is then).</summary>
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) throw new Xunit.Sdk.XunitException($"timed out after {timeout.TotalSeconds:0}s waiting for: {what()}");
            await Task.Delay(25);
        }
    }
}

/// <summary>A clock tests move by hand (Microsoft.Extensions.TimeProvider.Testing is not in the reachable NuGet copy).</summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _gate = new();
    private DateTimeOffset _now = start;
    private readonly List<ManualTimer> _timers = [];

    public override DateTimeOffset GetUtcNow() { lock (_gate) return _now; }
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override long GetTimestamp() { lock (_gate) return _now.UtcTicks; }

    public void Advance(TimeSpan by)
    {
        List<ManualTimer> due;
        lock (_gate)
        {
            _now += by;
            due = _timers.Where(t => t.DueAt <= _now).ToList();
        }
        foreach (var t in due) t.Fire();
    }

    private int _created;

    /// <summary>Timers created so far (each Task.Delay on this clock is one): a test waits for it to grow to know that
    /// the code under test went back to waiting on the clock, instead of sleeping.</summary>
    public int TimersCreated => Volatile.Read(ref _created);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref _created);
        var t = new ManualTimer(this, callback, state);
        t.Change(dueTime, period);
        return t;
    }

    /// <summary>
    /// The earliest wake-up of a sleep on this clock, or null when the code under test sleeps on none. A sleep is a
    /// Task.Delay on this clock (its timer's state is the delay's task); the other timers are timeouts (the state of
    /// a CancellationTokenSource's timer is the source): armed while the code waits on real work, such as a request or
    /// a process, they say nothing about whether it waits on the clock.
    /// </summary>
    public DateTimeOffset? NextSleep
    {
        get
        {
            lock (_gate)
            {
                DateTimeOffset? next = null;
                foreach (var t in _timers)
                    if (t.IsSleep && (next is null || t.DueAt < next)) next = t.DueAt;
                return next;
            }
        }
    }

    /// <summary>When each sleep on this clock (a Task.Delay, see <see cref="NextSleep"/>) wakes up, earliest first.</summary>
    public IReadOnlyList<DateTimeOffset> Sleeps
    {
        get
        {
            lock (_gate) return _timers.Where(t => t.IsSleep).Select(t => t.DueAt).Order().ToList();
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
                var by = due - GetUtcNow();
                if (by < TimeSpan.Zero) by = TimeSpan.Zero;
                if (maxStep is { } max && by > max) by = max;
                if (by > TimeSpan.Zero || due <= GetUtcNow())
                {
                    Advance(by);
                    quiet.Restart();
                    await Task.Yield();
                    continue;
                }
            }
            if (quiet.Elapsed > limit)
                throw new Xunit.Sdk.XunitException($"the work neither ended nor slept on the manual clock for {limit.TotalSeconds:0}s (clock at {GetUtcNow():O})");
            await (work is null ? Task.Delay(2) : Task.WhenAny(work, Task.Delay(2)));
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset DueAt = DateTimeOffset.MaxValue;
        public bool IsSleep => state is Task;
        private TimeSpan _period;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                _period = period;
                owner._timers.Remove(this);
                if (dueTime == Timeout.InfiniteTimeSpan) { DueAt = DateTimeOffset.MaxValue; return true; }
                DueAt = owner._now + dueTime;
                owner._timers.Add(this);
            }
            if (dueTime == TimeSpan.Zero) Fire();
            return true;
        }

        public void Fire()
        {
            lock (owner._gate)
            {
                owner._timers.Remove(this);
                if (_period > TimeSpan.Zero && _period != Timeout.InfiniteTimeSpan) { DueAt = owner._now + _period; owner._timers.Add(this); }
                else DueAt = DateTimeOffset.MaxValue;
            }
            callback(state);
        }

        public void Dispose() { lock (owner._gate) owner._timers.Remove(this); }
        public ValueTask DisposeAsync() { Dispose(); return ValueTask.CompletedTask; }
    }
}
