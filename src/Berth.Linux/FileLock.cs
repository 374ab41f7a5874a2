using System.Runtime.InteropServices;
using Berth.Linux.Interop;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

/// <summary>
/// An exclusive flock(2) on a file, held until disposed. The kernel drops it when the process dies, so a crash
/// never leaves a store locked. Waiting callers block (unlike FileShare.None, which fails at once).
/// </summary>
public sealed class FileLock : IDisposable
{
    private const int LockEx = 2;
    private const int LockUn = 8;
    private readonly SafeFileHandle handle;

    private FileLock(SafeFileHandle handle) => this.handle = handle;

    /// <summary>Opens (creating) <paramref name="path"/> and blocks until the exclusive lock is held.</summary>
    public static FileLock Acquire(string path)
    {
        var fd = LinuxSyscallException.Check(Libc.open(path, Sys.O_RDWR | Sys.O_CREAT | Sys.O_CLOEXEC, 0x1a4), "open", path);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        while (Libc.flock(fd, LockEx) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
            {
                handle.Dispose();
                throw new LinuxSyscallException("flock", path, errno);
            }
        }
        return new FileLock(handle);
    }

    public void Dispose()
    {
        if (!handle.IsClosed)
        {
            _ = Libc.flock((int)handle.DangerousGetHandle(), LockUn);
            handle.Dispose();
        }
    }
}
