using Lifeboat.Core.State;

namespace Lifeboat.Core.Replication;

/// <summary>
/// How a resource is meant to replicate, set by runbooks (<c>replication:</c> steps) and failback:
/// <list type="bullet">
/// <item><c>forward</c> (default): source -> target, as <c>lifeboat replicate</c> runs it;</item>
/// <item><c>paused</c>: the replicate loop idles (finishing copies in flight first) until resumed; changes at the
/// source are picked up by the next reconcile pass after the resume;</item>
/// <item><c>stopped</c>: like paused, and meant to last (a failed-over primary): <c>resume</c> or failback ends it;</item>
/// <item><c>reversed</c>: replicate from the target back to the source (recovery region -> primary), the way
/// <c>lifeboat replicate --reverse</c> runs tables; journal and status under NAME.reverse.</item>
/// </list>
/// The mode is a checkpoint of the state store (resource, <see cref="ModeCheckpoint"/>); every replicate loop (the
/// <c>replicate</c> command and <c>serve</c>) reads it every <see cref="PollInterval"/> and writes
/// <see cref="AppliedCheckpoint"/> once its loop runs in that mode, so a runbook step can wait until the change took
/// effect.
/// </summary>
public enum ReplicationMode { Forward, Paused, Stopped, Reversed }

public static class ReplicationControl
{
    public const string ModeCheckpoint = "replication:mode";
    public const string AppliedCheckpoint = "replication:applied";
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public static string Name(ReplicationMode m) => m.ToString().ToLowerInvariant();

    public static ReplicationMode Parse(string? v) => v switch
    {
        null or "" or "forward" => ReplicationMode.Forward,
        "paused" => ReplicationMode.Paused,
        "stopped" => ReplicationMode.Stopped,
        "reversed" => ReplicationMode.Reversed,
        _ => throw new InvalidOperationException($"unknown replication mode '{v}' in the state store"),
    };

    public static ReplicationMode Get(StateStore state, string resource) => Read(state, resource, ModeCheckpoint);

    /// <summary>Sets the mode and checkpoints the state file's write-ahead log into the file at once: a mode a runbook
    /// set (a stopped resource during a failover) survives a power loss or a lost -wal file (ADR 0009).</summary>
    public static void Set(StateStore state, string resource, ReplicationMode mode, long atMs)
    {
        state.SetCheckpoint(resource, ModeCheckpoint, mode == ReplicationMode.Forward ? null : Name(mode), atMs);
        state.Flush();
    }

    /// <summary>The mode a running replicate loop last confirmed (null: none confirmed since the last change).</summary>
    public static ReplicationMode? Applied(StateStore state, string resource) =>
        state.GetCheckpoint(resource, AppliedCheckpoint) is not null ? Read(state, resource, AppliedCheckpoint) : null;

    private static ReplicationMode Read(StateStore state, string resource, string checkpoint)
    {
        var v = state.GetCheckpoint(resource, checkpoint);
        try { return Parse(v); }
        catch (InvalidOperationException)
        {
            throw new Config.UserErrorException($"state file {state.Path}: resource '{resource}' has an unknown replication mode '{v}' " +
                                                $"(damaged, or written by a newer Lifeboat); {StateFile.ResetAdvice}");
        }
    }

    public static void Acknowledge(StateStore state, string resource, ReplicationMode mode, long atMs) =>
        state.SetCheckpoint(resource, AppliedCheckpoint, Name(mode), atMs);

    /// <summary>True when some process holds the resource's run lock (see Runtime.LockResource): a replicate loop is
    /// running and will confirm a mode change.</summary>
    public static bool IsRunning(string statePath, string resource)
    {
        try
        {
            using var f = new FileStream($"{statePath}.{resource}.lock", FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (FileNotFoundException) { return false; }
        catch (IOException) { return true; }
    }
}
