using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Lifeboat.Core.Storage;

/// <summary>What a directory entry is, as lstat sees it (a link is never followed).</summary>
internal enum EntryKind { Missing, File, Directory, Link, Other }

/// <summary>An entry's type, size and modification time (the ticks <see cref="FileInfo.LastWriteTimeUtc"/> reports).</summary>
internal readonly record struct EntryStat(EntryKind Kind, long Size, long MtimeTicks, string What)
{
    public static readonly EntryStat Missing = new(EntryKind.Missing, 0, 0, "missing");
}

/// <summary>Why a file-system call failed, in the terms the folder store reports.</summary>
internal enum FsError { NotFound, NotADirectory, IsALink, IsADirectory, Exists, NameTooLong, AccessDenied, NotEmpty, Transient, Other }

internal sealed class FsException(FsError error, string message) : IOException(message)
{
    public FsError Error { get; } = error;

    /// <summary>errno values as Linux (x64, arm64 and the other .NET targets) defines them.</summary>
    public static FsError FromErrno(int errno) => errno switch
    {
        2 => FsError.NotFound,            // ENOENT
        20 => FsError.NotADirectory,      // ENOTDIR
        40 => FsError.IsALink,            // ELOOP (O_NOFOLLOW met a link)
        21 => FsError.IsADirectory,       // EISDIR
        17 => FsError.Exists,             // EEXIST
        36 => FsError.NameTooLong,        // ENAMETOOLONG
        1 or 13 or 30 => FsError.AccessDenied, // EPERM, EACCES, EROFS
        39 => FsError.NotEmpty,           // ENOTEMPTY
        // EIO, EINTR, EAGAIN, EBUSY, ENFILE, EMFILE, ENOSPC, EDQUOT, ESTALE, ETIMEDOUT: retrying may help.
        5 or 4 or 11 or 16 or 23 or 24 or 28 or 122 or 116 or 110 => FsError.Transient,
        _ => FsError.Other,
    };
}

/// <summary>
/// An open directory of a folder store. Every entry is reached from the store's root one name at a time, and no
/// symbolic link is ever followed below the root: on Linux (64-bit) each directory is an open descriptor and every
/// call is relative to it (<c>openat</c>/<c>mkdirat</c>/<c>renameat</c>/<c>unlinkat</c> with <c>O_NOFOLLOW</c>), so
/// a link planted or swapped in anywhere below the root is refused, with no window between a check and its use;
/// files are opened with <c>O_NONBLOCK</c> and checked to be regular files, so a FIFO or a device never blocks.
/// Elsewhere (other systems, 32-bit) <see cref="PathDir"/> checks each name with lstat before using its path: links
/// are refused the same way, but a link swapped in between the check and the use is not detected, and a FIFO is
/// not told from a file.
/// </summary>
internal abstract class FolderDir : IDisposable
{
    /// <summary>The directory's path (messages, and listings, which walk by path: what they find is then opened here).</summary>
    public abstract string Path { get; }

    /// <summary>Native (descriptor-based) calls are used: Linux, 64-bit.</summary>
    public static bool NativeSupported { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    /// <summary>Opens the store's root (links in its own path are followed: the root may be a link); null when it is missing.</summary>
    public static FolderDir? OpenRoot(string path, bool native) => native ? FdDir.OpenRoot(path) : PathDir.OpenRoot(path);

    /// <summary>The sub-folder <paramref name="name"/>, created when missing and <paramref name="create"/>; null when missing.
    /// Throws <see cref="FsException"/> (<see cref="FsError.IsALink"/>, <see cref="FsError.NotADirectory"/>, ...) otherwise.</summary>
    public abstract FolderDir? Sub(string name, bool create);

    /// <summary>The entry <paramref name="name"/> as lstat sees it.</summary>
    public abstract EntryStat Stat(string name);

    /// <summary>Opens a regular file for reading without following a link or blocking on a FIFO. Null (with what the
    /// entry is) when it is missing or not a regular file; the stat is the open file's.</summary>
    public abstract (SafeFileHandle? Handle, EntryStat Stat) OpenRead(string name);

    /// <summary>Creates a new file (never an existing one, never through a link) for writing.</summary>
    public abstract SafeFileHandle CreateNew(string name);

    /// <summary>Renames <paramref name="name"/> to <paramref name="newName"/> in <paramref name="to"/>, replacing a file
    /// (or link) there; a directory there is <see cref="FsError.IsADirectory"/>.</summary>
    public abstract void MoveTo(string name, FolderDir to, string newName);

    /// <summary>Removes a file or link (never what a link points to); false when there is none (missing, or a directory).</summary>
    public abstract bool Delete(string name);

    /// <summary>Removes an empty sub-folder; false when it is missing, not empty, or not a folder.</summary>
    public abstract bool RemoveEmptyDir(string name);

    /// <summary>Makes renames and creations in this directory durable.</summary>
    public abstract void Fsync();

    public abstract void Dispose();

    /// <summary>Walks down <paramref name="names"/> from this directory. Returns null when a folder is missing (and not
    /// created); throws <see cref="FsException"/> naming the path walked when one is a link or a file.</summary>
    public FolderDir? Walk(ReadOnlySpan<string> names, bool create)
    {
        FolderDir current = this;
        for (var i = 0; i < names.Length; i++)
        {
            FolderDir? next;
            try { next = current.Sub(names[i], create); }
            catch (FsException e)
            {
                if (!ReferenceEquals(current, this)) current.Dispose();
                throw new FsException(e.Error, $"'{string.Join('/', names[..(i + 1)].ToArray())}': {e.Message}");
            }
            if (!ReferenceEquals(current, this)) current.Dispose();
            if (next is null) return null;
            current = next;
        }
        return ReferenceEquals(current, this) ? new Borrowed(this) : current;
    }

    /// <summary>This directory under another owner: disposing it leaves the original open.</summary>
    private sealed class Borrowed(FolderDir inner) : FolderDir
    {
        public override string Path => inner.Path;
        public override FolderDir? Sub(string name, bool create) => inner.Sub(name, create);
        public override EntryStat Stat(string name) => inner.Stat(name);
        public override (SafeFileHandle?, EntryStat) OpenRead(string name) => inner.OpenRead(name);
        public override SafeFileHandle CreateNew(string name) => inner.CreateNew(name);
        public override void MoveTo(string name, FolderDir to, string newName) => inner.MoveTo(name, to is Borrowed b ? b.Inner : to, newName);
        public override bool Delete(string name) => inner.Delete(name);
        public override bool RemoveEmptyDir(string name) => inner.RemoveEmptyDir(name);
        public override void Fsync() => inner.Fsync();
        public override void Dispose() { }
        public FolderDir Inner => inner;
    }

    internal static FolderDir Unwrap(FolderDir d) => d is Borrowed b ? Unwrap(b.Inner) : d;

    protected static string Describe(int mode) => (mode & 0xF000) switch
    {
        0x8000 => "file",
        0x4000 => "folder",
        0xA000 => "symbolic link",
        0x1000 => "FIFO",
        0xC000 => "socket",
        0x2000 => "character device",
        0x6000 => "block device",
        _ => "special file",
    };

    protected static EntryKind KindOf(int mode) => (mode & 0xF000) switch
    {
        0x8000 => EntryKind.File,
        0x4000 => EntryKind.Directory,
        0xA000 => EntryKind.Link,
        _ => EntryKind.Other,
    };
}

/// <summary>Linux: a directory descriptor; every call is relative to it and never follows a link.</summary>
internal sealed class FdDir : FolderDir
{
    private readonly SafeFileHandle _fd;

    private FdDir(SafeFileHandle fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    public override string Path { get; }

    private int Fd => (int)_fd.DangerousGetHandle();

    // Flags of the generic Linux ABI; arm, arm64 and powerpc number O_DIRECTORY and O_NOFOLLOW differently.
    private static readonly bool ArmLayout = RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 or Architecture.Ppc64le;
    private const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    private static readonly int O_DIRECTORY = ArmLayout ? 0x4000 : 0x10000;
    private static readonly int O_NOFOLLOW = ArmLayout ? 0x8000 : 0x20000;
    private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7ff;
    private const int EINTR = 4, ENOENT = 2, EEXIST = 17, EISDIR = 21, ENOTDIR = 20, ENOTEMPTY = 39;

    public static FdDir? OpenRoot(string path)
    {
        var fd = Retry(() => openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT) return null;
            throw Error(errno, path);
        }
        return new FdDir(new SafeFileHandle(fd, ownsHandle: true), path);
    }

    public override FolderDir? Sub(string name, bool create)
    {
        var path = System.IO.Path.Combine(Path, name);
        while (true)
        {
            var fd = Retry(() => openat(Fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0));
            if (fd >= 0) return new FdDir(new SafeFileHandle(fd, ownsHandle: true), path);
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOTDIR || errno == 40 /* ELOOP */)
            {
                // O_DIRECTORY|O_NOFOLLOW on a link gives ENOTDIR or ELOOP depending on the kernel: say which it is.
                var st = Stat(name);
                throw new FsException(st.Kind == EntryKind.Link ? FsError.IsALink : FsError.NotADirectory,
                    st.Kind == EntryKind.Link ? "a symbolic link (not followed)" : $"a {st.What}, not a folder");
            }
            if (errno != ENOENT) throw Error(errno, path);
            if (!create) return null;
            if (mkdirat(Fd, name, 0x1FF /* 0777, less the umask */) != 0)
            {
                errno = Marshal.GetLastPInvokeError();
                if (errno != EEXIST) throw Error(errno, path); // EEXIST: created meanwhile, or in the way: the open says which
            }
            else Fsync(); // the new folder's own entry is durable before anything renamed into it is called so
        }
    }

    public override EntryStat Stat(string name) => StatAt(Fd, name, AT_SYMLINK_NOFOLLOW, System.IO.Path.Combine(Path, name));

    private static EntryStat StatAt(int dirfd, string name, int flags, string path)
    {
        var buf = new byte[256];
        if (Retry(() => statx(dirfd, name, flags, STATX_BASIC_STATS, buf)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) return EntryStat.Missing;
            throw Error(errno, path);
        }
        // struct statx: stx_mode (u16) at 28, stx_size (u64) at 40, stx_mtime { i64 tv_sec; u32 tv_nsec } at 112.
        var mode = MemoryMarshal.Read<ushort>(buf.AsSpan(28));
        var size = MemoryMarshal.Read<long>(buf.AsSpan(40));
        var sec = MemoryMarshal.Read<long>(buf.AsSpan(112));
        var nsec = MemoryMarshal.Read<uint>(buf.AsSpan(120));
        // As .NET computes FileInfo.LastWriteTimeUtc, so sidecars written by either agree.
        var ticks = DateTimeOffset.FromUnixTimeSeconds(sec).AddTicks(nsec / 100).UtcTicks;
        return new EntryStat(KindOf(mode), size, ticks, Describe(mode));
    }

    public override (SafeFileHandle?, EntryStat) OpenRead(string name)
    {
        var path = System.IO.Path.Combine(Path, name);
        // Only a regular file is opened (opening a device can have effects); O_NOFOLLOW and O_NONBLOCK cover an
        // entry swapped for a link or a FIFO after this check, and the open file's own type is checked again.
        var before = Stat(name);
        if (before.Kind != EntryKind.File) return (null, before);
        var fd = Retry(() => openat(Fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0));
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) return (null, EntryStat.Missing);
            if (errno is 40 /* ELOOP */ or 6 /* ENXIO: a socket */ or 95 /* EOPNOTSUPP */) return (null, Stat(name));
            throw Error(errno, path);
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        var st = StatAt(fd, "", AT_EMPTY_PATH, path);
        if (st.Kind != EntryKind.File)
        {
            handle.Dispose();
            return (null, st);
        }
        return (handle, st);
    }

    public override SafeFileHandle CreateNew(string name)
    {
        var fd = Retry(() => openat(Fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x1B6 /* 0666, less the umask */));
        if (fd < 0) throw Error(Marshal.GetLastPInvokeError(), System.IO.Path.Combine(Path, name));
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    public override void MoveTo(string name, FolderDir to, string newName)
    {
        var target = (FdDir)Unwrap(to);
        if (Retry(() => renameat(Fd, name, target.Fd, newName)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST
                ? new FsException(FsError.IsADirectory, $"'{newName}' is a folder")
                : Error(errno, System.IO.Path.Combine(target.Path, newName));
        }
    }

    public override bool Delete(string name)
    {
        if (Retry(() => unlinkat(Fd, name, 0)) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno is ENOENT or ENOTDIR or EISDIR) return false; // EISDIR: a folder, which is not an object
        if (errno == 1 /* EPERM, POSIX's answer for a folder */ && Stat(name).Kind == EntryKind.Directory) return false;
        throw Error(errno, System.IO.Path.Combine(Path, name));
    }

    public override bool RemoveEmptyDir(string name)
    {
        if (Retry(() => unlinkat(Fd, name, AT_REMOVEDIR)) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno is ENOENT or ENOTDIR or ENOTEMPTY or EEXIST) return false;
        throw Error(errno, System.IO.Path.Combine(Path, name));
    }

    public override void Fsync()
    {
        if (fsync(Fd) != 0) throw Error(Marshal.GetLastPInvokeError(), Path);
    }

    public override void Dispose() => _fd.Dispose();

    /// <summary>The stat of an open file.</summary>
    public static EntryStat StatHandle(SafeFileHandle handle, string path) => StatAt((int)handle.DangerousGetHandle(), "", AT_EMPTY_PATH, path);

    private static FsException Error(int errno, string path) =>
        new(FsException.FromErrno(errno), $"{Marshal.GetPInvokeErrorMessage(errno)} ({path})");

    private static int Retry(Func<int> call)
    {
        int r;
        do r = call();
        while (r < 0 && Marshal.GetLastPInvokeError() == EINTR);
        return r;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int openat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mode);
    [DllImport("libc", SetLastError = true)]
    private static extern int mkdirat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);
    [DllImport("libc", SetLastError = true)]
    private static extern int renameat(int olddirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldpath, int newdirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string newpath);
    [DllImport("libc", SetLastError = true)]
    private static extern int unlinkat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buf);
    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);
}

/// <summary>Other systems: paths, each name checked with lstat before it is used (see <see cref="FolderDir"/>).</summary>
internal sealed class PathDir(string path) : FolderDir
{
    public override string Path { get; } = path;

    public static PathDir? OpenRoot(string path) => Directory.Exists(path) ? new PathDir(path) : null;

    private string Full(string name) => System.IO.Path.Combine(Path, name);

    public override FolderDir? Sub(string name, bool create)
    {
        var st = Stat(name);
        switch (st.Kind)
        {
            case EntryKind.Directory: return new PathDir(Full(name));
            case EntryKind.Link: throw new FsException(FsError.IsALink, "a symbolic link (not followed)");
            case EntryKind.Missing when create:
                Directory.CreateDirectory(Full(name));
                return Sub(name, create: false);
            case EntryKind.Missing: return null;
            default: throw new FsException(FsError.NotADirectory, $"a {st.What}, not a folder");
        }
    }

    public override EntryStat Stat(string name)
    {
        FileSystemInfo fi = new FileInfo(Full(name));
        if (!fi.Exists)
        {
            fi = new DirectoryInfo(Full(name));
            if (!fi.Exists) return fi.LinkTarget is not null ? new EntryStat(EntryKind.Link, 0, 0, "symbolic link") : EntryStat.Missing;
        }
        if (fi.LinkTarget is not null) return new EntryStat(EntryKind.Link, 0, 0, "symbolic link");
        return fi is DirectoryInfo
            ? new EntryStat(EntryKind.Directory, 0, 0, "folder")
            : new EntryStat(EntryKind.File, ((FileInfo)fi).Length, fi.LastWriteTimeUtc.Ticks, "file");
    }

    public override (SafeFileHandle?, EntryStat) OpenRead(string name)
    {
        var st = Stat(name);
        if (st.Kind != EntryKind.File) return (null, st);
        try
        {
            var h = File.OpenHandle(Full(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return (h, new EntryStat(EntryKind.File, RandomAccess.GetLength(h), File.GetLastWriteTimeUtc(h).Ticks, "file"));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return (null, EntryStat.Missing); }
    }

    public override SafeFileHandle CreateNew(string name) => File.OpenHandle(Full(name), FileMode.CreateNew, FileAccess.Write);

    public override void MoveTo(string name, FolderDir to, string newName)
    {
        var target = System.IO.Path.Combine(Unwrap(to).Path, newName);
        if (Directory.Exists(target)) throw new FsException(FsError.IsADirectory, $"'{newName}' is a folder");
        File.Move(Full(name), target, overwrite: true);
    }

    public override bool Delete(string name)
    {
        var st = Stat(name);
        if (st.Kind is EntryKind.Missing or EntryKind.Directory) return false;
        File.Delete(Full(name));
        return true;
    }

    public override bool RemoveEmptyDir(string name)
    {
        if (Stat(name).Kind != EntryKind.Directory || Directory.EnumerateFileSystemEntries(Full(name)).Any()) return false;
        try { Directory.Delete(Full(name)); }
        catch (IOException) { return false; } // something was created there meanwhile: the folder stays
        return true;
    }

    public override void Fsync()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = open(Path, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { _ = fsync(fd); }
        finally { _ = close(fd); }
    }

    public override void Dispose() { }

    [DllImport("libc", SetLastError = true)] private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int fsync(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);
}
