using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Lifeboat.Providers.Postgres;

/// <summary>One member of a tar stream: name, type ('0' file, '5' directory, '2' symlink, ...), size, mode, link.</summary>
public sealed record TarEntry(string Name, char Type, long Size, int Mode, string LinkName);

/// <summary>
/// A streaming reader of the ustar archives pg_basebackup writes (no library for tar streaming with callbacks here:
/// System.Formats.Tar reads whole entries through a Stream it owns, which does not fit bytes arriving in chunks). Feed it
/// bytes in any slicing; it calls <see cref="OnEntry"/> at each header, <see cref="OnData"/> with the member's bytes
/// and <see cref="OnEntryEnd"/> after the last byte. Handles octal and base-256 sizes, the ustar prefix field, GNU long
/// names ('L') and pax headers ('x', path and size keys), and stops at the two zero blocks that end the archive.
/// </summary>
public sealed class TarReader
{
    private readonly byte[] _header = new byte[512];
    private int _headerFill;
    private long _remaining;   // data bytes of the current entry still to come
    private long _padding;     // zero bytes after the data up to the next 512 boundary
    private TarEntry? _current;
    private string? _longName;
    private Dictionary<string, string>? _pax;
    private MemoryStream? _meta; // data of an 'L' or 'x' member, which describes the next member
    private char _metaType;
    private int _zeroBlocks;

    public Action<TarEntry>? OnEntry { get; init; }
    public Action<TarEntry, ReadOnlySpan<byte>>? OnData { get; init; }
    public Action<TarEntry>? OnEntryEnd { get; init; }
    public bool Ended => _zeroBlocks >= 2;
    public long Entries { get; private set; }
    /// <summary>During <see cref="OnData"/>: where its bytes start in the buffer given to <see cref="Feed"/> (so a caller
    /// can refer to them there instead of copying them).</summary>
    public int FeedOffset { get; private set; }

    public void Feed(ReadOnlySpan<byte> data)
    {
        var length = data.Length;
        while (data.Length > 0)
        {
            if (Ended) return; // trailing zeros after the end blocks
            if (_remaining > 0)
            {
                var n = (int)Math.Min(_remaining, data.Length);
                if (_meta is not null) _meta.Write(data[..n]);
                else
                {
                    FeedOffset = length - data.Length;
                    OnData?.Invoke(_current!, data[..n]);
                }
                _remaining -= n;
                data = data[n..];
                if (_remaining == 0) EndEntry();
                continue;
            }
            if (_padding > 0)
            {
                var n = (int)Math.Min(_padding, data.Length);
                _padding -= n;
                data = data[n..];
                continue;
            }
            var take = Math.Min(512 - _headerFill, data.Length);
            data[..take].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += take;
            data = data[take..];
            if (_headerFill == 512)
            {
                _headerFill = 0;
                ParseHeader();
            }
        }
    }

    private void EndEntry()
    {
        if (_meta is not null)
        {
            var bytes = _meta.ToArray();
            if (_metaType == 'L') _longName = Encoding.UTF8.GetString(bytes).TrimEnd('\0');
            else _pax = ParsePax(bytes);
            _meta = null;
        }
        else
        {
            OnEntryEnd?.Invoke(_current!);
            _current = null;
        }
    }

    private static Dictionary<string, string> ParsePax(byte[] b)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        var s = Encoding.UTF8.GetString(b);
        var i = 0;
        while (i < s.Length)
        {
            var sp = s.IndexOf(' ', i);
            if (sp < 0 || !int.TryParse(s.AsSpan(i, sp - i), out var len) || len <= 0) break;
            var rec = s.Substring(sp + 1, len - (sp - i) - 2);
            var eq = rec.IndexOf('=');
            if (eq > 0) d[rec[..eq]] = rec[(eq + 1)..];
            i += len;
        }
        return d;
    }

    private void ParseHeader()
    {
        var h = _header.AsSpan();
        if (h.IndexOfAnyExcept((byte)0) < 0) { _zeroBlocks++; return; }
        if (_zeroBlocks > 0) throw new InvalidDataException("tar stream: data after an end-of-archive block");
        long sum = 0;
        for (var i = 0; i < 512; i++) sum += i is >= 148 and < 156 ? 32 : h[i];
        if (Number(h.Slice(148, 8)) != sum) throw new InvalidDataException("tar stream: header checksum mismatch (corrupted or not a tar stream)");
        var name = Str(h[..100]);
        var prefix = h.Slice(257, 6).SequenceEqual("ustar\0"u8) || h.Slice(257, 6).SequenceEqual("ustar "u8) ? Str(h.Slice(345, 155)) : "";
        if (prefix.Length > 0 && h[257 + 5] == 0) name = prefix + "/" + name;
        var type = h[156] == 0 ? '0' : (char)h[156];
        var size = Number(h.Slice(124, 12));
        var mode = (int)Number(h.Slice(100, 8));
        var link = Str(h.Slice(157, 100));
        _remaining = size;
        _padding = (512 - size % 512) % 512;
        if (type is 'L' or 'x' or 'g')
        {
            _meta = new MemoryStream();
            _metaType = type;
            if (size == 0) EndEntry();
            return;
        }
        if (_longName is not null) { name = _longName; _longName = null; }
        if (_pax is not null)
        {
            if (_pax.TryGetValue("path", out var p)) name = p;
            if (_pax.TryGetValue("size", out var ps) && long.TryParse(ps, out var pz)) { size = pz; _remaining = size; _padding = (512 - size % 512) % 512; }
            if (_pax.TryGetValue("linkpath", out var lp)) link = lp;
            _pax = null;
        }
        if (type is not ('0' or '7')) { _remaining = 0; _padding = (512 - size % 512) % 512; if (type != '5' && type != '2' && type != '1') size = 0; }
        _current = new TarEntry(name, type, type is '0' or '7' ? size : 0, mode, link);
        Entries++;
        OnEntry?.Invoke(_current);
        if (_remaining == 0) EndEntry();
    }

    private static string Str(ReadOnlySpan<byte> b)
    {
        var z = b.IndexOf((byte)0);
        return Encoding.UTF8.GetString(z >= 0 ? b[..z] : b);
    }

    /// <summary>Octal, or base-256 when the high bit of the first byte is set (sizes of 8 GiB and more).</summary>
    private static long Number(ReadOnlySpan<byte> b)
    {
        if ((b[0] & 0x80) != 0)
        {
            long v = b[0] & 0x7F;
            for (var i = 1; i < b.Length; i++) v = (v << 8) | b[i];
            return v;
        }
        long n = 0;
        foreach (var c in b)
        {
            if (c == 0 || c == ' ') { if (n > 0) break; continue; }
            if (c is < (byte)'0' or > (byte)'7') throw new InvalidDataException("tar stream: bad number in header");
            n = n * 8 + (c - '0');
        }
        return n;
    }
}

/// <summary>Checksums every regular file of a tar stream (CRC-32C; SHA-256 too when asked, to verify backups of manifest
/// format 1) and keeps small named files (backup_label, backup_manifest) in memory.</summary>
public sealed class TarCatalog
{
    private readonly IncrementalHash? _sha;
    private Crc32C _crc = new();
    private MemoryStream? _keep;
    public List<BackupFile> Files { get; } = [];
    public Dictionary<string, byte[]> Kept { get; } = new(StringComparer.Ordinal);
    public TarReader Reader { get; }

    public TarCatalog(bool sha256, params string[] keep)
    {
        _sha = sha256 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        Reader = new TarReader
        {
            OnEntry = e => { if (keep.Contains(e.Name)) _keep = new MemoryStream(); },
            OnData = (e, d) => { _crc.Append(d); _sha?.AppendData(d); _keep?.Write(d); },
            OnEntryEnd = e =>
            {
                var crc = Crc32C.Hex(_crc.Value);
                _crc = new Crc32C();
                var sha = _sha is null ? null : Convert.ToHexStringLower(_sha.GetHashAndReset());
                if (e.Type is '0' or '7') Files.Add(new BackupFile(e.Name, e.Size, sha, crc));
                if (_keep is not null) { Kept[e.Name] = _keep.ToArray(); _keep = null; }
            },
        };
    }
}

/// <summary>A file of a base backup. Manifest format 1 recorded SHA-256, format 2 records CRC-32C (cross-checked with
/// PostgreSQL's own backup_manifest when the backup is taken).</summary>
public sealed record BackupFile(string Path, long Size, string? Sha256 = null, [property: System.Text.Json.Serialization.JsonPropertyName("crc32c")] string? Crc32C = null)
{
    /// <summary>Whether a file read back (checksummed by a <see cref="TarCatalog"/> or the same way) is this one.</summary>
    public bool Matches(long size, string? sha256, string crc32C) =>
        size == Size && (Crc32C is not null ? Crc32C == crc32C : Sha256 is not null && Sha256 == sha256);
}
