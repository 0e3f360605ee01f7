using FsCheck.Fluent;
using Lifeboat.Core.Config;
using Lifeboat.Core.Replication;
using Lifeboat.Core.State;
using Lifeboat.Recovery;
using Lifeboat.Tests.Infrastructure;
using Xunit;
using Gen = FsCheck.Fluent.Gen;

namespace Lifeboat.Tests.State;

/// <summary>
/// State-file damage, property-based (issue 14: "so these do not come back"): a real state file as a crash leaves it
/// (<see cref="StateImage"/>: main file, -wal, -shm) is damaged at random (truncated at any size including 0, bytes or
/// whole pages overwritten, the header zeroed, the -wal or -shm deleted or damaged, the main file lost with its -wal
/// kept) and every command's use of the state (status, verify, replicate --once, executions), driven in-process, either
/// works on what SQLite could still read or stops with one line naming the state file; never another exception (a stack
/// trace), never a new empty state in its place. Structural damage that works must have kept what was checkpointed into
/// the file: the state's id, the resource a runbook stopped, the held delete. A few cases run through the CLI in
/// <see cref="StateCliTests"/>.
/// </summary>
public sealed class StateDamageFuzzTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private static readonly Lazy<StateImage> Image = new(() => StateImage.MakeAsync().GetAwaiter().GetResult());
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public enum Target { Main, Wal, Shm }

    /// <summary>One act of damage. <see cref="Flip"/> changes bytes anywhere (content too: undetectable by SQLite, which
    /// has no checksums, so only the weaker property holds for it).</summary>
    public abstract record Damage
    {
        public sealed record Truncate(Target File, double Fraction) : Damage;
        public sealed record Flip(Target File, int[] Offsets, byte Xor) : Damage;
        public sealed record FillPage(Target File, int Page, byte Value) : Damage;
        public sealed record ZeroHeader : Damage;
        public sealed record Delete(Target File) : Damage;
        public sealed record DeleteMainKeepWal : Damage;
    }

    private static readonly FsCheck.Gen<Target> Targets = Gen.Elements(Target.Main, Target.Main, Target.Wal, Target.Shm);

    private static readonly FsCheck.Gen<Damage> OneDamage = Gen.OneOf(
        Targets.SelectMany(t => Gen.Choose(0, 1000), (t, f) => (Damage)new Damage.Truncate(t, f / 1000.0)),
        Targets.SelectMany(t => Gen.ArrayOf(Gen.Choose(0, int.MaxValue), 1).Zip(Gen.Choose(1, 255)), (t, x) => (Damage)new Damage.Flip(t, x.Item1, (byte)x.Item2)),
        Targets.SelectMany(t => Gen.Choose(0, 40).Zip(Gen.Elements<byte>(0, 0xFF, 0x5A)), (t, x) => (Damage)new Damage.FillPage(t, x.Item1, x.Item2)),
        Gen.Constant((Damage)new Damage.ZeroHeader()),
        Gen.Elements(Target.Wal, Target.Shm).Select(t => (Damage)new Damage.Delete(t)),
        Gen.Constant((Damage)new Damage.DeleteMainKeepWal()));

    private static readonly FsCheck.Gen<Damage[]> Damages = Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(OneDamage, n));

    private static string PathOf(string main, Target t) => t switch { Target.Wal => main + "-wal", Target.Shm => main + "-shm", _ => main };

    private static void Apply(string main, Damage d)
    {
        switch (d)
        {
            case Damage.Truncate t when File.Exists(PathOf(main, t.File)):
            {
                var p = PathOf(main, t.File);
                using var f = new FileStream(p, FileMode.Open);
                f.SetLength((long)(f.Length * t.Fraction));
                break;
            }
            case Damage.Flip x when File.Exists(PathOf(main, x.File)):
            {
                var p = PathOf(main, x.File);
                var bytes = File.ReadAllBytes(p);
                if (bytes.Length == 0) break;
                foreach (var o in x.Offsets) bytes[o % bytes.Length] ^= x.Xor;
                File.WriteAllBytes(p, bytes);
                break;
            }
            case Damage.FillPage x when File.Exists(PathOf(main, x.File)):
            {
                var p = PathOf(main, x.File);
                var bytes = File.ReadAllBytes(p);
                var pages = Math.Max(1, bytes.Length / 4096);
                var start = x.Page % pages * 4096;
                Array.Fill(bytes, x.Value, start, Math.Min(4096, bytes.Length - start));
                File.WriteAllBytes(p, bytes);
                break;
            }
            case Damage.ZeroHeader when File.Exists(main):
            {
                var bytes = File.ReadAllBytes(main);
                Array.Clear(bytes, 0, Math.Min(100, bytes.Length));
                File.WriteAllBytes(main, bytes);
                break;
            }
            case Damage.Delete x:
                File.Delete(PathOf(main, x.File));
                break;
            case Damage.DeleteMainKeepWal:
                File.Delete(main);
                break;
        }
    }

    /// <summary>What status, verify, replicate --once and executions read and write, in-process.</summary>
    private static (ReplicationMode Mode, bool Held) UseLikeEveryCommand(string path, StateImage image)
    {
        (ReplicationMode, bool) result;
        long now = 10_000;
        using (var s = new StateStore(path))
        {
            // status
            s.Stats(StateImage.Resource, now);
            s.Canary(StateImage.Resource, now);
            var mode = ReplicationControl.Get(s, StateImage.Resource);
            // verify
            s.CheckWhole();
            var held = s.HeldDeletes(StateImage.Resource);
            s.GetReplicated(StateImage.Resource, "k00.txt");
            // replicate --once
            s.ReopenFailed(StateImage.Resource);
            s.ReopenActive(StateImage.Resource);
            s.OpenChanges(StateImage.Resource);
            var (id, _) = s.BeginChange(StateImage.Resource, "k01.txt", ChangeOp.Put, now);
            s.MarkDurable(id, now, new ReplicatedRecord("e", 1, "e", now), StateImage.Resource, "k01.txt");
            s.SetCheckpoint(StateImage.Resource, "pass-position", "k01.txt", now);
            s.Failed(StateImage.Resource);
            s.Prune(0);
            // Never a new, empty state in place of the damaged one.
            Assert.False(s.Identity.CreatedNow, "a new state file was created in place of a damaged one");
            Assert.Equal(image.StateId, s.Identity.Id);
            result = (mode, held.Any(h => h.Key == StateImage.HeldKey));
        }
        // executions / report
        using var ex = new ExecutionStore(path);
        foreach (var e in ex.List())
        {
            ex.Steps(e.Id);
            ex.Events(e.Id);
        }
        return result;
    }

    [Fact]
    public void EveryCommand_OnADamagedStateFile_WorksOrStopsWithOneLineNamingIt_NeverAStackTrace_NeverStartsOver()
    {
        var image = Image.Value;
        var n = 0;
        var outcomes = new Dictionary<string, int>();
        Fuzz.Check(Damages, damages =>
        {
            var dir = Path.Combine(_dir.Path, $"case-{n++}");
            Directory.CreateDirectory(dir);
            var path = Path.Combine(dir, "state.db");
            image.WriteTo(path);
            foreach (var d in damages) Apply(path, d);
            if (!File.Exists(path) && (!File.Exists(path + "-wal") || new FileInfo(path + "-wal").Length == 0))
            {
                // Nothing left of it: a missing state file, which only its targets' claim markers can tell (StateCliTests).
                Count(outcomes, "missing");
                Directory.Delete(dir, recursive: true);
                return;
            }
            var structural = damages.All(d => d is not Damage.Flip);
            try
            {
                var (mode, held) = UseLikeEveryCommand(path, image);
                // Intact enough: what was checkpointed into the file (before the later rows in the -wal) is there.
                if (structural)
                {
                    Assert.Equal(ReplicationMode.Stopped, mode);
                    Assert.True(held, "the held delete was lost");
                }
                Count(outcomes, "works");
            }
            catch (UserErrorException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                Assert.Contains($"state file {path}", e.Message);
                Count(outcomes, e.Message.Contains("--reset-state", StringComparison.Ordinal) ? "refused: damaged" : "refused: " + e.Message[(e.Message.IndexOf(path, StringComparison.Ordinal) + path.Length)..].Split(':')[0].Trim());
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }, runs: 200, fixedSeed: 20261203);
        output.WriteLine(string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key}: {o.Value}")));
        // Both outcomes occur (a fuzzer that never damaged, or never let SQLite recover, would prove little).
        Assert.True(outcomes.GetValueOrDefault("works") > 0, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("refused: damaged") > 0, string.Join(", ", outcomes));
    }

    private static void Count(Dictionary<string, int> d, string k) => d[k] = d.GetValueOrDefault(k) + 1;

    [Fact]
    public void LosingTheWriteAheadLog_KeepsTheModeARunbookSet()
    {
        var image = Image.Value;
        var path = Path.Combine(_dir.Path, "state.db");
        image.WriteTo(path);
        File.Delete(path + "-wal");
        File.Delete(path + "-shm");
        Assert.Equal((ReplicationMode.Stopped, true), UseLikeEveryCommand(path, image));
    }
}
