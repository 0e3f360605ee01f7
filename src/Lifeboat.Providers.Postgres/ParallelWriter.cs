using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace Lifeboat.Providers.Postgres;

/// <summary>
/// Writes the files a restore unpacks on several threads (positional writes), while one thread parses the tar stream
/// and checksums it: writing a 1 GB data directory into the page cache took 9-10 s on one thread of the benchmark
/// VM, where pgBackRest writes with two processes. Bytes are not copied: a write refers to its slice of the decompressed
/// chunk (<see cref="Chunk"/>), which goes back to a bounded pool once every write of it is done.
/// </summary>
internal sealed class ParallelWriter
{
    private readonly Channel<(Target File, long Offset, Chunk Chunk, int Start, int Count)> _jobs =
        Channel.CreateUnbounded<(Target, long, Chunk, int, int)>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly ConcurrentBag<byte[]> _free = [];
    private readonly SemaphoreSlim _chunks;
    private readonly int _chunkSize;
    private readonly Task[] _workers;
    private Exception? _failure;

    public ParallelWriter(int workers, int chunks, int chunkSize)
    {
        _chunks = new SemaphoreSlim(chunks);
        _chunkSize = chunkSize;
        _workers = Enumerable.Range(0, workers).Select(_ => Task.Run(WorkAsync)).ToArray();
    }

    /// <summary>A decompressed chunk; released by its reader and by each write that refers to it.</summary>
    public sealed class Chunk(ParallelWriter owner, byte[] data)
    {
        private int _refs = 1;
        public byte[] Data => data;
        internal void AddRef() => Interlocked.Increment(ref _refs);
        public void Release()
        {
            if (Interlocked.Decrement(ref _refs) != 0) return;
            if (data.Length == owner._chunkSize) owner._free.Add(data);
            owner._chunks.Release();
        }
    }

    /// <summary>A file being written; closed once its entry ended and its last write is done.</summary>
    public sealed class Target(SafeFileHandle handle)
    {
        private int _refs = 1;
        internal long Next;
        internal SafeFileHandle Handle => handle;
        internal void AddRef() => Interlocked.Increment(ref _refs);
        public void Release() { if (Interlocked.Decrement(ref _refs) == 0) handle.Dispose(); }
    }

    /// <summary>A buffer for a chunk of <paramref name="size"/> bytes; waits while the pool's chunks are all in use.</summary>
    public async Task<Chunk> RentAsync(long size, CancellationToken ct)
    {
        await _chunks.WaitAsync(ct).ConfigureAwait(false);
        if (size > _chunkSize) return new Chunk(this, GC.AllocateUninitializedArray<byte>(checked((int)size)));
        return new Chunk(this, _free.TryTake(out var b) ? b : GC.AllocateUninitializedArray<byte>(_chunkSize));
    }

    public Target Create(string path) => new(File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None));

    /// <summary>Queues the next <paramref name="count"/> bytes of <paramref name="file"/>, taken from
    /// <paramref name="chunk"/> at <paramref name="start"/>.</summary>
    public void Append(Target file, Chunk chunk, int start, int count)
    {
        if (_failure is { } f) throw new IOException(f.Message, f);
        file.AddRef();
        chunk.AddRef();
        _jobs.Writer.TryWrite((file, file.Next, chunk, start, count));
        file.Next += count;
    }

    private async Task WorkAsync()
    {
        await foreach (var (file, offset, chunk, start, count) in _jobs.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                if (_failure is null) RandomAccess.Write(file.Handle, chunk.Data.AsSpan(start, count), offset);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            finally
            {
                file.Release();
                chunk.Release();
            }
        }
    }

    /// <summary>Waits for every queued write; throws the first write error.</summary>
    public async Task CompleteAsync()
    {
        _jobs.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
        if (_failure is { } f) throw new IOException(f.Message, f);
    }
}
