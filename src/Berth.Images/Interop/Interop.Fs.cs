using System.Runtime.InteropServices;

namespace Berth.Images.Interop;

// NOTE: P/Invoke belongs in Berth.Linux (one place for syscalls). It lives here for now because Berth.Linux was
// being reshaped when the layer code was written; move these declarations to Berth.Linux/Interop and reference
// them from there when that settles. Nothing outside Berth.Images uses them.

/// <summary>The *at() family and openat2 as the layer code needs them: every path resolved inside a root fd.</summary>
internal static unsafe partial class Fs
{
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int AT_EMPTY_PATH = 0x1000;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;

    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    public const ulong RESOLVE_IN_ROOT = 0x10;

    public const uint S_IFMT = 0xF000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFIFO = 0x1000;

    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int ENODATA = 61;
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ERANGE = 34;
    public const int ENOSYS = 38;
    public const int EXDEV = 18;
    public const int ELOOP = 40;

    private const long SYS_openat2 = 437;
    private const uint STATX_BASIC_STATS = 0x7ff;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    /// <summary>The fields of struct statx the layer code reads (the struct is 256 bytes and arch-independent).</summary>
    public readonly record struct StatInfo(uint Mode, uint Uid, uint Gid, uint Nlink, ulong Ino, ulong Size, uint RdevMajor, uint RdevMinor, uint DevMajor, uint DevMinor, long MtimeSec, uint MtimeNsec)
    {
        public uint Type => Mode & S_IFMT;

        public bool IsDirectory => Type == S_IFDIR;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdirat(int dirfd, string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlinkat(int dirfd, string path, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int symlinkat(string target, int dirfd, string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mknodat(int dirfd, string path, uint mode, ulong dev);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fchownat(int dirfd, string path, uint owner, uint group, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fchmodat(int dirfd, string path, uint mode, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int utimensat(int dirfd, string path, Timespec* times, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlinkat(int dirfd, string path, byte* buffer, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint llistxattr(string path, byte* list, nuint size);

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>openat2(dirfd, path, how) with the path resolved as if dirfd were "/" (symlinks and ".." cannot leave it).</summary>
    public static int OpenInRoot(int rootFd, string path, int flags, ulong resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var how = new OpenHow { Flags = (ulong)(flags | O_CLOEXEC), Mode = 0, Resolve = resolve };
        fixed (byte* p = bytes)
        {
            while (true)
            {
                var fd = syscall(SYS_openat2, rootFd, p, &how, (nuint)sizeof(OpenHow));
                if (fd >= 0)
                {
                    return (int)fd;
                }
                var errno = Errno;
                if (errno is not (EAGAIN or EINTR))
                {
                    Marshal.SetLastPInvokeError(errno);
                    return -1;
                }
            }
        }
    }

    public static bool TryStat(int dirfd, string path, out StatInfo info, bool followFinal = false)
    {
        var buffer = stackalloc byte[256];
        var flags = followFinal ? 0 : AT_SYMLINK_NOFOLLOW;
        if (path.Length == 0)
        {
            flags |= AT_EMPTY_PATH;
        }
        if (statx(dirfd, path, flags, STATX_BASIC_STATS, buffer) != 0)
        {
            info = default;
            return false;
        }
        info = new StatInfo(
            Mode: *(ushort*)(buffer + 28),
            Uid: *(uint*)(buffer + 20),
            Gid: *(uint*)(buffer + 24),
            Nlink: *(uint*)(buffer + 16),
            Ino: *(ulong*)(buffer + 32),
            Size: *(ulong*)(buffer + 40),
            RdevMajor: *(uint*)(buffer + 128),
            RdevMinor: *(uint*)(buffer + 132),
            DevMajor: *(uint*)(buffer + 136),
            DevMinor: *(uint*)(buffer + 140),
            MtimeSec: *(long*)(buffer + 112),
            MtimeNsec: *(uint*)(buffer + 120));
        return true;
    }

    public static int SetTimes(int dirfd, string path, DateTimeOffset atime, DateTimeOffset mtime, int flags)
    {
        var times = stackalloc Timespec[2];
        times[0] = ToTimespec(atime);
        times[1] = ToTimespec(mtime);
        return utimensat(dirfd, path, times, flags);
    }

    private static Timespec ToTimespec(DateTimeOffset t)
    {
        var ticks = t.UtcTicks - DateTime.UnixEpoch.Ticks;
        var sec = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rem);
        if (rem < 0)
        {
            sec -= 1;
            rem += TimeSpan.TicksPerSecond;
        }
        return new Timespec { Sec = sec, Nsec = rem * 100 };
    }

    public static string? ReadLink(int dirfd, string path)
    {
        var buffer = stackalloc byte[4096];
        var n = readlinkat(dirfd, path, buffer, 4096);
        return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, (int)n);
    }

    public static int SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            return lsetxattr(path, name, p, (nuint)value.Length, 0);
        }
    }

    /// <summary>Every extended attribute of a path (not following a final symlink); empty when none or unsupported.</summary>
    public static List<(string Name, byte[] Value)> ListXattrs(string path)
    {
        var result = new List<(string, byte[])>();
        var size = llistxattr(path, null, 0);
        if (size <= 0)
        {
            return result;
        }
        var list = new byte[size + 256];
        fixed (byte* p = list)
        {
            size = llistxattr(path, p, (nuint)list.Length);
        }
        if (size <= 0)
        {
            return result;
        }
        var start = 0;
        for (var i = 0; i < size; i++)
        {
            if (list[i] != 0)
            {
                continue;
            }
            var name = System.Text.Encoding.UTF8.GetString(list, start, i - start);
            start = i + 1;
            var value = GetXattr(path, name);
            if (value is not null)
            {
                result.Add((name, value));
            }
        }
        return result;
    }

    public static byte[]? GetXattr(string path, string name)
    {
        var size = lgetxattr(path, name, null, 0);
        if (size < 0)
        {
            return null;
        }
        var value = new byte[size];
        fixed (byte* p = value)
        {
            size = lgetxattr(path, name, p, (nuint)value.Length);
        }
        return size < 0 ? null : value[..(int)size];
    }

    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    /// <summary>"call path: ENAME (strerror)" as every syscall error in Berth reads.</summary>
    public static IOException Error(string call, string path, int errno) =>
        new($"{call} {path}: {ErrnoName(errno)} ({Marshal.GetPInvokeErrorMessage(errno)})", errno);

    private static string ErrnoName(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        13 => "EACCES",
        17 => "EEXIST",
        18 => "EXDEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        28 => "ENOSPC",
        30 => "EROFS",
        36 => "ENAMETOOLONG",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        61 => "ENODATA",
        95 => "EOPNOTSUPP",
        _ => "errno " + errno,
    };
}
