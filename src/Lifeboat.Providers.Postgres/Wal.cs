using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Lifeboat.Providers.Postgres;

/// <summary>WAL positions and segment names (16 MiB segments, the PostgreSQL default; other sizes are refused).</summary>
public static class Wal
{
    public const long SegmentSize = 16L << 20;
    private const long SegmentsPerXLogId = 0x1_0000_0000L / SegmentSize;

    public static string FormatLsn(ulong lsn) => $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}";

    public static ulong ParseLsn(string s)
    {
        var i = s.IndexOf('/');
        if (i <= 0 || !uint.TryParse(s[..i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hi)
            || !uint.TryParse(s[(i + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var lo))
            throw new FormatException($"'{s}' is not a WAL position (like 0/3000028)");
        return ((ulong)hi << 32) | lo;
    }

    public static ulong SegmentNo(ulong lsn) => lsn / (ulong)SegmentSize;
    public static ulong SegmentStart(ulong segNo) => segNo * (ulong)SegmentSize;

    /// <summary>The file name of a segment, e.g. 000000010000000000000003.</summary>
    public static string SegmentName(uint timeline, ulong segNo) =>
        $"{timeline:X8}{segNo / (ulong)SegmentsPerXLogId:X8}{segNo % (ulong)SegmentsPerXLogId:X8}";

    public static bool IsSegmentName(string name) => name.Length == 24 && name.All(char.IsAsciiHexDigitUpper);

    public static (uint Timeline, ulong SegNo) ParseSegmentName(string name)
    {
        if (!IsSegmentName(name)) throw new FormatException($"'{name}' is not a WAL segment name");
        var tli = uint.Parse(name[..8], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var log = ulong.Parse(name[8..16], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var seg = ulong.Parse(name[16..24], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (tli, log * (ulong)SegmentsPerXLogId + seg);
    }
}

/// <summary>
/// How Lifeboat stores a blob (WAL segment, partial segment, base backup chunk): a 48-byte header, then the content
/// compressed with zlib at level <see cref="ZlibLevel"/> (zstd and lz4 are not in the BCL). Any zlib stream is read,
/// whatever level wrote it: objects written at <see cref="CompressionLevel.Fastest"/> before are read as they are. Two kinds:
/// <list type="bullet">
/// <item>"LBPG0001" (WAL, and base backup chunks of manifest format 1): the header holds the SHA-256 of the
/// uncompressed content and its length. The object is self-checking; the hash is also put into the object's user
/// metadata (sha256) so WAL idempotency checks need only a HEAD.</item>
/// <item>"LBPG0002" (base backup chunks of manifest format 2): the header holds the length only; the identity is the
/// SHA-256 of the whole stored object, recorded in the backup manifest. Hashing the ~10x smaller compressed bytes
/// instead of the content saves a SHA-256 pass over the whole database; the content is still covered by zlib's
/// Adler-32 and by the per-file CRC-32C the manifest records.</item>
/// </list>
/// A reader verifies length and hash and never returns bytes that do not match.
/// </summary>
public static class Blob
{
    private static ReadOnlySpan<byte> Magic => "LBPG0001"u8;
    private static ReadOnlySpan<byte> ChunkMagic => "LBPG0002"u8;
    public const int HeaderSize = 48;

    /// <summary>The zlib level blobs are written at. .NET (9 and later) compresses with zlib-ng, whose level 1
    /// (<see cref="CompressionLevel.Fastest"/>) is a "quick" strategy with static Huffman codes only. On a 1 GB pgbench
    /// base backup it stored 92 MB where classic zlib level 1 (pgBackRest's gz level 1) stores 64-65 MB; on 592 MB of
    /// WAL, 84 MB against 67 MB. zlib-ng's level 2 stores 63 MB and 64 MB, for ~0.5 s more CPU per GB than level 1 and
    /// well under the CPU classic zlib level 1 takes (docs/benchmarks.md, PostgreSQL).</summary>
    public const int ZlibLevel = 2;

    public static byte[] Pack(ReadOnlySpan<byte> content, out string sha256Hex)
    {
        var sha = SHA256.HashData(content);
        sha256Hex = Convert.ToHexStringLower(sha);
        return Compress(content, Magic, sha);
    }

    /// <summary>Packs a base backup chunk ("LBPG0002"); <paramref name="objectSha256Hex"/> is the SHA-256 of the
    /// returned bytes.</summary>
    public static byte[] PackChunk(ReadOnlySpan<byte> content, out string objectSha256Hex)
    {
        var packed = Compress(content, ChunkMagic, default);
        objectSha256Hex = Convert.ToHexStringLower(SHA256.HashData(packed));
        return packed;
    }

    private static byte[] Compress(ReadOnlySpan<byte> content, ReadOnlySpan<byte> magic, ReadOnlySpan<byte> sha)
    {
        using var ms = new MemoryStream(content.Length / 3 + 4096);
        Span<byte> header = stackalloc byte[HeaderSize];
        header.Clear();
        magic.CopyTo(header);
        sha.CopyTo(header[8..]);
        BinaryPrimitives.WriteInt64LittleEndian(header[40..], content.Length);
        ms.Write(header);
        using (var z = new ZLibStream(ms, new ZLibCompressionOptions { CompressionLevel = ZlibLevel }, leaveOpen: true)) z.Write(content);
        return ms.ToArray();
    }

    /// <summary>Reads the header of a packed blob: (sha256 hex, uncompressed length); the hash is null for a chunk
    /// ("LBPG0002"), whose hash is that of the stored object.</summary>
    public static (string? Sha256, long Length) ReadHeader(ReadOnlySpan<byte> header, string what)
    {
        if (header.Length >= HeaderSize && header[..8].SequenceEqual(ChunkMagic))
            return (null, BinaryPrimitives.ReadInt64LittleEndian(header[40..]));
        if (header.Length < HeaderSize || !header[..8].SequenceEqual(Magic))
            throw new InvalidDataException($"{what}: not a Lifeboat PostgreSQL archive object (bad header)");
        return (Convert.ToHexStringLower(header.Slice(8, 32)), BinaryPrimitives.ReadInt64LittleEndian(header[40..]));
    }

    /// <summary>Decompresses a packed blob into <paramref name="dest"/> (exactly its length) and checks it. Returns the
    /// blob's identity hash, which the caller compares with its record: for "LBPG0001" the SHA-256 of the content
    /// (checked here against the header too), for "LBPG0002" the SHA-256 of the stored bytes.</summary>
    public static async Task<(string Sha256, long Length)> UnpackAsync(Stream packed, Stream dest, string what, CancellationToken ct)
    {
        var header = new byte[HeaderSize];
        await packed.ReadExactlyAsync(header, ct).ConfigureAwait(false);
        var (sha, len) = ReadHeader(header, what);
        using var content = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var stored = sha is null ? SHA256.Create() : null;
        stored?.TransformBlock(header, 0, header.Length, null, 0);
        await using var source = stored is null ? packed : new CryptoStream(packed, stored, CryptoStreamMode.Read, leaveOpen: true);
        long total = 0;
        var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            await using (var z = new ZLibStream(source, CompressionMode.Decompress, leaveOpen: true))
            {
                int n;
                while ((n = await z.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
                {
                    if (sha is not null) content.AppendData(buf, 0, n);
                    total += n;
                    if (total > len) throw new InvalidDataException($"{what}: corrupted: more than the recorded {len} bytes");
                    await dest.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                }
            }
            // Whatever follows the zlib stream is part of the stored object, hence of its hash.
            if (stored is not null) while (await source.ReadAsync(buf, ct).ConfigureAwait(false) > 0) { }
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(what, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{what}: corrupted: {e.Message}", e);
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
        if (total != len) throw new InvalidDataException($"{what}: corrupted: {total} bytes instead of the recorded {len}");
        if (stored is not null) return (Convert.ToHexStringLower(stored.Hash!), len);
        var got = Convert.ToHexStringLower(content.GetHashAndReset());
        if (got != sha) throw new InvalidDataException($"{what}: corrupted: SHA-256 {got} does not match the recorded {sha}");
        return (sha!, len);
    }

    /// <summary>Unpacks a blob held in memory into a new array.</summary>
    public static byte[] Unpack(byte[] packed, string what)
    {
        var (_, len) = ReadHeader(packed, what);
        if (len > int.MaxValue) throw new InvalidDataException($"{what}: too large");
        var dest = new MemoryStream((int)len);
        UnpackAsync(new MemoryStream(packed), dest, what, CancellationToken.None).GetAwaiter().GetResult();
        return dest.GetBuffer().Length == len ? dest.GetBuffer() : dest.ToArray();
    }
}
