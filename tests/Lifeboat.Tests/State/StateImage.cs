using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Recovery;
using Lifeboat.Tests.Infrastructure;
using Lifeboat.Tests.Replication;
using Xunit;

namespace Lifeboat.Tests.State;

/// <summary>
/// A real state file as a crash leaves it: written by a replicate pass (folder to folder: objects copied, a delete
/// held), a runbook's mode change (resource <c>res</c> stopped, checkpointed into the file as
/// <see cref="ReplicationControl.Set"/> does), a runbook execution, and later journal rows still in the write-ahead log;
/// copied while the store is open, so the image has its -wal and -shm files as after a kill -9.
/// </summary>
public sealed record StateImage(byte[] Main, byte[]? Wal, byte[]? Shm, string StateId, long ExecutionId)
{
    public const string Resource = "res";
    public const string HeldKey = "gone.txt";

    public static async Task<StateImage> MakeAsync()
    {
        await using var h = await Harness.FilesAsync();
        for (var i = 0; i < 20; i++) await h.PutSourceAsync($"k{i:00}.txt");
        await h.PutSourceAsync(HeldKey);
        var rep = h.Replicator();
        await rep.PrepareAsync(CancellationToken.None);
        await rep.ReconcileAsync(null, CancellationToken.None);
        await h.Source.DeleteAsync(h.SourceBucket, HeldKey, CancellationToken.None);
        await rep.ReconcileAsync(null, CancellationToken.None); // deletes: retain: the delete is held
        long exec;
        using (var ex = new ExecutionStore(h.State))
        {
            exec = ex.Create("failover", RunbookEngine.KindFailover, "test", ApprovalMode.Auto, 1, 1, ["stop"], 1000);
            ex.StepStarted(exec, "stop", 1001);
            ex.AddEvent(exec, 1002, "step", "stop", "replication stopped");
            ex.StepFinished(exec, "stop", "succeeded", 1003, "ok", null);
        }
        ReplicationControl.Set(h.State, Resource, ReplicationMode.Stopped, 1004);
        // Later work, in the write-ahead log only (as a crash leaves it).
        for (var i = 0; i < 5; i++) h.State.RecordSeen(Resource, $"late{i}.txt", ChangeOp.Put, 2000 + i);
        var path = h.State.Path;
        var image = new StateImage(Copy(path), CopyOrNull(path + "-wal"), CopyOrNull(path + "-shm"), h.State.Identity.Id, exec);
        Assert.NotNull(image.Wal);
        return image;
    }

    private static byte[] Copy(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var ms = new MemoryStream();
        f.CopyTo(ms);
        return ms.ToArray();
    }

    private static byte[]? CopyOrNull(string path) => File.Exists(path) ? Copy(path) : null;

    /// <summary>Writes the image as <paramref name="path"/> (and its -wal, -shm).</summary>
    public void WriteTo(string path)
    {
        File.WriteAllBytes(path, Main);
        foreach (var (suffix, bytes) in new[] { ("-wal", Wal), ("-shm", Shm) })
        {
            if (bytes is not null) File.WriteAllBytes(path + suffix, bytes);
            else File.Delete(path + suffix);
        }
    }
}

/// <summary>Makes a file read-only even for root (which ignores permission bits): chattr +i there, chmod elsewhere.</summary>
public sealed class ReadOnlyFile : IDisposable
{
    private readonly string _path;
    private readonly bool _immutable;

    public ReadOnlyFile(string path)
    {
        _path = path;
        _immutable = Environment.UserName == "root";
        if (_immutable)
        {
            var (code, output) = Proc.Run("chattr", ["+i", path], TimeSpan.FromSeconds(10));
            Assert.True(code == 0, "chattr +i: " + output);
        }
        else if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, File.GetUnixFileMode(path) & ~(UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));
    }

    public void Dispose()
    {
        if (_immutable) Proc.Run("chattr", ["-i", _path], TimeSpan.FromSeconds(10));
        else if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_path, File.GetUnixFileMode(_path) | UnixFileMode.UserWrite);
    }
}
