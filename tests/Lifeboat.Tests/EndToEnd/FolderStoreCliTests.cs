using System.Text;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.EndToEnd;

/// <summary>
/// Folder stores as a hostile but realistic user fills them (issue 14, findings 4 and 5), through the CLI: a key with a
/// 250-byte segment, <c>x</c> beside <c>x.json/y</c>, a folder link pointing outside the source, a link loop, a FIFO, a
/// file link whose target path is as long as its file, and a folder link inside the target. Nothing is read from
/// outside the source or written outside the target, nothing hangs or crashes, the one unstorable key is reported,
/// verify tells what it skipped, and SIGTERM still stops a continuous run.
/// </summary>
public sealed class FolderStoreCliTests
{
    private static readonly string LongName = new('a', 250);

    private sealed class Setup : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Source => Path.Combine(Dir.Path, "src", "b");
        public string Target => Path.Combine(Dir.Path, "dst", "b");
        public string Outside => Path.Combine(Dir.Path, "outside");
        public string OutsideTarget => Path.Combine(Dir.Path, "outside-target");
        public string Config { get; }

        public Setup(bool linkInTarget)
        {
            foreach (var d in new[] { Source, Target, Outside, OutsideTarget, Path.Combine(Source, "x.json"), Path.Combine(Source, "sub") })
                Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(Outside, "secret.txt"), "outside the source");
            File.WriteAllText(Path.Combine(Source, "normal.txt"), "normal");
            File.WriteAllText(Path.Combine(Source, LongName), "long name");
            File.WriteAllText(Path.Combine(Source, "x"), "x");
            File.WriteAllText(Path.Combine(Source, "x.json", "y"), "y under x.json");
            File.WriteAllText(Path.Combine(Source, "sub", "k.txt"), "under sub");
            Directory.CreateSymbolicLink(Path.Combine(Source, "outside-dir"), Outside);
            Directory.CreateSymbolicLink(Path.Combine(Source, "loop"), ".");
            var sameSize = Path.Combine(Outside, "same-size.txt");
            File.WriteAllText(sameSize, new string('s', sameSize.Length));
            File.CreateSymbolicLink(Path.Combine(Source, "file-link"), sameSize);
            Assert.Equal(0, Proc.Run("mkfifo", [Path.Combine(Source, "fifo")], TimeSpan.FromSeconds(10)).Code);
            if (linkInTarget) Directory.CreateSymbolicLink(Path.Combine(Target, "sub"), OutsideTarget);
            Config = Dir.File("lifeboat.yaml", """
                state: state/lifeboat.db
                stores:
                  src: { type: file, path: src }
                  dst: { type: file, path: dst }
                resources:
                  - name: files
                    type: bucket
                    source: { store: src, bucket: b }
                    target: { store: dst, bucket: b }
                    reconcile_every: 10m
                """);
        }

        /// <summary>The regular files of the target, by key, without entering links.</summary>
        public Dictionary<string, string> TargetFiles() =>
            Directory.EnumerateFiles(Target, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
                .Select(f => Path.GetRelativePath(Target, f).Replace('\\', '/'))
                .Where(k => !k.StartsWith(".lifeboat/", StringComparison.Ordinal))
                .ToDictionary(k => k, k => File.ReadAllText(Path.Combine(Target, k)));

        public void Dispose() => Dir.Dispose();
    }

    private static readonly Dictionary<string, string> Copied = new()
    {
        ["normal.txt"] = "normal", [LongName] = "long name", ["x"] = "x", ["x.json/y"] = "y under x.json",
    };

    [Fact]
    public void ReplicateOnce_CopiesWhatIsStorable_ReportsTheKeyALinkInTheTargetBlocks_FollowsNothing_VerifyTellsWhatItSkipped()
    {
        using var s = new Setup(linkInTarget: true);
        var (code, output) = LifeboatCli.Run(s.Dir.Path, null, "replicate", "-c", s.Config, "--once");
        Assert.True(code == 1, output);
        Assert.Contains("4 copied", output);
        Assert.Contains("1 failed", output);
        Assert.Contains("FAILED sub/k.txt", output);
        Assert.Contains("symbolic link", output);
        Assert.DoesNotContain("   at ", output);
        Assert.Equal(Copied, s.TargetFiles());
        Assert.Empty(Directory.GetFileSystemEntries(s.OutsideTarget)); // nothing written through the target's link
        Assert.Equal(["same-size.txt", "secret.txt"], Directory.GetFiles(s.Outside).Select(Path.GetFileName).Order());

        // verify: the key the link blocks is missing (never "OK" for it); what the listings skipped is shown apart.
        (code, output) = LifeboatCli.Run(s.Dir.Path, null, "verify", "-c", s.Config);
        Assert.True(code == 1, output);
        Assert.Contains("files: DIFFERENT", output);
        Assert.Contains("missing   sub/k.txt", output);
        Assert.Contains("5 entries skipped", output);
        Assert.Contains("skipped   fifo: a FIFO at the source", output);
        Assert.Contains("skipped   outside-dir: a symbolic link at the source", output);
        Assert.Contains("skipped   sub: a symbolic link at the target", output);

        // With the link gone, the failed key is retried and everything verifies.
        File.Delete(Path.Combine(s.Target, "sub"));
        (code, output) = LifeboatCli.Run(s.Dir.Path, null, "replicate", "-c", s.Config, "--once");
        Assert.True(code == 0, output);
        (code, output) = LifeboatCli.Run(s.Dir.Path, null, "verify", "-c", s.Config, "--json");
        Assert.True(code == 0, output);
        Assert.Contains("\"ok\": true", output);
        Assert.Contains("\"what\": \"FIFO\"", output);
        Assert.Equal(Copied.Append(new("sub/k.txt", "under sub")).ToDictionary(), s.TargetFiles());
    }

    [Fact]
    public async Task Continuous_OverTheSameSource_FinishesItsPass_AndStopsCleanlyOnSigterm()
    {
        using var s = new Setup(linkInTarget: false);
        var output = new StringBuilder();
        using var p = LifeboatCli.Start(s.Dir.Path, null, output, "replicate", "-c", s.Config);
        try
        {
            await Eventually.TrueAsync(() => output.ToString().Contains("pass done", StringComparison.Ordinal), TimeSpan.FromSeconds(90),
                "the first pass to finish; output: " + output);
            Assert.Contains("5 copied", output.ToString());
            Assert.Equal(Copied.Append(new("sub/k.txt", "under sub")).ToDictionary(), s.TargetFiles());
            Mono.Unix.Signal(p.Id, 15);
            Assert.True(p.WaitForExit(30_000), "SIGTERM did not stop the run: " + output);
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, output.ToString());
            Assert.Contains("stopped cleanly", output.ToString());
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }
}
