using System.Runtime.InteropServices;

namespace Berth.Linux.Interop;

/// <summary>The libc entry points Berth calls. Every other file goes through the checked wrappers in <see cref="Sys"/>.</summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int umount2(string target, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int unshare(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setns(int fd, int nstype);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int sethostname(byte* name, nuint len);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setdomainname(byte* name, nuint len);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chdir(string path);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int fchdir(int fd);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chroot(string path);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int mknod(string path, uint mode, ulong dev);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int mkfifo(string path, uint mode);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chown(string path, uint uid, uint gid);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chmod(string path, uint mode);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int symlink(string target, string linkpath);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int open(string path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint write(int fd, byte* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int pipe2(int* fds, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int dup2(int oldfd, int newfd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int dup3(int oldfd, int newfd, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int ioctl(int fd, ulong request, void* arg);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int kill(int pid, int sig);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int waitpid(int pid, int* status, int options);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int getpid();

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setsid();

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setgroups(nuint size, uint* list);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setrlimit(int resource, ulong* rlim);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int prlimit(int pid, int resource, ulong* newLimit, ulong* oldLimit);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial uint umask(uint mask);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int execve(byte* path, byte** argv, byte** envp);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int connect(int fd, byte* addr, int len);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint sendmsg(int fd, void* msg, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint recvmsg(int fd, void* msg, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_openpt(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int grantpt(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int unlockpt(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int ptsname_r(int fd, byte* buf, nuint len);
}
