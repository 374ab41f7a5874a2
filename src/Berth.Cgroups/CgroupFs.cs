using System.Globalization;
using System.Text;
using System.Runtime.InteropServices;
using Berth.Cgroups.Interop;

namespace Berth.Cgroups;

/// <summary>
/// Checked file primitives over cgroupfs: one open/write/close per value, reads into a stack buffer.
/// Each failure names the operation, the path and the errno.
/// </summary>
internal static class CgroupFs
{
    /// <summary>Writes <paramref name="value"/> in a single write(2); returns 0 or the errno.</summary>
    public static int TryWrite(string path, string value)
    {
        var fd = TryOpenForWriting(path, out var openErrno);
        if (fd < 0)
        {
            return openErrno;
        }
        var errno = TryWrite(fd, value);
        Libc.Close(fd);
        return errno;
    }

    /// <summary>Opens a cgroup file for writing (close-on-exec); returns the fd, or -1 with <paramref name="errno"/> set.</summary>
    public static int TryOpenForWriting(string path, out int errno)
    {
        int fd;
        do
        {
            fd = Libc.Open(path, Libc.O_WRONLY | Libc.O_TRUNC | Libc.O_CLOEXEC, 0);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR);
        errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        return fd;
    }

    /// <summary>Writes <paramref name="value"/> to an open cgroup file in a single write(2); returns 0 or the errno.</summary>
    public static unsafe int TryWrite(int fd, string value)
    {
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        Span<byte> buffer = max <= 512 ? stackalloc byte[max] : new byte[max];
        var length = Encoding.UTF8.GetBytes(value, buffer);
        fixed (byte* p = buffer)
        {
            nint written;
            do
            {
                written = Libc.Write(fd, p, length);
            }
            while (written < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR);
            return written < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
    }

    public static void Write(string path, string value, string? context = null)
    {
        var errno = TryWrite(path, value);
        if (errno != 0)
        {
            throw new CgroupIOException("write", path, errno, context);
        }
    }

    public static void Write(string path, long value, string? context = null) =>
        Write(path, value.ToString(CultureInfo.InvariantCulture), context);

    /// <summary>Reads a whole (small, virtual) file; returns null with <paramref name="errno"/> set when it cannot.</summary>
    public static unsafe string? TryRead(string path, out int errno)
    {
        int fd;
        do
        {
            fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR);
        if (fd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }

        try
        {
            byte[]? big = null;
            var total = 0;
            Span<byte> stack = stackalloc byte[4096];
            while (true)
            {
                var buffer = big is null ? stack : big.AsSpan();
                if (total == buffer.Length)
                {
                    var bigger = new byte[buffer.Length * 2];
                    buffer.CopyTo(bigger);
                    big = bigger;
                    buffer = big;
                }
                nint n;
                fixed (byte* p = buffer)
                {
                    n = Libc.Read(fd, p + total, buffer.Length - total);
                }
                if (n < 0)
                {
                    var e = Marshal.GetLastPInvokeError();
                    if (e == Libc.EINTR)
                    {
                        continue;
                    }
                    errno = e;
                    return null;
                }
                if (n == 0)
                {
                    errno = 0;
                    return Encoding.UTF8.GetString((big is null ? stack : big.AsSpan())[..total]);
                }
                total += (int)n;
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    public static string Read(string path)
    {
        var text = TryRead(path, out var errno);
        return text ?? throw new CgroupIOException("read", path, errno);
    }

    /// <summary>Reads a single-number file; "max" reads as -1.</summary>
    public static long ReadLong(string path)
    {
        var text = Read(path).AsSpan().Trim();
        return ParseValue(text, path);
    }

    /// <summary>Like <see cref="ReadLong"/> but null when the file does not exist (a controller or kernel without it).</summary>
    public static long? TryReadLong(string path)
    {
        var text = TryRead(path, out var errno);
        if (text is null)
        {
            return errno is Libc.ENOENT or Libc.ENODEV or Libc.EOPNOTSUPP ? null : throw new CgroupIOException("read", path, errno);
        }
        return ParseValue(text.AsSpan().Trim(), path);
    }

    /// <summary>Finds "key value" in a flat keyed file (memory.stat, cpu.stat, memory.events, memory.oom_control).</summary>
    public static long? KeyedValue(string text, string key)
    {
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan()[range];
            if (line.Length > key.Length && line.StartsWith(key, StringComparison.Ordinal) && line[key.Length] == ' ')
            {
                return long.TryParse(line[(key.Length + 1)..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
            }
        }
        return null;
    }

    /// <summary>mkdir(2) with 0755; true when it made the directory, false when it already existed.</summary>
    public static bool MakeDirectory(string path)
    {
        if (Libc.Mkdir(path, 0x1ED) == 0)
        {
            return true;
        }
        var errno = Marshal.GetLastPInvokeError();
        return errno == Libc.EEXIST ? false : throw new CgroupIOException("mkdir", path, errno);
    }

    /// <summary>mkdir -p that reports which directories it made, outermost first, so a failure can undo exactly them.</summary>
    public static void MakeDirectories(string path, List<string> created)
    {
        if (Libc.Mkdir(path, 0x1ED) == 0)
        {
            created.Add(path);
            return;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (errno == Libc.EEXIST)
        {
            return;
        }
        if (errno != Libc.ENOENT)
        {
            throw new CgroupIOException("mkdir", path, errno);
        }
        var parent = Path.GetDirectoryName(path);
        if (string.IsNullOrEmpty(parent) || parent == path)
        {
            throw new CgroupIOException("mkdir", path, errno);
        }
        MakeDirectories(parent, created);
        if (Libc.Mkdir(path, 0x1ED) == 0)
        {
            created.Add(path);
            return;
        }
        errno = Marshal.GetLastPInvokeError();
        if (errno != Libc.EEXIST)
        {
            throw new CgroupIOException("mkdir", path, errno);
        }
    }

    /// <summary>rmdir(2); returns 0 (also when already gone) or the errno.</summary>
    public static int TryRemoveDirectory(string path)
    {
        if (Libc.Rmdir(path) == 0)
        {
            return 0;
        }
        var errno = Marshal.GetLastPInvokeError();
        return errno == Libc.ENOENT ? 0 : errno;
    }

    /// <summary>The pids in a cgroup.procs (or tasks) file.</summary>
    public static void ReadPids(string procsFile, List<int> into)
    {
        var text = TryRead(procsFile, out var errno);
        if (text is null)
        {
            if (errno == Libc.ENOENT)
            {
                return;
            }
            throw new CgroupIOException("read", procsFile, errno);
        }
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan()[range].Trim();
            if (line.Length > 0 && int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                into.Add(pid);
            }
        }
    }

    private static long ParseValue(ReadOnlySpan<char> text, string path)
    {
        if (text.SequenceEqual("max"))
        {
            return -1;
        }
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }
        // v1 "unlimited" values are near ulong.MaxValue.
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return long.MaxValue;
        }
        throw new Berth.Core.BerthException(Berth.Core.ErrorCode.Internal, $"read {path}: unexpected content '{text}' (expected a number)");
    }
}
