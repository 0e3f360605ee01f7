using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;

namespace Lifeboat.Providers.Postgres;

/// <summary>
/// CRC-32C (Castagnoli), the checksum PostgreSQL's backup_manifest uses by default. System.IO.Hashing (which has it)
/// is not in the package mirror, so this is the smallest correct version: <see cref="BitOperations.Crc32C(uint, ulong)"/>
/// uses the SSE4.2/ARMv8 CRC instruction (several GB/s per core) and falls back to a table in software elsewhere.
/// Used per file of a base backup: SHA-256 over every byte a second time cost ~0.7 s of CPU per GB there.
/// </summary>
public struct Crc32C
{
    private uint _state = 0xFFFF_FFFFu;

    public Crc32C() { }

    public void Append(ReadOnlySpan<byte> data)
    {
        var crc = _state;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        _state = crc;
    }

    /// <summary>The checksum so far (the running state is kept, so more data can be appended).</summary>
    public readonly uint Value => ~_state;

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var c = new Crc32C();
        c.Append(data);
        return c.Value;
    }

    /// <summary>8 lowercase hex digits, most significant first (how Lifeboat's manifest records it).</summary>
    public static string Hex(uint value) => value.ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>Reads the <c>Checksum</c> of a CRC32C entry in PostgreSQL's backup_manifest: the checksum's bytes in
    /// the server's memory order, hex-encoded (little-endian on the platforms PostgreSQL is built for here).</summary>
    public static uint? FromPostgresManifest(string hex)
    {
        if (hex.Length != 8) return null;
        Span<byte> b = stackalloc byte[4];
        for (var i = 0; i < 4; i++)
            if (!byte.TryParse(hex.AsSpan(i * 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out b[i])) return null;
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }
}
