using System.Security.Cryptography;

namespace Lifeboat.Core.Replication;

/// <summary>
/// Passes a source stream through while computing the MD5 of the whole content and of each part of a given size,
/// so the copier can recompute both a plain ETag and a multipart ETag (<c>md5(concat(md5(part)))-N</c>)
/// for exactly the bytes it sent, without buffering the object.
/// </summary>
public sealed class HashingStream : Stream
{
    private readonly Stream _inner;
    private readonly long _partSize;
    private readonly IncrementalHash _whole = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly IncrementalHash _part = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly List<byte[]> _partHashes = [];
    private long _inPart;

    /// <param name="partSize">Part size for multipart ETags, or null when only the whole-content MD5 is needed.</param>
    public HashingStream(Stream inner, long? partSize)
    {
        _inner = inner;
        _partSize = partSize ?? long.MaxValue;
        _hashParts = partSize is not null;
    }

    private readonly bool _hashParts;

    public long BytesRead { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Account(buffer.AsSpan(offset, _inner.Read(buffer, offset, count)));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..n]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Account(ReadOnlySpan<byte> data)
    {
        var n = data.Length;
        _whole.AppendData(data);
        while (_hashParts && data.Length > 0)
        {
            var take = (int)Math.Min(data.Length, _partSize - _inPart);
            _part.AppendData(data[..take]);
            _inPart += take;
            data = data[take..];
            if (_inPart == _partSize)
            {
                _partHashes.Add(_part.GetHashAndReset());
                _inPart = 0;
            }
        }
        BytesRead += n;
        return n;
    }

    /// <summary>The MD5 hex of everything read.</summary>
    public string Md5Hex() => Convert.ToHexStringLower(_whole.GetCurrentHash());

    /// <summary>The multipart ETag for the part size given at construction.</summary>
    public string MultipartETag()
    {
        if (!_hashParts) throw new InvalidOperationException("part hashes were not computed (no part size given)");
        var hashes = new List<byte[]>(_partHashes);
        if (_inPart > 0) hashes.Add(_part.GetCurrentHash());
        return MultipartETag(hashes);
    }

    public static string MultipartETag(IReadOnlyList<byte[]> partMd5s)
    {
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        foreach (var h in partMd5s) md5.AppendData(h);
        return $"{Convert.ToHexStringLower(md5.GetHashAndReset())}-{partMd5s.Count}";
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _inner.Length;
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _whole.Dispose();
            _part.Dispose();
        }
        base.Dispose(disposing);
    }
}
