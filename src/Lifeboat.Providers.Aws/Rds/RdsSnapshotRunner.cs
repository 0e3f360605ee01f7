using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.Aws.Rds;

/// <summary>The cycle in flight, as the state store keeps it (checkpoint <c>rds:cycle</c>): written before each effect
/// it starts, so a restart resumes the waiting instead of creating a second snapshot or copy.</summary>
public sealed record RdsCycle
{
    public required string SnapshotId { get; init; }
    public required long TickMs { get; init; }
    public required string Phase { get; init; }
    public bool OnDemand { get; init; }
    public long StartedAtMs { get; init; }
    public string? SourceArn { get; init; }
    public bool Encrypted { get; init; }
    public long? CreatedAtMs { get; init; }
    public long? CopyStartedAtMs { get; init; }
    public string? TargetArn { get; init; }
    public long? CopiedAtMs { get; init; }
    /// <summary>Why the cycle is waiting (e.g. the copy limit), for status.</summary>
    public string? Waiting { get; init; }
}

/// <summary>The last completed cycle (checkpoint <c>rds:last</c>).</summary>
public sealed record RdsLast(string SnapshotId, string? SourceArn, string? TargetArn, long StartedAtMs, long? CreatedAtMs, long? CopiedAtMs,
    long FinishedAtMs, int ExpiredTarget, int ExpiredSource);

public sealed record RdsError(long AtMs, string SnapshotId, string Message);

/// <summary>The cycle checkpoints' JSON (snake_case), source-generated: no reflection in the ahead-of-time compiled
/// release package (ADR 0008).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(RdsCycle))]
[JsonSerializable(typeof(RdsLast))]
[JsonSerializable(typeof(RdsError))]
public sealed partial class RdsJson : JsonSerializerContext;

public enum RdsStepKind { Idle, Continue, Wait, Done }

public sealed record RdsStep(RdsStepKind Kind, DateTimeOffset? WakeAt = null, RdsLast? Completed = null);

/// <summary>A cycle failed for a reason retrying cannot fix now (quota, a failed snapshot, a missing KMS key...);
/// the message says which. The next scheduled run starts a new cycle.</summary>
/// <summary>One gate per target region and endpoint: a copy is started (and its quota checked) by one runner at a time.</summary>
public sealed class RdsCopyGates
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public SemaphoreSlim For(string target) => _gates.GetOrAdd(target, _ => new SemaphoreSlim(1, 1));
}

/// <summary>What <c>verify</c> found for an rds resource: the copies in the target region and any problem.</summary>
public sealed record RdsVerifyResult(string Resource, bool Ok, string? LastSnapshot, IReadOnlyList<(string Id, string Status)> Copies, IReadOnlyList<string> Problems);

public sealed class RdsCycleFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Runs a <c>type: rds</c> resource: on its cron schedule (or on demand) it creates a manual snapshot in the source
/// region tagged <c>lifeboat=NAME</c>, waits until it is available, starts the cross-region copy from the target
/// region (never while the target region already runs <see cref="MaxConcurrentCopies"/> copies: it counts them first,
/// under a per-region gate shared by every resource in the process), waits for the copy, tags it, then deletes the
/// Lifeboat-tagged snapshots beyond <c>keep</c> in both regions, oldest first: snapshots without the tag
/// <c>lifeboat=NAME</c> are never touched. One cycle at a time per resource; its phase is in the state store before
/// each effect, so a restart (even kill -9) resumes where it was.
/// </summary>
public sealed class RdsSnapshotRunner
{
    public const string CycleCheckpoint = "rds:cycle";
    public const string LastCheckpoint = "rds:last";
    public const string LastTickCheckpoint = "rds:last-tick";
    public const string ErrorCheckpoint = "rds:last-error";
    public const string TagKey = "lifeboat";
    /// <summary>RDS allows 5 cross-region snapshot copies in progress per destination region.</summary>
    public const int MaxConcurrentCopies = 5;
    /// <summary>How long a copy RDS accepted may stay invisible to DescribeDBSnapshots before it counts as lost.</summary>
    public static readonly TimeSpan CopyVisibleWithin = TimeSpan.FromMinutes(10);


    private readonly RdsClient _source;
    private readonly RdsClient _target;
    private readonly StateStore _state;
    private readonly TimeProvider _time;
    private readonly ILogger _log;

    public RdsSnapshotRunner(RdsResource resource, RdsClient source, RdsClient target, StateStore state, TimeProvider time, ILogger log)
    {
        Resource = resource;
        _source = source;
        _target = target;
        _state = state;
        _time = time;
        _log = log;
    }

    public RdsResource Resource { get; }

    /// <summary>Serialises the copy starts of the runners of one process that share a target region (the composition
    /// root passes one instance to all of them; a runner made alone gets its own).</summary>
    public RdsCopyGates CopyGates { get; init; } = new();

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    public static RdsCycle? LoadCycle(StateStore state, string resource) =>
        state.GetCheckpoint(resource, CycleCheckpoint) is { } s ? JsonSerializer.Deserialize(s, RdsJson.Default.RdsCycle) : null;

    public static RdsLast? LoadLast(StateStore state, string resource) =>
        state.GetCheckpoint(resource, LastCheckpoint) is { } s ? JsonSerializer.Deserialize(s, RdsJson.Default.RdsLast) : null;

    public static RdsError? LoadError(StateStore state, string resource) =>
        state.GetCheckpoint(resource, ErrorCheckpoint) is { } s ? JsonSerializer.Deserialize(s, RdsJson.Default.RdsError) : null;

    public static DateTimeOffset? LoadLastTick(StateStore state, string resource) =>
        long.TryParse(state.GetCheckpoint(resource, LastTickCheckpoint), NumberStyles.Integer, CultureInfo.InvariantCulture, out var t)
            ? DateTimeOffset.FromUnixTimeMilliseconds(t) : null;

    public RdsCycle? Cycle => LoadCycle(_state, Resource.Name);

    private void Save(RdsCycle c) => _state.SetCheckpoint(Resource.Name, CycleCheckpoint, JsonSerializer.Serialize(c, RdsJson.Default.RdsCycle), NowMs);

    /// <summary>The snapshot name for a cycle: lifeboat-NAME-yyyyMMdd-HHmm for a scheduled tick, and down to the
    /// millisecond (-HHmmss-fff) on demand, so that two on-demand runs in one second make two snapshots instead of the
    /// second one adopting the first's (letters, digits and single hyphens, as RDS requires).</summary>
    public static string SnapshotIdFor(string resource, DateTimeOffset tick, bool onDemand)
    {
        var sb = new StringBuilder();
        foreach (var c in resource.ToLowerInvariant())
        {
            var ch = char.IsAsciiLetterOrDigit(c) ? c : '-';
            if (ch == '-' && (sb.Length == 0 || sb[^1] == '-')) continue;
            sb.Append(ch);
        }
        var name = sb.ToString().TrimEnd('-');
        return $"lifeboat-{name}-{tick.UtcDateTime.ToString(onDemand ? "yyyyMMdd-HHmmss-fff" : "yyyyMMdd-HHmm", CultureInfo.InvariantCulture)}";
    }

    private bool Ours(DbSnapshot s) => s.Tags.TryGetValue(TagKey, out var v) && v == Resource.Name;

    /// <summary>The scheduled time a cycle is due for now, or null. The first time a resource runs, the schedule
    /// starts from now (no run for the past); a run missed while Lifeboat was down is made once on start.</summary>
    public DateTimeOffset? DueTick()
    {
        var now = _time.GetUtcNow();
        var last = LoadLastTick(_state, Resource.Name);
        if (last is null)
        {
            _state.SetCheckpoint(Resource.Name, LastTickCheckpoint, now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), NowMs);
            return null;
        }
        var next = Resource.Schedule.Next(last.Value);
        if (next is null || next > now) return null;
        return Resource.Schedule.Previous(now, now - last.Value) ?? next;
    }

    /// <summary>When the schedule next fires (for status and the continuous loop's sleep).</summary>
    public DateTimeOffset? NextRun() =>
        Resource.Schedule.Next(LoadLastTick(_state, Resource.Name) ?? _time.GetUtcNow());

    private RdsCycle Start(DateTimeOffset tick, bool onDemand)
    {
        var c = new RdsCycle
        {
            SnapshotId = SnapshotIdFor(Resource.Name, tick, onDemand),
            TickMs = tick.ToUnixTimeMilliseconds(),
            Phase = "create",
            OnDemand = onDemand,
            StartedAtMs = NowMs,
        };
        Save(c);
        if (!onDemand) _state.SetCheckpoint(Resource.Name, LastTickCheckpoint, c.TickMs.ToString(CultureInfo.InvariantCulture), NowMs);
        _log.RdsCycleStarted(Resource.Name, c.SnapshotId, onDemand ? "on demand" : $"scheduled {tick:u}");
        return c;
    }

    private RdsCycleFailedException Fail(RdsCycle c, string message, Exception? inner = null)
    {
        var text = $"{Resource.Name}: snapshot {c.SnapshotId}: {message}";
        _state.SetCheckpoint(Resource.Name, ErrorCheckpoint, JsonSerializer.Serialize(new RdsError(NowMs, c.SnapshotId, text), RdsJson.Default.RdsError), NowMs);
        _state.SetCheckpoint(Resource.Name, CycleCheckpoint, null, NowMs);
        _log.RdsCycleFailed(text);
        return new RdsCycleFailedException(text, inner);
    }

    private RdsStep Wait() => new(RdsStepKind.Wait, _time.GetUtcNow() + Resource.PollEvery);

    /// <summary>
    /// One step of the state machine: starts a cycle when due (or when <paramref name="startNow"/> and none is in
    /// flight), or moves the cycle in flight on by one phase. Throws <see cref="RdsCycleFailedException"/> when the
    /// cycle fails (recorded in the state store); transient AWS errors leave the cycle as it is (Wait).
    /// </summary>
    public Task<RdsStep> StepAsync(bool startNow, CancellationToken ct) => StepAsync(startNow, endIfUnreachable: false, ct);

    /// <summary>As <see cref="StepAsync(bool, CancellationToken)"/>; with <paramref name="endIfUnreachable"/> (one-shot runs), an
    /// endpoint that still cannot be reached after the client's retries (its name does not resolve, or connections are
    /// refused) ends the run with a <see cref="UserErrorException"/> naming it, instead of waiting for it forever. The
    /// cycle stays in flight (the next run resumes it) and the error is recorded for status.</summary>
    private async Task<RdsStep> StepAsync(bool startNow, bool endIfUnreachable, CancellationToken ct)
    {
        var c = Cycle;
        if (c is null)
        {
            var tick = startNow ? _time.GetUtcNow() : DueTick();
            if (tick is null) return new RdsStep(RdsStepKind.Idle, NextRun());
            c = Start(tick.Value, startNow);
        }
        try
        {
            return await AdvanceAsync(c, ct).ConfigureAwait(false);
        }
        catch (AwsEndpointUnreachableException e) when (endIfUnreachable)
        {
            var text = $"rds resource '{Resource.Name}' ({Resource.Where}): {e.Message}";
            _state.SetCheckpoint(Resource.Name, ErrorCheckpoint, JsonSerializer.Serialize(new RdsError(NowMs, c.SnapshotId, text), RdsJson.Default.RdsError), NowMs);
            throw new UserErrorException(text, e);
        }
        catch (AwsServiceException e) when (e.Transient)
        {
            _log.RdsTransientError(Resource.Name, c.Phase, e.Message);
            return Wait();
        }
        catch (RdsCopyLimitExceededException e)
        {
            Save(c with { Waiting = e.Message });
            _log.RdsCopyLimitExceeded(Resource.Name, e.Message);
            return Wait();
        }
        catch (AwsServiceException e)
        {
            throw Fail(c, e.Message, e);
        }
    }

    private async Task<RdsStep> AdvanceAsync(RdsCycle c, CancellationToken ct)
    {
        var id = c.SnapshotId;
        switch (c.Phase)
        {
            case "create":
            {
                var existing = await _source.DescribeSnapshotAsync(id, ct).ConfigureAwait(false);
                if (existing is null)
                {
                    try
                    {
                        await _source.CreateSnapshotAsync(Resource.Instance, id,
                            new Dictionary<string, string> { [TagKey] = Resource.Name, ["lifeboat:instance"] = Resource.Instance }, ct).ConfigureAwait(false);
                        _log.RdsSnapshotCreating(Resource.Name, id, Resource.Instance, Resource.SourceRegion);
                    }
                    catch (RdsSnapshotAlreadyExistsException)
                    {
                        existing = await _source.DescribeSnapshotAsync(id, ct).ConfigureAwait(false);
                    }
                    catch (RdsSnapshotQuotaExceededException e)
                    {
                        throw Fail(c, e.Message, e);
                    }
                }
                if (existing is not null && !Ours(existing))
                    throw Fail(c, $"a snapshot with this name exists in {Resource.SourceRegion} without the tag {TagKey}={Resource.Name}: not Lifeboat's, left alone");
                Save(c with { Phase = "creating" });
                return new RdsStep(RdsStepKind.Continue);
            }
            case "creating":
            {
                var s = await _source.DescribeSnapshotAsync(id, ct).ConfigureAwait(false)
                        ?? throw Fail(c, $"the snapshot is gone from {Resource.SourceRegion} before it became available");
                if (s.Status == "available")
                {
                    if (s.Arn is null) throw Fail(c, "RDS answered without DBSnapshotArn; a cross-region copy needs it");
                    if (s.Encrypted && Resource.KmsKeyId is null)
                        throw Fail(c, $"the snapshot is encrypted: set kms_key_id to a KMS key in {Resource.TargetRegion} ({Resource.Where})");
                    Save(c with { Phase = "copy", SourceArn = s.Arn, Encrypted = s.Encrypted, CreatedAtMs = NowMs });
                    _log.RdsSnapshotAvailable(Resource.Name, id, Resource.SourceRegion);
                    return new RdsStep(RdsStepKind.Continue);
                }
                if (IsFailed(s.Status)) throw Fail(c, $"RDS reports the snapshot as {s.Status} in {Resource.SourceRegion}");
                return Wait();
            }
            case "copy":
                return await StartCopyAsync(c, ct).ConfigureAwait(false);
            case "copying":
            {
                var t = await _target.DescribeSnapshotAsync(id, ct).ConfigureAwait(false);
                if (t is null)
                {
                    // The request may not have reached RDS (crash, network): ask again (a copy RDS did accept answers
                    // DBSnapshotAlreadyExists, which is handled), for at most CopyVisibleWithin.
                    if (NowMs - (c.CopyStartedAtMs ?? NowMs) > CopyVisibleWithin.TotalMilliseconds)
                        throw Fail(c, $"the copy to {Resource.TargetRegion} did not appear within {CopyVisibleWithin.TotalMinutes:0} minutes of the first request");
                    Save(c with { Phase = "copy" });
                    return Wait();
                }
                if (t.Status == "available")
                {
                    Save(c with { Phase = "tag", TargetArn = t.Arn, CopiedAtMs = NowMs, Waiting = null });
                    _log.RdsCopyAvailable(Resource.Name, id, Resource.TargetRegion);
                    return new RdsStep(RdsStepKind.Continue);
                }
                if (IsFailed(t.Status)) throw Fail(c, $"RDS reports the copy as {t.Status} in {Resource.TargetRegion}");
                return Wait();
            }
            case "tag":
            {
                // The copy was requested with these tags; AddTagsToResource makes sure (it is idempotent) and records
                // when the copy was verified available.
                var arn = c.TargetArn ?? (await _target.DescribeSnapshotAsync(id, ct).ConfigureAwait(false))?.Arn
                          ?? throw Fail(c, $"the copy in {Resource.TargetRegion} has no ARN to tag");
                await _target.AddTagsAsync(arn, new Dictionary<string, string>
                {
                    [TagKey] = Resource.Name,
                    ["lifeboat:source"] = c.SourceArn ?? "",
                    ["lifeboat:copied-at"] = DateTimeOffset.FromUnixTimeMilliseconds(c.CopiedAtMs ?? NowMs).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                }, ct).ConfigureAwait(false);
                Save(c with { Phase = "expire", TargetArn = arn });
                return new RdsStep(RdsStepKind.Continue);
            }
            case "expire":
            {
                var t = await ExpireAsync(_target, Resource.TargetRegion, id, ct).ConfigureAwait(false);
                var s = await ExpireAsync(_source, Resource.SourceRegion, id, ct).ConfigureAwait(false);
                var last = new RdsLast(id, c.SourceArn, c.TargetArn, c.StartedAtMs, c.CreatedAtMs, c.CopiedAtMs, NowMs, t, s);
                _state.SetCheckpoint(Resource.Name, LastCheckpoint, JsonSerializer.Serialize(last, RdsJson.Default.RdsLast), NowMs);
                _state.SetCheckpoint(Resource.Name, ErrorCheckpoint, null, NowMs);
                _state.SetCheckpoint(Resource.Name, CycleCheckpoint, null, NowMs);
                _log.RdsCycleDone(Resource.Name, id, Resource.TargetRegion, t, s);
                return new RdsStep(RdsStepKind.Done, Completed: last);
            }
            default:
                throw Fail(c, $"unknown phase '{c.Phase}' in the state store");
        }
    }

    private static bool IsFailed(string status) => status is "failed" or "deleting" or "deleted" or "incompatible-restore" or "incompatible-parameters";

    private async Task<RdsStep> StartCopyAsync(RdsCycle c, CancellationToken ct)
    {
        var gate = CopyGates.For($"{_target.Endpoint}|{_target.Region}");
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var existing = await _target.DescribeSnapshotAsync(c.SnapshotId, ct).ConfigureAwait(false);
            if (existing is null)
            {
                var inProgress = (await _target.DescribeSnapshotsAsync(null, "manual", ct).ConfigureAwait(false)).Count(s => s.IsCopyInProgress);
                if (inProgress >= MaxConcurrentCopies)
                {
                    var why = $"{inProgress} snapshot copies are in progress in {Resource.TargetRegion} (RDS allows {MaxConcurrentCopies}); the copy waits";
                    if (c.Waiting != why) _log.RdsCopyWaits(Resource.Name, why);
                    Save(c with { Waiting = why });
                    return Wait();
                }
                // Recorded before the request: after a crash the next start finds the copy (or its absence) by name.
                var copying = c with { Phase = "copying", CopyStartedAtMs = c.CopyStartedAtMs ?? NowMs, Waiting = null };
                Save(copying);
                try
                {
                    await _target.CopySnapshotAsync(c.SourceArn!, Resource.SourceRegion, _source.Endpoint, c.SnapshotId, Resource.KmsKeyId,
                        new Dictionary<string, string> { [TagKey] = Resource.Name, ["lifeboat:source"] = c.SourceArn! }, ct).ConfigureAwait(false);
                    _log.RdsCopying(Resource.Name, c.SnapshotId, Resource.TargetRegion);
                }
                catch (RdsSnapshotAlreadyExistsException)
                {
                    existing = await _target.DescribeSnapshotAsync(c.SnapshotId, ct).ConfigureAwait(false);
                    if (existing is not null && !Ours(existing))
                        throw Fail(c, $"a snapshot with this name exists in {Resource.TargetRegion} without the tag {TagKey}={Resource.Name}: not Lifeboat's, left alone");
                }
                catch (RdsCopyLimitExceededException)
                {
                    Save(c with { CopyStartedAtMs = null });
                    throw;
                }
                catch (RdsSnapshotQuotaExceededException e)
                {
                    throw Fail(c, e.Message, e);
                }
                catch (AwsServiceException e) when (!e.Transient)
                {
                    throw Fail(c, e.Message, e);
                }
                catch (AwsServiceException)
                {
                    // Unknown outcome (timeout, 5xx after the retries): the copying phase finds the copy by name, or
                    // asks again.
                    throw;
                }
                return new RdsStep(RdsStepKind.Continue);
            }
            if (!Ours(existing))
                throw Fail(c, $"a snapshot with this name exists in {Resource.TargetRegion} without the tag {TagKey}={Resource.Name}: not Lifeboat's, left alone");
            Save(c with { Phase = "copying", CopyStartedAtMs = c.CopyStartedAtMs ?? NowMs, Waiting = null });
            return new RdsStep(RdsStepKind.Continue);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Deletes, in one region, the available snapshots of the instance tagged lifeboat=NAME beyond the newest
    /// <c>keep</c> (never the cycle's own, never an untagged one). Returns how many were deleted.</summary>
    private async Task<int> ExpireAsync(RdsClient client, string region, string currentId, CancellationToken ct)
    {
        var all = await client.DescribeSnapshotsAsync(Resource.Instance, "manual", ct).ConfigureAwait(false);
        var ours = all.Where(s => Ours(s) && s.Status == "available")
            .OrderByDescending(s => s.TakenAt ?? DateTimeOffset.MinValue).ThenByDescending(s => s.Id, StringComparer.Ordinal).ToList();
        var deleted = 0;
        foreach (var s in ours.Skip(Resource.Keep))
        {
            if (s.Id == currentId) continue;
            try
            {
                if (await client.DeleteSnapshotAsync(s.Id, ct).ConfigureAwait(false)) deleted++;
                _log.RdsSnapshotExpired(Resource.Name, s.Id, region, Resource.Keep);
            }
            catch (AwsServiceException e) when (e.Code == "InvalidDBSnapshotState")
            {
                _log.RdsSnapshotNotExpired(Resource.Name, s.Id, region, e.Message);
            }
        }
        return deleted;
    }

    /// <summary>Drives a cycle to its end now (the one in flight, else a new one): <c>--once</c> and
    /// <c>lifeboat rds snapshot</c>. Waits between polls on the injected clock; an endpoint that cannot be reached at
    /// all ends it with a <see cref="UserErrorException"/> (other transient errors are waited out).</summary>
    public async Task<RdsLast> RunCycleAsync(CancellationToken ct)
    {
        var start = true;
        while (true)
        {
            var step = await StepAsync(start, endIfUnreachable: true, ct).ConfigureAwait(false);
            start = false;
            switch (step.Kind)
            {
                case RdsStepKind.Done:
                    return step.Completed!;
                case RdsStepKind.Wait:
                    await Task.Delay(Max0(step.WakeAt!.Value - _time.GetUtcNow()), _time, ct).ConfigureAwait(false);
                    break;
                case RdsStepKind.Idle:
                    throw new InvalidOperationException("no cycle started");
            }
        }
    }

    /// <summary>
    /// <c>verify</c> of an rds resource: the newest snapshot Lifeboat copied must exist in the target region,
    /// <c>available</c>, and be ours (tagged with this resource); its copies there are listed with their state. Not OK
    /// when no cycle finished yet, when the copy is missing or not available, or when the last cycle failed.
    /// </summary>
    public async Task<RdsVerifyResult> VerifyAsync(CancellationToken ct)
    {
        var problems = new List<string>();
        var last = LoadLast(_state, Resource.Name);
        var copies = (await _target.DescribeSnapshotsAsync(null, "manual", ct).ConfigureAwait(false)).Where(Ours)
            .OrderByDescending(x => x.CreateTime ?? DateTimeOffset.MinValue).ToList();
        if (last is null) problems.Add("no snapshot was copied yet (`lifeboat rds snapshot` takes one now)");
        else if (copies.FirstOrDefault(x => x.Id == last.SnapshotId) is not { } copy)
            problems.Add($"the last copy {last.SnapshotId} is missing from {Resource.TargetRegion}");
        else if (copy.Status != "available")
            problems.Add($"the last copy {last.SnapshotId} in {Resource.TargetRegion} is {copy.Status}, not available");
        if (LoadError(_state, Resource.Name) is { } err && (last is null || err.AtMs > last.StartedAtMs))
            problems.Add($"the last cycle failed: {err.Message}");
        return new RdsVerifyResult(Resource.Name, problems.Count == 0, last?.SnapshotId, copies.Select(x => (x.Id, x.Status)).ToList(), problems);
    }

    /// <summary>Continuous mode: runs the schedule until <paramref name="stop"/>. A failed cycle is logged and recorded
    /// (status shows it); the next scheduled run starts a new one.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            RdsStep step;
            try
            {
                step = await StepAsync(false, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (RdsCycleFailedException)
            {
                continue; // logged and recorded by Fail
            }
            var delay = step.Kind switch
            {
                RdsStepKind.Continue or RdsStepKind.Done => TimeSpan.Zero,
                _ => Max0((step.WakeAt ?? _time.GetUtcNow() + Resource.PollEvery) - _time.GetUtcNow()),
            };
            if (delay > TimeSpan.Zero)
            {
                try { await Task.Delay(delay, _time, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private static TimeSpan Max0(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;
}
