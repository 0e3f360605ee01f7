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
}
