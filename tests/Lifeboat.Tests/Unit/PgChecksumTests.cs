using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Lifeboat.Providers.Postgres;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>The base backup's checksums: CRC-32C (RFC 3720 check value, PostgreSQL's manifest encoding), the chunk
/// format "LBPG0002" (hash of the stored object), and the cross-check against the server's backup_manifest.</summary>
public sealed class PgChecksumTests
{
    [Fact]
    public void Crc32C_MatchesTheStandardCheckValue_InPiecesToo()
    {
        var data = "123456789"u8;
        Assert.Equal(0xE3069283u, Crc32C.Compute(data));
        var c = new Crc32C();
        c.Append(data[..2]);
        c.Append(data[2..]);
        Assert.Equal(0xE3069283u, c.Value);
        Assert.Equal(0u, Crc32C.Compute([]));
        // PostgreSQL's backup_manifest writes the checksum's bytes in memory order (little-endian here).
        Assert.Equal(0xE3069283u, Crc32C.FromPostgresManifest("839206e3"));
        Assert.Null(Crc32C.FromPostgresManifest("xyz"));
    }

    [Fact]
    public async Task ChunkBlob_RoundTrips_AndAnyFlippedByteChangesItsIdentity()
    {
        var content = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 20000).Select(i => $"row {i};")));
        var packed = Blob.PackChunk(content, out var sha);
        var back = new MemoryStream();
        var (got, len) = await Blob.UnpackAsync(new MemoryStream(packed), back, "chunk", default);
        Assert.Equal(sha, got);
        Assert.Equal(content.Length, len);
        Assert.Equal(content, back.ToArray());

        foreach (var at in new[] { 9, Blob.HeaderSize + 3, packed.Length / 2, packed.Length - 1 })
        {
            var bad = (byte[])packed.Clone();
            bad[at] ^= 0x01;
            try
            {
                var (h, _) = await Blob.UnpackAsync(new MemoryStream(bad), Stream.Null, "chunk", default);
                Assert.NotEqual(sha, h); // read back, but not with the identity the manifest records
            }
            catch (InvalidDataException e)
            {
                Assert.StartsWith("chunk: corrupted", e.Message);
            }
        }
    }

    private static JsonElement PgManifest(params (string Path, long Size, string? Crc)[] files) => JsonDocument.Parse(JsonSerializer.Serialize(new
    {
        Files = files.Select(f => f.Crc is null
            ? (object)new Dictionary<string, object> { ["Path"] = f.Path, ["Size"] = f.Size }
            : new Dictionary<string, object> { ["Path"] = f.Path, ["Size"] = f.Size, ["Checksum-Algorithm"] = "CRC32C", ["Checksum"] = f.Crc }),
    })).RootElement;

    [Fact]
    public void CrossCheck_WithTheServersManifest_RefusesMissingShortOrAlteredFiles()
    {
        var crc = Crc32C.Compute("123456789"u8);
        List<BackupFile> mine = [new("base/1/1259", 9, null, Crc32C.Hex(crc)), new("PG_VERSION", 3, null, Crc32C.Hex(Crc32C.Compute("15\n"u8)))];
        BaseBackup.CrossCheck(PgManifest(("base/1/1259", 9, "839206e3"), ("PG_VERSION", 3, null)), mine);

        var e = Assert.Throws<IOException>(() => BaseBackup.CrossCheck(PgManifest(("base/1/1259", 9, "839206e4")), mine));
        Assert.Contains("base/1/1259: CRC-32C e3069283 of the bytes received differs from the server's e4069283", e.Message);
        e = Assert.Throws<IOException>(() => BaseBackup.CrossCheck(PgManifest(("base/1/1259", 10, null)), mine));
        Assert.Contains("9 bytes received, the server's backup_manifest says 10", e.Message);
        e = Assert.Throws<IOException>(() => BaseBackup.CrossCheck(PgManifest(("global/pg_control", 8192, null)), mine));
        Assert.Contains("lacks global/pg_control", e.Message);
    }
    /// <summary>Table pages shaped like pgbench_accounts (8 KiB heap pages: header, line pointers, 61 tuples of a
    /// 24-byte tuple header, three int4 and a blank-padded char(84)), deterministic.</summary>
    private static byte[] AccountsPages(int pages)
    {
        var data = new byte[pages * 8192];
        var aid = 1;
        for (var p = 0; p < pages; p++)
        {
            var page = data.AsSpan(p * 8192, 8192);
            const int tuples = 61, tupleSize = 128;
            BinaryPrimitives.WriteUInt16LittleEndian(page[12..], (ushort)(24 + tuples * 4)); // pd_lower
            BinaryPrimitives.WriteUInt16LittleEndian(page[14..], (ushort)(8192 - tuples * tupleSize)); // pd_upper
            BinaryPrimitives.WriteUInt16LittleEndian(page[16..], 8192); // pd_special
            for (var t = 0; t < tuples; t++, aid++)
            {
                var off = 8192 - (t + 1) * tupleSize;
                BinaryPrimitives.WriteUInt32LittleEndian(page[(24 + t * 4)..], (uint)off | (1u << 15) | (121u << 17)); // line pointer
                var tup = page.Slice(off, tupleSize);
                BinaryPrimitives.WriteUInt32LittleEndian(tup, 731u + (uint)(aid / 5000)); // xmin
                BinaryPrimitives.WriteUInt32LittleEndian(tup[10..], (uint)p);             // ctid block
                BinaryPrimitives.WriteUInt16LittleEndian(tup[14..], (ushort)(t + 1));     // ctid offset
                BinaryPrimitives.WriteUInt16LittleEndian(tup[16..], 4);                   // infomask2: 4 attributes
                BinaryPrimitives.WriteUInt16LittleEndian(tup[18..], 0x0902);              // infomask
                tup[22] = 24;                                                             // hoff
                BinaryPrimitives.WriteInt32LittleEndian(tup[24..], aid);
                BinaryPrimitives.WriteInt32LittleEndian(tup[28..], 1 + aid / 100000);
                BinaryPrimitives.WriteInt32LittleEndian(tup[32..], (aid * 7919) % 10007 - 5000);
                tup[36] = (85 << 1) | 1;                                                  // 1-byte varlena header
                tup.Slice(37, 84).Fill((byte)' ');
            }
        }
        return data;
    }

    [DllImport("libz.so.1", EntryPoint = "compress2")]
    private static extern int ClassicCompress2(byte[] dest, ref nuint destLen, byte[] source, nuint sourceLen, int level);

    [Fact]
    public async Task Blob_StoresTablePages_NoLargerThanClassicZlibLevel1_AndReadsObjectsOfTheEarlierLevel()
    {
        // pgBackRest's "gz 1" is the system's classic zlib at level 1; .NET's zlib-ng level 1 ("quick") stored ~45%
        // more of a pgbench database. Lifeboat's blobs must not be larger than what classic zlib level 1 stores.
        var content = AccountsPages(2048); // 16 MiB, one chunk
        var packed = Blob.PackChunk(content, out var sha);
        var dest = new byte[content.Length + 65536];
        var destLen = (nuint)dest.Length;
        Assert.Equal(0, ClassicCompress2(dest, ref destLen, content, (nuint)content.Length, 1));
        Assert.True(packed.Length - Blob.HeaderSize <= (long)destLen,
            $"packed chunk {packed.Length - Blob.HeaderSize} bytes, classic zlib level 1 {destLen} bytes");
        var wal = Blob.Pack(content, out _);
        Assert.True(wal.Length - Blob.HeaderSize <= (long)destLen, $"packed WAL object {wal.Length - Blob.HeaderSize} bytes, classic zlib level 1 {destLen} bytes");

        // Objects written before (zlib at CompressionLevel.Fastest) still read: the level is not part of the format.
        var old = new MemoryStream();
        old.Write(packed.AsSpan(0, Blob.HeaderSize));
        using (var z = new ZLibStream(old, CompressionLevel.Fastest, leaveOpen: true)) z.Write(content);
        var back = new MemoryStream();
        var (_, len) = await Blob.UnpackAsync(new MemoryStream(old.ToArray()), back, "chunk", default);
        Assert.Equal(content.Length, len);
        Assert.Equal(content, back.ToArray());
        var oldWal = new MemoryStream();
        oldWal.Write(wal.AsSpan(0, Blob.HeaderSize));
        using (var z = new ZLibStream(oldWal, CompressionLevel.Fastest, leaveOpen: true)) z.Write(content);
        Assert.Equal(content, Blob.Unpack(oldWal.ToArray(), "wal"));
        Assert.Equal(sha, (await Blob.UnpackAsync(new MemoryStream(packed), Stream.Null, "chunk", default)).Sha256);
    }
}
