using System.Runtime.InteropServices;
using System.Text;
using Berth.Linux.Interop;

namespace Berth.Linux;

/// <summary>Checked wrappers over the system calls: each failure throws a <see cref="LinuxSyscallException"/> naming the call and its target.</summary>
public static unsafe class Sys
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int MNT_DETACH = 2;
    public const int WNOHANG = 1;

    private const long SysPivotRoot = 155;
    private const long SysPidfdOpen = 434;
    private const long SysPidfdSendSignal = 424;

    public static void Mount(string? source, string target, string? fsType, MountFlags flags, string? data)
    {
        if (Libc.mount(source, target, fsType, (ulong)flags, data) != 0)
        {
            throw new LinuxSyscallException("mount", target, Marshal.GetLastPInvokeError());
        }
    }

    public static void Unmount(string target, int flags) => LinuxSyscallException.Check(Libc.umount2(target, flags), "umount", target);

    public static int TryUnmount(string target, int flags) => Libc.umount2(target, flags) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static void PivotRoot(string newRoot, string putOld) =>
        LinuxSyscallException.Check(SyscallStrings(SysPivotRoot, newRoot, putOld), "pivot_root", newRoot);

    private static long SyscallStrings(long nr, string a, string b)
    {
        var ab = Encoding.UTF8.GetBytes(a + "\0");
        var bb = Encoding.UTF8.GetBytes(b + "\0");
        fixed (byte* pa = ab)
        fixed (byte* pb = bb)
        {
            return Libc.syscall(nr, (long)pa, (long)pb, 0, 0, 0, 0);
        }
    }

    public static void Unshare(NamespaceFlags flags) => LinuxSyscallException.Check(Libc.unshare((int)flags), "unshare", flags.ToString());

    public static void SetNs(int fd, NamespaceFlags type, string what) => LinuxSyscallException.Check(Libc.setns(fd, (int)type), "setns", what);

    public static void SetHostname(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = bytes)
        {
            LinuxSyscallException.Check(Libc.sethostname(p, (nuint)bytes.Length), "sethostname", name);
        }
    }

    public static void SetDomainname(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = bytes)
        {
            LinuxSyscallException.Check(Libc.setdomainname(p, (nuint)bytes.Length), "setdomainname", name);
        }
    }

    /// <summary>mkdir(2); returns 0 or the errno (EEXIST when it already exists).</summary>
    public static int TryMkdir(string path, uint mode) => Libc.mkdir(path, mode) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>access(2) with the real ids; 0 or the errno.</summary>
    public static int Access(string path, int mode) => Libc.access(path, mode) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static void Chdir(string path) => LinuxSyscallException.Check(Libc.chdir(path), "chdir", path);

    public static void FChdir(int fd, string what) => LinuxSyscallException.Check(Libc.fchdir(fd), "fchdir", what);

    public static void Chroot(string path) => LinuxSyscallException.Check(Libc.chroot(path), "chroot", path);

    public static void Mknod(string path, uint mode, ulong dev) => LinuxSyscallException.Check(Libc.mknod(path, mode, dev), "mknod", path);

    public static int TryMknod(string path, uint mode, ulong dev) => Libc.mknod(path, mode, dev) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static ulong MakeDev(long major, long minor) =>
        (ulong)(((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xffL) << 12) | ((major & ~0xfffL) << 32));

    public static void Mkfifo(string path, uint mode) => LinuxSyscallException.Check(Libc.mkfifo(path, mode), "mkfifo", path);

    public static void Chown(string path, uint uid, uint gid) => LinuxSyscallException.Check(Libc.chown(path, uid, gid), "chown", path);

    public static void Chmod(string path, uint mode) => LinuxSyscallException.Check(Libc.chmod(path, mode), "chmod", path);

    public static void Symlink(string target, string linkPath) => LinuxSyscallException.Check(Libc.symlink(target, linkPath), "symlink", linkPath);

    public static int Open(string path, int flags, uint mode = 0) => LinuxSyscallException.Check(Libc.open(path, flags | O_CLOEXEC, mode), "open", path);

    /// <summary>Opens without O_CLOEXEC, so the descriptor survives into a spawned child.</summary>
    public static int OpenInheritable(string path, int flags, uint mode = 0) => LinuxSyscallException.Check(Libc.open(path, flags, mode), "open", path);

    public static int TryOpen(string path, int flags, uint mode = 0)
    {
        var fd = Libc.open(path, flags | O_CLOEXEC, mode);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    public static void Close(int fd) => Libc.close(fd);

    public static int Read(int fd, Span<byte> buffer)
    {
        var n = Descriptors.TryRead(fd, buffer);
        return n >= 0 ? n : throw new LinuxSyscallException("read", "fd " + fd, -n);
    }

    public static void WriteAll(int fd, ReadOnlySpan<byte> data, string what)
    {
        fixed (byte* p = data)
        {
            var off = 0;
            while (off < data.Length)
            {
                var n = Libc.write(fd, p + off, (nuint)(data.Length - off));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }
                    throw new LinuxSyscallException("write", what, errno);
                }
                off += (int)n;
            }
        }
    }

    /// <summary>Writes a small control file (cgroup, /proc/sys, oom_score_adj) in one write call.</summary>
    public static void WriteFile(string path, string value)
    {
        var fd = Libc.open(path, O_WRONLY | O_CLOEXEC | O_TRUNC, 0);
        if (fd < 0)
        {
            throw new LinuxSyscallException("open", path, Marshal.GetLastPInvokeError());
        }
        try
        {
            WriteAll(fd, Encoding.UTF8.GetBytes(value), path);
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>A pipe whose ends are inheritable unless <paramref name="cloexec"/>.</summary>
    public static (int Read, int Write) Pipe(bool cloexec)
    {
        var fds = stackalloc int[2];
        LinuxSyscallException.Check(Libc.pipe2(fds, cloexec ? O_CLOEXEC : 0), "pipe2");
        return (fds[0], fds[1]);
    }

    public static void SetCloexec(int fd, bool on) => LinuxSyscallException.Check(Libc.fcntl(fd, F_SETFD, on ? 1 : 0), "fcntl", "fd " + fd);

    public static void Dup2(int oldFd, int newFd) => LinuxSyscallException.Check(Libc.dup2(oldFd, newFd), "dup2", "fd " + oldFd);

    public static int Kill(int pid, int signal) => Libc.kill(pid, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static bool IsAlive(int pid) => pid > 0 && (Libc.kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == Errno.EPERM);

    /// <summary>Waits for a child; returns the raw wait status, or -1 when it is not our child (ECHILD).</summary>
    public static int WaitPid(int pid, bool noHang, out int reaped)
    {
        int status;
        while (true)
        {
            var r = Libc.waitpid(pid, &status, noHang ? WNOHANG : 0);
            if (r >= 0)
            {
                reaped = r;
                return r == 0 ? 0 : status;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR)
            {
                continue;
            }
            if (errno == Errno.ECHILD)
            {
                reaped = -1;
                return -1;
            }
            throw new LinuxSyscallException("waitpid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), errno);
        }
    }

    /// <summary>Converts a wait status into a shell-style exit code (128 + signal for a killed process).</summary>
    public static int ExitCodeOf(int status) => (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);

    public static int GetPid() => Libc.getpid();

    public static void SetSid() => LinuxSyscallException.Check(Libc.setsid(), "setsid");

    public static int Prctl(int option, ulong a2, ulong a3 = 0, ulong a4 = 0, ulong a5 = 0) => Libc.prctl(option, a2, a3, a4, a5);

    public static void CheckedPrctl(string what, int option, ulong a2, ulong a3 = 0, ulong a4 = 0, ulong a5 = 0) =>
        LinuxSyscallException.Check(Libc.prctl(option, a2, a3, a4, a5), "prctl", what);

    public static void SetGroups(ReadOnlySpan<uint> groups)
    {
        fixed (uint* p = groups)
        {
            LinuxSyscallException.Check(Libc.setgroups((nuint)groups.Length, p), "setgroups");
        }
    }

    /// <summary>setresuid/setresgid as raw syscalls: they change only the calling thread's credentials, as execve then keeps.</summary>
    public static void SetResUid(uint uid) => LinuxSyscallException.Check(Libc.syscall(117, uid, uid, uid, 0, 0, 0), "setresuid", uid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static void SetResGid(uint gid) => LinuxSyscallException.Check(Libc.syscall(119, gid, gid, gid, 0, 0, 0), "setresgid", gid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>setgroups as a raw syscall, for the calling thread only.</summary>
    public static void SetGroupsThread(ReadOnlySpan<uint> groups)
    {
        fixed (uint* p = groups)
        {
            LinuxSyscallException.Check(Libc.syscall(116, groups.Length, (long)p, 0, 0, 0, 0), "setgroups");
        }
    }

    public static void SetRlimit(int resource, ulong soft, ulong hard, string name)
    {
        var lim = stackalloc ulong[2];
        lim[0] = soft;
        lim[1] = hard;
        LinuxSyscallException.Check(Libc.prlimit(0, resource, lim, null), "prlimit", name);
    }

    public static (ulong Soft, ulong Hard) GetRlimit(int resource)
    {
        var lim = stackalloc ulong[2];
        LinuxSyscallException.Check(Libc.prlimit(0, resource, null, lim), "prlimit");
        return (lim[0], lim[1]);
    }

    public static uint Umask(uint mask) => Libc.umask(mask);

    public static int PidfdOpen(int pid) => (int)Libc.syscall(SysPidfdOpen, pid, 0, 0, 0, 0, 0);

    public static int PidfdSendSignal(int pidfd, int signal) =>
        Libc.syscall(SysPidfdSendSignal, pidfd, signal, 0, 0, 0, 0) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static long RawSyscall(long nr, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0) =>
        Libc.syscall(nr, a1, a2, a3, a4, a5, a6);

    public static int Ioctl(int fd, ulong request, void* arg) => Libc.ioctl(fd, request, arg);
}
