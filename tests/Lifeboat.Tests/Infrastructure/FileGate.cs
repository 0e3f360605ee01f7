using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// A gate on one file of a folder store, for crash tests of copies that involve no network (folder to folder): a Linux
/// write lease (fcntl F_SETLEASE, see fcntl(2) "Leases") held by the test process. Another process's open() of the file
/// blocks until the lease is released by <see cref="Dispose"/> (or until the kernel's lease-break-time passes,
/// /proc/sys/fs/lease-break-time, 45 s by default). Put on a source file the copy must read, it keeps a run of the CLI
/// from finishing however fast the CLI is, so a kill lands while the copy is provably in progress.
/// </summary>
public sealed class FileGate : IDisposable
{
    private const int FSetSig = 10, FSetLease = 1024, FGetLease = 1025, FWrLck = 1, SigUrg = 23;
    private readonly SafeFileHandle _file;

    public FileGate(string path)
    {
        Path = path;
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        // The kernel tells the lease holder of a waiting open with a signal, SIGIO unless set: SIGIO's default action
        // would end the test process. SIGURG's default action is to ignore it (the gate polls F_GETLEASE instead).
        Check(Fcntl(Fd, FSetSig, SigUrg), "F_SETSIG");
        Check(Fcntl(Fd, FSetLease, FWrLck), "F_SETLEASE F_WRLCK");
    }

    public string Path { get; }

    /// <summary>Another process is waiting to open the file: the copy has reached the gate.</summary>
    public bool Reached => !_file.IsClosed && Fcntl(Fd, FGetLease, 0) != FWrLck;

    private int Fd => (int)_file.DangerousGetHandle();

    private void Check(int rc, string what)
    {
        if (rc == -1) throw new Win32Exception(Marshal.GetLastPInvokeError(), $"FileGate: fcntl {what} on {Path}");
    }

    /// <summary>Opens the gate: closing the file releases the lease, and a waiting open() goes on.</summary>
    public void Dispose() => _file.Dispose();

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int cmd, int arg);
}
