using System.Security.Cryptography;
using System.Text;
using Lifeboat.Abstractions;
using Lifeboat.Core.Storage;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Conformance;

/// <summary>
/// The folder store is safe by construction (issue 14): long names and colliding names are stored (hashed sidecars)
/// or refused as a permanent error naming the key, never another exception; links, FIFOs and other special files are
/// never followed, opened or waited on, in a source or a target; stale temp files of a killed writer are swept.
/// Each case runs on the descriptor-based implementation (Linux) and, where it applies, on the portable one.
/// </summary>
public sealed class FileStoreSafetyTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly PartLayout Single = new(long.MaxValue, 8 << 20);
    private readonly TempDir _dir = new();
    private string Root => Path.Combine(_dir.Path, "root");
    private string BucketPath => Path.Combine(Root, "b");
    /// <summary>A folder beside the store's root: nothing may be read from or written to it through the store.</summary>
    private string Outside => Path.Combine(_dir.Path, "outside");

    public FileStoreSafetyTests()
    {
        Directory.CreateDirectory(BucketPath);
        Directory.CreateDirectory(Outside);
        File.WriteAllText(Path.Combine(Outside, "secret.txt"), "outside the folder");
    }

    public void Dispose() => _dir.Dispose();

    private FileStore Store(bool native = true, TimeProvider? time = null) => new("share", Root, time, null, native);

    private static ObjectMetadata Meta(string tag) => new("text/plain", "max-age=1", null,
        new Dictionary<string, string> { ["origin"] = tag }, new Dictionary<string, string> { ["t"] = tag });

    private static Task<string> PutAsync(IObjectStore s, string key, byte[] data, string tag = "m") =>
        s.PutAsync("b", key, new MemoryStream(data), data.Length, Meta(tag), Single, None);

    private static async Task<byte[]?> ReadAsync(IObjectStore s, string key)
    {
        await using var r = await s.GetAsync("b", key, None);
        if (r is null) return null;
        using var ms = new MemoryStream();
        await r.Content.CopyToAsync(ms);
        return ms.ToArray();
    }

    private static async Task<List<string>> ListAsync(IObjectStore s, string prefix = "")
    {
        var keys = new List<string>();
        await foreach (var o in s.ListAsync("b", prefix, null, None)) keys.Add(o.Key);
        return keys;
    }

    /// <summary>Put, head (size, MD5, metadata), list, get and delete of one key, exactly.</summary>
    private static async Task AssertRoundTripAsync(IObjectStore s, string key, byte[] data)
    {
        var etag = await PutAsync(s, key, data, key);
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(data)), etag);
        var h = await s.HeadAsync("b", key, None);
        Assert.NotNull(h);
        Assert.Equal(data.Length, h.Info.Size);
        Assert.Equal(etag, h.Info.ETag);
        Assert.Equal(key, h.Metadata.UserMetadata["origin"]);
        Assert.Equal(key, h.Metadata.Tags["t"]);
        Assert.Contains(key, await ListAsync(s));
        Assert.Equal(data, await ReadAsync(s, key));
    }

    // ---------------------------------------------------------------- names (finding 4)

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task KeyWithA214To255ByteSegment_RoundTrips_ItsSidecarHasAHashedName(bool native)
    {
        var s = Store(native);
        foreach (var key in new[] { new string('a', 214), "dir/" + new string('b', 250), new string('c', 255), "é/" + string.Concat(Enumerable.Repeat("日", 85)) })
        {
            var data = Encoding.UTF8.GetBytes("content of " + key);
            await AssertRoundTripAsync(s, key, data);
            await s.DeleteAsync("b", key, None);
            Assert.Null(await s.HeadAsync("b", key, None));
        }
        Assert.Empty(await ListAsync(s));
        Assert.Empty(Directory.GetFiles(Path.Combine(BucketPath, ".lifeboat", "tmp")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task KeyWithASegmentOver255Bytes_IsAPermanentErrorNamingIt_AndNothingIsWritten(bool native)
    {
        var s = Store(native);
        foreach (var key in new[] { new string('a', 256), "d/" + string.Concat(Enumerable.Repeat("é", 128)) + "/x" })
        {
            var e = await Assert.ThrowsAsync<StoreException>(() => PutAsync(s, key, [1, 2, 3]));
            Assert.Equal(StoreErrorKind.Permanent, e.Kind);
            Assert.Contains(key, e.Message);
            Assert.Contains("255 bytes", e.Message);
            Assert.Equal(StoreErrorKind.Permanent, (await Assert.ThrowsAsync<StoreException>(() => s.HeadAsync("b", key, None))).Kind);
        }
        Assert.Empty(Directory.GetFiles(BucketPath, "*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task KeysXAndXJsonSlashY_BothRoundTrip_InEitherOrder(bool native)
    {
        var s = Store(native);
        await AssertRoundTripAsync(s, "x", [1]);
        await AssertRoundTripAsync(s, "x.json/y", [2, 2]);
        await AssertRoundTripAsync(s, "p.json/q", [3]);
        await AssertRoundTripAsync(s, "p", [4, 4, 4]);
        Assert.Equal(["p", "p.json/q", "x", "x.json/y"], await ListAsync(s));
        Assert.Equal([1], await ReadAsync(s, "x"));
        Assert.Equal("x", (await s.HeadAsync("b", "x", None))!.Metadata.Tags["t"]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AFileAndAFolderOfOneName_ThePermanentErrorNamesTheKey_TheOtherKeysStillWork(bool native)
    {
        var s = Store(native);
        await PutAsync(s, "a", [1]);
        var e1 = await Assert.ThrowsAsync<StoreException>(() => PutAsync(s, "a/b", [2]));
        await PutAsync(s, "c/d", [3]);
        var e2 = await Assert.ThrowsAsync<StoreException>(() => PutAsync(s, "c", [4]));
        foreach (var (e, key) in new[] { (e1, "a/b"), (e2, "c") })
        {
            Assert.Equal(StoreErrorKind.Permanent, e.Kind);
            Assert.Contains($"'{key}'", e.Message);
        }
        Assert.Equal(["a", "c/d"], await ListAsync(s));
        Assert.Null(await s.HeadAsync("b", "c", None)); // a folder is no object
        await s.DeleteAsync("b", "c", None); // nor deleted as one
        Assert.Equal([3], await ReadAsync(s, "c/d"));
        Assert.Empty(Directory.GetFiles(Path.Combine(BucketPath, ".lifeboat", "tmp")));
    }

    [Fact]
    public async Task SidecarOfTheEarlierLayout_IsStillRead_AndReplacedByTheHashedOneOnTheNextWrite()
    {
        // What main wrote before the hashed layout: .lifeboat/meta/KEY.json beside the data's path.
        var s = Store();
        var data = Encoding.UTF8.GetBytes("old replica");
        var file = Path.Combine(BucketPath, "dir", "old.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllBytes(file, data);
        var fi = new FileInfo(file);
        var md5 = Convert.ToHexStringLower(MD5.HashData(data));
        var old = Path.Combine(BucketPath, ".lifeboat", "meta", "dir", "old.txt.json");
        Directory.CreateDirectory(Path.GetDirectoryName(old)!);
        File.WriteAllText(old, $$$"""{"Size":{{{fi.Length}}},"MtimeTicks":{{{fi.LastWriteTimeUtc.Ticks}}},"ETag":"{{{md5}}}","ContentType":"text/csv","CacheControl":null,"ContentEncoding":null,"Metadata":{"a":"1"},"Tags":{"t":"old"}}""");

        var h = await s.HeadAsync("b", "dir/old.txt", None);
        Assert.Equal(md5, h!.Info.ETag);
        Assert.Equal("text/csv", h.Metadata.ContentType);
        Assert.Equal("old", h.Metadata.Tags["t"]);

        await PutAsync(s, "dir/old.txt", [9, 9], "new");
        Assert.False(File.Exists(old));
        Assert.Equal("new", (await s.HeadAsync("b", "dir/old.txt", None))!.Metadata.Tags["t"]);
    }

    // ---------------------------------------------------------------- links and special files (finding 5)

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SourceLinks_AreNeverFollowed_NotListed_NotRead_AndReportedAsSkipped(bool native)
    {
        var s = Store(native);
        File.WriteAllText(Path.Combine(BucketPath, "real.txt"), "real");
        Directory.CreateDirectory(Path.Combine(BucketPath, "sub"));
        File.WriteAllText(Path.Combine(BucketPath, "sub", "in.txt"), "in");
        Directory.CreateSymbolicLink(Path.Combine(BucketPath, "outside-dir"), Outside);
        Directory.CreateSymbolicLink(Path.Combine(BucketPath, "sub", "loop"), BucketPath);
        // A file link whose target path is as long as the target file (main copied those).
        var secret = Path.Combine(Outside, "same-size.txt");
        File.WriteAllText(secret, new string('s', secret.Length));
        File.CreateSymbolicLink(Path.Combine(BucketPath, "file-link"), secret);
        File.CreateSymbolicLink(Path.Combine(BucketPath, "dangling"), Path.Combine(Outside, "none"));

        Assert.Equal(["real.txt", "sub/in.txt"], await ListAsync(s));
        Assert.Equal(["dangling", "file-link", "outside-dir", "sub/loop"], s.LastSkipped("b", "").Select(e => e.Path));
        Assert.All(s.LastSkipped("b", ""), e => Assert.Equal("symbolic link", e.What));
        foreach (var key in new[] { "file-link", "outside-dir/secret.txt", "sub/loop/real.txt", "dangling" })
        {
            Assert.Null(await s.HeadAsync("b", key, None));
            Assert.Null(await ReadAsync(s, key));
        }
        Assert.Empty(await ListAsync(s, "outside-dir/"));
        Assert.Empty(await ListAsync(s, "sub/loop/"));
    }

    [Fact]
    public async Task SourceFifoSocketAndDevice_AreSkipped_NeverOpened_NothingBlocks()
    {
        var s = Store();
        File.WriteAllText(Path.Combine(BucketPath, "real.txt"), "real");
        var fifo = Path.Combine(BucketPath, "fifo");
        Assert.Equal(0, Proc.Run("mkfifo", [fifo], TimeSpan.FromSeconds(10)).Code);
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(BucketPath, "sock")));
        var work = Task.Run(async () =>
        {
            Assert.Equal(["real.txt"], await ListAsync(s));
            Assert.Equal([("fifo", "FIFO"), ("sock", "socket")], s.LastSkipped("b", "").Select(e => (e.Path, e.What)));
            Assert.Null(await s.HeadAsync("b", "fifo", None));
            Assert.Null(await ReadAsync(s, "fifo"));
            Assert.Null(await ReadAsync(s, "sock"));
        });
        try
        {
            await work.WaitAsync(TimeSpan.FromSeconds(20)); // main blocked forever opening the FIFO
        }
        catch (TimeoutException)
        {
            // Releases the reader blocked on the FIFO (the code before the fix), so the test process is not left with it.
            File.OpenHandle(fifo, FileMode.Open, FileAccess.Write).Dispose();
            throw;
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LinkInsideTheTarget_NeverRedirectsAWrite_ThePutIsAPermanentErrorNamingTheKey(bool native)
    {
        var s = Store(native);
        Directory.CreateSymbolicLink(Path.Combine(BucketPath, "sub"), Outside);
        var e = await Assert.ThrowsAsync<StoreException>(() => PutAsync(s, "sub/k.txt", [1, 2, 3]));
        Assert.Equal(StoreErrorKind.Permanent, e.Kind);
        Assert.Contains("'sub/k.txt'", e.Message);
        Assert.Contains("symbolic link", e.Message);
        Assert.Equal(["secret.txt"], Directory.GetFiles(Outside).Select(Path.GetFileName));
        // Not seen, not deleted through the link either.
        Assert.Null(await s.HeadAsync("b", "sub/secret.txt", None));
        await s.DeleteAsync("b", "sub/secret.txt", None);
        Assert.True(File.Exists(Path.Combine(Outside, "secret.txt")));
        Assert.Empty(await ListAsync(s));
        Assert.Equal(["sub"], s.LastSkipped("b", "").Select(x => x.Path));

        // A link at the key itself is replaced by the file, never written through.
        File.CreateSymbolicLink(Path.Combine(BucketPath, "k"), Path.Combine(Outside, "secret.txt"));
        await PutAsync(s, "k", [7]);
        Assert.Equal("outside the folder", File.ReadAllText(Path.Combine(Outside, "secret.txt")));
        Assert.Equal([7], await ReadAsync(s, "k"));

        // Nor does a link as the reserved folder: every write would go through it.
        var other = Path.Combine(Root, "c");
        Directory.CreateDirectory(other);
        Directory.CreateSymbolicLink(Path.Combine(other, ".lifeboat"), Outside);
        Assert.Equal(StoreErrorKind.Permanent, (await Assert.ThrowsAsync<StoreException>(() => s.CheckBucketAsync("c", None))).Kind);
        var e2 = await Assert.ThrowsAsync<StoreException>(() => s.PutAsync("c", "k", new MemoryStream([1]), 1, ObjectMetadata.Empty, Single, None));
        Assert.Equal(StoreErrorKind.Permanent, e2.Kind);
        Assert.Equal(["secret.txt"], Directory.GetFileSystemEntries(Outside).Select(Path.GetFileName));
    }

    [Fact]
    public async Task BucketFolderThatIsALink_IsRefusedWithOneLine_TheRootMayBeALink()
    {
        var real = Path.Combine(_dir.Path, "real-root");
        Directory.CreateDirectory(Path.Combine(real, "b"));
        var linkedRoot = Path.Combine(_dir.Path, "linked-root");
        Directory.CreateSymbolicLink(linkedRoot, real);
        var s = new FileStore("share", linkedRoot);
        await s.CheckBucketAsync("b", None);
        await PutAsync(s, "k", [1]);
        Assert.True(File.Exists(Path.Combine(real, "b", "k")));

        Directory.CreateSymbolicLink(Path.Combine(real, "linked-bucket"), Outside);
        var e = await Assert.ThrowsAsync<StoreException>(() => s.CheckBucketAsync("linked-bucket", None));
        Assert.Equal(StoreErrorKind.Permanent, e.Kind);
        Assert.Contains("'linked-bucket' is a symbolic link", e.Message);
    }

    // ---------------------------------------------------------------- stale temp files (finding 9)

    [Fact]
    public async Task SidecarTempFilesOfAKilledWriter_AreRemovedAtStart_OnlyOnceOlderThanAnHour()
    {
        var start = TimeProvider.System.GetUtcNow();
        var clock = new FakeTimeProvider(start);
        var s = Store(time: clock);
        // What kill -9 left with the earlier layout (sidecar temps beside the sidecars) and with this one (.lifeboat/tmp).
        var meta = Path.Combine(BucketPath, ".lifeboat", "meta", "dir");
        Directory.CreateDirectory(meta);
        var oldTemp = Path.Combine(meta, "k.json.tmp-" + Guid.NewGuid().ToString("N"));
        var youngTemp = Path.Combine(meta, "j.json.tmp-" + Guid.NewGuid().ToString("N"));
        var sidecar = Path.Combine(meta, "k.json");
        foreach (var f in new[] { oldTemp, youngTemp, sidecar }) File.WriteAllText(f, "{}");
        File.SetLastWriteTimeUtc(oldTemp, start.UtcDateTime.AddHours(-2));
        Directory.CreateDirectory(Path.Combine(BucketPath, ".lifeboat", "tmp"));
        var dataTemp = Path.Combine(BucketPath, ".lifeboat", "tmp", Guid.NewGuid().ToString("N"));
        File.WriteAllText(dataTemp, "partial");
        File.SetLastWriteTimeUtc(dataTemp, start.UtcDateTime.AddHours(-2));

        await s.CheckBucketAsync("b", None);
        Assert.False(File.Exists(oldTemp));
        Assert.False(File.Exists(dataTemp));
        Assert.True(File.Exists(youngTemp)); // may belong to a live writer
        Assert.True(File.Exists(sidecar));

        clock.Advance(TimeSpan.FromHours(2));
        await s.CheckBucketAsync("b", None);
        Assert.False(File.Exists(youngTemp));
        Assert.True(File.Exists(sidecar));
    }
}
